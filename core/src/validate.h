/* validate.h: turning workflow constants into typed values, shared by validation and
 * execution so both read a constant the same way (ComfyUI's int()/float()/str() rules). */
#ifndef LOOM_VALIDATE_H
#define LOOM_VALIDATE_H

#include <json-c/json.h>

#include "loom/loom.h"

typedef enum coerce_result {
    COERCE_OK,
    COERCE_BAD_TYPE,      /* why says what could not be converted */
    COERCE_TOO_SMALL,
    COERCE_TOO_BIG,
    COERCE_NOT_IN_LIST
} coerce_result;

/* Convert constant v (a `{"__value__": x}` wrapper is unwrapped) for input `in`.
 * choices: the COMBO's current choices (NULL-terminated) or NULL for other types.
 * On COERCE_OK *out is a new value; otherwise why (cap bytes) explains. */
coerce_result coerce_constant(const loom_input *in, json_object *v, char *const *choices,
                              loom_value **out, char *why, size_t cap);
/* coerce_constant with the input's current choices (for COMBOs) looked up under models_dir. */
coerce_result coerce_input(const loom_input *in, json_object *v, const char *models_dir,
                           loom_value **out, char *why, size_t cap);
/* The COMBO's choices right now (fixed list, model folder listing or callback);
 * free with models_list_free. */
char **input_choices(const loom_input *in, const char *models_dir);
/* Socket types are comma-separated sets; they match when they overlap or either is "*". */
bool   socket_types_match(const char *output_type, const char *input_type);

#endif
