/* output_meta.c: gathering prompt / extra_pnginfo into ComfyUI's metadata keys, with
 * non-ASCII characters escaped as json.dumps does (see output_meta.h). */
#include "output_meta.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decode one UTF-8 sequence at s; returns its length, or 1 with U+FFFD if malformed. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (len == 0) {
        *cp = 0xfffd;
        return 1;
    }
    uint32_t v = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v > 0x10ffff ? 0xfffd : v;
    return len;
}

/* JSON text with every non-ASCII character written as \uXXXX (surrogate pairs above
 * U+FFFF). Non-ASCII bytes only occur inside JSON strings, so this keeps the value. */
static char *json_ascii(const char *text)
{
    size_t cap = strlen(text) * 6 + 1, n = 0;   /* 1 byte -> at most one 6-char escape */
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        if (*p < 0x80) {
            out[n++] = (char)*p++;
            continue;
        }
        uint32_t cp;
        p += utf8_decode(p, &cp);
        if (cp > 0xffff) {
            cp -= 0x10000;
            n += (size_t)sprintf(out + n, "\\u%04x\\u%04x", 0xd800 + (cp >> 10),
                                 0xdc00 + (cp & 0x3ff));
        } else {
            n += (size_t)sprintf(out + n, "\\u%04x", cp);
        }
    }
    out[n] = '\0';
    return out;
}

static int add(output_meta *m, const char *key, const char *json, loom_error *err)
{
    if (m->n == OUTPUT_META_MAX_KEYS)
        return loom_errorf(err, LOOM_ERR_INVALID, "extra_pnginfo has more than %d keys",
                           OUTPUT_META_MAX_KEYS - 1);
    m->key[m->n] = strdup(key);
    m->json[m->n] = json_ascii(json);
    m->n++;
    if (!m->key[m->n - 1] || !m->json[m->n - 1])
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    return LOOM_OK;
}

int output_meta_collect(output_meta *m, const char *prompt, const char *extra_pnginfo,
                        loom_error *err)
{
    memset(m, 0, sizeof *m);
    int rc = LOOM_OK;
    if (prompt && prompt[0])
        rc = add(m, "prompt", prompt, err);
    if (rc != LOOM_OK || !extra_pnginfo || !extra_pnginfo[0])
        return rc;
    json_object *extra = json_tokener_parse(extra_pnginfo);
    if (!extra || !json_object_is_type(extra, json_type_object)) {
        json_object_put(extra);
        return loom_errorf(err, LOOM_ERR_INVALID, "extra_pnginfo is not a JSON object");
    }
    json_object_object_foreach(extra, key, value) {
        rc = add(m, key, json_object_to_json_string_ext(
                             value, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                 err);
        if (rc != LOOM_OK)
            break;
    }
    json_object_put(extra);
    return rc;
}

const char *output_meta_get(const output_meta *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->key[i], key))
            return m->json[i];
    return NULL;
}

void output_meta_free(output_meta *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->key[i]);
        free(m->json[i]);
    }
    m->n = 0;
}
