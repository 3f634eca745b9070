/* json_util.c: see json_util.h. */
#include "json_util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* True when the integer literal p[0..n) (optional '-', digits) lies outside
 * [INT64_MIN, UINT64_MAX]. */
static bool integer_out_of_range(const char *p, size_t n)
{
    bool neg = p[0] == '-';
    const char *digits = p + neg;
    size_t nd = n - neg;
    while (nd > 1 && digits[0] == '0') {
        digits++;
        nd--;
    }
    const char *limit = neg ? "9223372036854775808" : "18446744073709551615";
    size_t nl = strlen(limit);
    return nd > nl || (nd == nl && memcmp(digits, limit, nl) > 0);
}

/* json-c saturates an integer literal beyond 64 bits (2^64 and 1e30 written out both read
 * as 2^64-1), which would clamp a too-large seed silently. Such literals are rewritten as
 * decimals ("<digits>.0"), which parse as doubles, so that coercion reports them as too
 * big, as ComfyUI does. Returns a malloc'd copy, or NULL when there is nothing to rewrite. */
static char *widen_big_integers(const char *text, size_t len, size_t *out_len)
{
    char *copy = NULL;
    size_t w = 0;
    bool in_string = false;
    for (size_t i = 0; i < len;) {
        char c = text[i];
        size_t start = i, end = i + 1;
        if (in_string) {
            if (c == '\\' && i + 1 < len)
                end = i + 2;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            /* a whole number token: -? digits (. digits)? ([eE] [+-]? digits)? */
            size_t digits_end = i + (c == '-');
            while (digits_end < len && text[digits_end] >= '0' && text[digits_end] <= '9')
                digits_end++;
            end = digits_end;
            if (end < len && text[end] == '.')
                for (end++; end < len && text[end] >= '0' && text[end] <= '9'; end++) {}
            if (end < len && (text[end] == 'e' || text[end] == 'E')) {
                end++;
                if (end < len && (text[end] == '+' || text[end] == '-'))
                    end++;
                while (end < len && text[end] >= '0' && text[end] <= '9')
                    end++;
            }
            bool integer = end == digits_end && digits_end > start + (c == '-');
            if (integer && integer_out_of_range(text + start, end - start)) {
                if (!copy) {
                    copy = malloc(len + len / 2 + 3);     /* ".0" per literal of 20+ bytes */
                    if (!copy)
                        return NULL;
                    memcpy(copy, text, start);
                    w = start;
                }
                memcpy(copy + w, text + start, end - start);
                w += end - start;
                memcpy(copy + w, ".0", 2);
                w += 2;
                i = end;
                continue;
            }
        }
        if (copy) {
            memcpy(copy + w, text + start, end - start);
            w += end - start;
        }
        i = end;
    }
    *out_len = w;
    return copy;
}

static int parse_json_checked(const char *text, size_t len, const char *what,
                              json_object **out, loom_error *err);

int json_parse_text(const char *text, size_t len, const char *what, json_object **out,
                    loom_error *err)
{
    if (len > LOOM_JSON_MAX_FILE)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: %zu bytes is larger than the %u-byte "
                           "limit for workflow JSON", what, len, LOOM_JSON_MAX_FILE);
    size_t wide_len = 0;
    char *wide = widen_big_integers(text, len, &wide_len);
    int rc = wide ? parse_json_checked(wide, wide_len, what, out, err)
                  : parse_json_checked(text, len, what, out, err);
    free(wide);
    return rc;
}

static int parse_json_checked(const char *text, size_t len, const char *what,
                              json_object **out, loom_error *err)
{
    json_tokener *tok = json_tokener_new_ex(LOOM_JSON_MAX_DEPTH);
    if (!tok)
        return loom_errorf(err, LOOM_ERR_NOMEM, "%s: out of memory", what);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t offset = json_tokener_get_parse_end(tok);
    if (jerr == json_tokener_continue) {
        /* A bare number at the very end is only complete once the tokener sees the end. */
        root = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        offset = len;
    }
    json_tokener_free(tok);
    if (jerr == json_tokener_continue)
        jerr = json_tokener_error_parse_eof;
    if (jerr != json_tokener_success || !root) {
        if (root)
            json_object_put(root);
        /* Report a 1-based line for humans. */
        size_t line = 1;
        for (size_t i = 0; i < offset && i < len; i++)
            line += text[i] == '\n';
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: invalid JSON at line %zu (byte %zu): %s",
                           what, line, offset, json_tokener_error_desc(jerr));
    }
    /* Trailing non-space text after the value is an error too. */
    for (size_t i = offset; i < len; i++) {
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
            json_object_put(root);
            return loom_errorf(err, LOOM_ERR_INVALID,
                               "%s: unexpected text after the JSON value at byte %zu", what, i);
        }
    }
    *out = root;
    return LOOM_OK;
}

int json_parse_file(const char *path, json_object **out, loom_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return loom_errorf(err, errno == ENOENT ? LOOM_ERR_NOT_FOUND : LOOM_ERR_IO,
                           "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return loom_errorf(err, LOOM_ERR_IO, "'%s' is not a regular file", path);
    }
    if ((uint64_t)st.st_size > LOOM_JSON_MAX_FILE) {
        fclose(f);
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s' is %lld bytes, above the %u-byte limit",
                           path, (long long)st.st_size, LOOM_JSON_MAX_FILE);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory reading '%s'", path);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        return loom_errorf(err, LOOM_ERR_IO, "short read on '%s'", path);
    }
    buf[n] = '\0';
    int rc = json_parse_text(buf, n, path, out, err);
    free(buf);
    return rc;
}

json_object *json_get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj && json_object_is_type(obj, json_type_object) &&
        json_object_object_get_ex(obj, key, &v))
        return v;
    return NULL;
}

const char *json_get_str(json_object *obj, const char *key)
{
    json_object *v = json_get(obj, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

bool json_is_int(json_object *v) { return v && json_object_is_type(v, json_type_int); }

json_object *json_copy(json_object *v)
{
    json_object *out = NULL;
    if (!v)
        return NULL;
    if (json_object_deep_copy(v, &out, NULL) != 0)
        return NULL;
    return out;
}
