/* output_meta.h: the workflow metadata a writer embeds in its files, ComfyUI style.
 *
 * ComfyUI stores the API prompt under the key "prompt" and every key of extra_pnginfo
 * (normally just "workflow") under its own name, each value as json.dumps text. json.dumps
 * escapes every non-ASCII character, which keeps PNG tEXt chunks (Latin-1 only) exact; the
 * texts here are escaped the same way, so they parse back to the same values anywhere.
 * Compiled into both the image and the video plugin.
 */
#ifndef LOOM_OUTPUT_META_H
#define LOOM_OUTPUT_META_H

#include <stddef.h>

#include "loom/error.h"

/* prompt plus the keys of extra_pnginfo; more keys than this are an invalid input. */
#define OUTPUT_META_MAX_KEYS 16

typedef struct output_meta {
    size_t n;
    char  *key[OUTPUT_META_MAX_KEYS];
    char  *json[OUTPUT_META_MAX_KEYS];   /* ASCII-only JSON text */
} output_meta;

/* Collect "prompt" (JSON text; NULL or empty: none) and each key of extra_pnginfo (a JSON
 * object as text; NULL or empty: none). */
int  output_meta_collect(output_meta *m, const char *prompt, const char *extra_pnginfo,
                         loom_error *err);
/* The JSON text for key, or NULL. */
const char *output_meta_get(const output_meta *m, const char *key);
void output_meta_free(output_meta *m);

#endif
