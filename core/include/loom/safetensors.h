/* loom/safetensors.h: read (memory-mapped, zero-copy) and write safetensors files.
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {"key": "value"}}), then the data block the offsets point into.
 * Files are untrusted input: the header is validated completely before any tensor is
 * handed out (sizes, offsets inside the data block, dtype names, shape x dtype size ==
 * byte length, no overlapping tensors, no integer overflow, header size and rank limits,
 * duplicate names), and every error names the file and, where one is involved, the tensor.
 *
 * Tensors returned by loom_safetensors_get are views into the read-only mapping; each holds
 * a reference to the mapping, so they stay valid after loom_safetensors_close. Never write
 * through their data pointer (the pages are mapped read-only). Their data is not
 * necessarily 64-byte aligned.
 */
#ifndef LOOM_SAFETENSORS_H
#define LOOM_SAFETENSORS_H

#include <stddef.h>

#include "loom/error.h"
#include "loom/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest JSON header accepted: the reference implementation's limit (100 MB). */
#define LOOM_SAFETENSORS_MAX_HEADER  100000000u
/* Longest tensor name or metadata key/value accepted, in bytes of UTF-8. */
#define LOOM_SAFETENSORS_MAX_NAME    65536u
/* Deepest JSON nesting accepted while skipping unknown fields. */
#define LOOM_SAFETENSORS_MAX_DEPTH   64

typedef struct loom_safetensors loom_safetensors;

int          loom_safetensors_open(const char *path, loom_safetensors **out, loom_error *err); /* mmap read-only */
/* Parse an in-memory file image (the fuzz target and tests use it). The buffer is not
 * copied: it must outlive the handle and every tensor obtained from it. */
int          loom_safetensors_open_memory(const void *data, size_t size, const char *label,
                                          loom_safetensors **out, loom_error *err);
void         loom_safetensors_close(loom_safetensors *st);   /* NULL ok; tensors obtained stay valid */
size_t       loom_safetensors_count(const loom_safetensors *st);
const char  *loom_safetensors_name(const loom_safetensors *st, size_t i);       /* file order */
loom_tensor *loom_safetensors_get(loom_safetensors *st, const char *name);      /* new ref, zero-copy view; NULL if absent */
/* Like get, but fills err (LOOM_ERR_NOT_FOUND naming file and tensor) when absent. */
loom_tensor *loom_safetensors_require(loom_safetensors *st, const char *name, loom_error *err);
/* dtype and shape of a tensor without creating a view; 0 ok, LOOM_ERR_NOT_FOUND. */
int          loom_safetensors_info(const loom_safetensors *st, const char *name, loom_dtype *dtype,
                                   int *ndim, int64_t shape[LOOM_MAX_DIMS]);
const char  *loom_safetensors_metadata(const loom_safetensors *st, const char *key); /* __metadata__ string or NULL */
size_t       loom_safetensors_metadata_count(const loom_safetensors *st);
/* i-th metadata entry in file order; returns the key and sets *value. */
const char  *loom_safetensors_metadata_at(const loom_safetensors *st, size_t i, const char **value);
const char  *loom_safetensors_path(const loom_safetensors *st);
/* Done with a view's bytes for now (e.g. once they are packed): the file pages wholly
 * inside it leave this process's memory; touching them again reads them back from the
 * file. Loading a large file then does not keep every page it packed resident. Does
 * nothing for tensors that are not views of a mapped file. */
void         loom_safetensors_drop_pages(const loom_tensor *view);

/* Write atomically: temp file in the same dir + fsync + rename; never leaves a partial file.
 * meta: NULL or NULL-terminated key,value,... Names must be unique and non-empty. The data
 * block starts 64-byte aligned (the header is padded with spaces) and tensors are laid out
 * back to back in the given order, as the reference reader requires. */
int loom_safetensors_write(const char *path, size_t n, const char *const *names,
                           loom_tensor *const *tensors, const char *const *meta, loom_error *err);

#ifdef __cplusplus
}
#endif
#endif
