/* json_util.h: json-c helpers shared by core: bounded parsing with readable errors,
 * typed getters that tolerate wrong types, and exact number printing. */
#ifndef LOOM_JSON_UTIL_H
#define LOOM_JSON_UTIL_H

#include <json-c/json.h>
#include <stdbool.h>

#include "loom/error.h"

/* Nesting deeper than this is rejected: real workflows nest < 20 levels; the bound keeps
 * a hostile file from exhausting the stack. */
#define LOOM_JSON_MAX_DEPTH 128
/* Workflow files above this size are rejected (the largest real ones are ~1 MiB). */
#define LOOM_JSON_MAX_FILE (64u << 20)

/* Parse text (len bytes) into *out; errors name `what` (a file name) and the position. */
int          json_parse_text(const char *text, size_t len, const char *what, json_object **out,
                             loom_error *err);
int          json_parse_file(const char *path, json_object **out, loom_error *err);
json_object *json_get(json_object *obj, const char *key);   /* NULL unless obj is an object */
const char  *json_get_str(json_object *obj, const char *key);  /* NULL unless a string */
bool         json_is_int(json_object *v);                    /* integer-valued json int */
/* Deep copy (NULL on failure). */
json_object *json_copy(json_object *v);

#endif
