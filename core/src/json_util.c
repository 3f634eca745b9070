/* json_util.c: see json_util.h. */
#include "json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int json_parse_text(const char *text, size_t len, const char *what, json_object **out,
                    loom_error *err)
{
    if (len > LOOM_JSON_MAX_FILE)
        return loom_errorf(err, LOOM_ERR_INVALID, "%s: %zu bytes is larger than the %u-byte "
                           "limit for workflow JSON", what, len, LOOM_JSON_MAX_FILE);
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
