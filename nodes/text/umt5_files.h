/* umt5_files.h: the set of safetensors files one text encoder is stored in, seen as one
 * name -> tensor map: a single file, a sharded checkpoint (model.safetensors.index.json and
 * the shards it names), or a folder holding either. Every shard is memory-mapped; tensors
 * handed out are zero-copy views that keep their mapping alive.
 */
#ifndef LOOM_TEXT_UMT5_FILES_H
#define LOOM_TEXT_UMT5_FILES_H

#include <stddef.h>

#include "loom/error.h"
#include "loom/safetensors.h"

/* Most shards one index may name (the XXL encoder ships in 2-5). */
#define UMT5_MAX_SHARDS 64

typedef struct umt5_files {
    loom_safetensors *shard[UMT5_MAX_SHARDS];
    size_t            n;
    char              path[4096];   /* what was opened, for messages */
} umt5_files;

/* Open path (file, index or folder). A pickle checkpoint gets an error saying how to
 * convert it. */
int          umt5_files_open(const char *path, umt5_files *f, loom_error *err);
void         umt5_files_close(umt5_files *f);
/* A new reference to tensor `name` from whichever shard holds it, or NULL. */
loom_tensor *umt5_files_get(const umt5_files *f, const char *name);
/* Visit every tensor name (stops when fn returns non-zero; returns that value). */
int          umt5_files_each_name(const umt5_files *f, int (*fn)(const char *name, void *user), void *user);

#endif
