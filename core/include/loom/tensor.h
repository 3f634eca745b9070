/* loom/tensor.h: the dense tensor every node, model and kernel exchanges.
 *
 * A loom_tensor is a dense, row-major, contiguous block of elements of one dtype with up
 * to LOOM_MAX_DIMS dimensions. It is reference counted: loom_tensor_ref() adds a holder,
 * loom_tensor_unref() drops one, and the last unref releases the storage through the
 * tensor's owner: a heap buffer loom allocated (64-byte aligned, zero-filled), a
 * memory-mapped safetensors file (the view keeps the mapping alive after the file is
 * closed), or any foreign buffer wrapped with loom_tensor_wrap(). Reference counting is
 * atomic, so a tensor may be shared between threads; its contents are not synchronised.
 *
 * f32 is the compute dtype. f16, bf16, fp8 (e4m3fn, e5m2) and the integer dtypes are
 * storage: kernels that want f32 convert (loom_tensor_to_f32) or read them directly.
 */
#ifndef LOOM_TENSOR_H
#define LOOM_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum loom_dtype {
    LOOM_F32,
    LOOM_F16,
    LOOM_BF16,
    LOOM_F8_E4M3,       /* float8 e4m3fn: bias 7, no inf, 0x7f/0xff are NaN, max 448   */
    LOOM_F8_E5M2,       /* float8 e5m2: the top byte of an IEEE f16, max 57344         */
    LOOM_I8,
    LOOM_U8,
    LOOM_I32,
    LOOM_I64,
    LOOM_BOOL,
    /* storage-only extras found in safetensors files */
    LOOM_F64,
    LOOM_I16,
    LOOM_U16,
    LOOM_U32,
    LOOM_U64,
    LOOM_DTYPE_COUNT
} loom_dtype;

/* The most dimensions a tensor may have. Wan needs 5 (conv weights [O, I, kt, kh, kw]);
 * 8 leaves room and keeps the struct small. Files with a larger rank are rejected. */
#define LOOM_MAX_DIMS 8

/* Alignment of buffers loom allocates: one cache line, and one AVX-512 register. */
#define LOOM_TENSOR_ALIGN 64

typedef struct loom_tensor {            /* dense, row-major, contiguous */
    loom_dtype dtype;
    int        ndim;
    int64_t    shape[LOOM_MAX_DIMS];
    void      *data;                    /* 64-byte aligned when loom allocated it; views of
                                           mapped files are only dtype-size aligned at best */
    /* private below: refcount + owner (heap buffer, or a safetensors mapping kept alive) */
    int        refcount;
    void     (*release)(void *owner);
    void      *owner;
} loom_tensor;

/* A new zero-filled tensor, refcount 1. shape entries must be >= 0; numel may be 0. */
loom_tensor *loom_tensor_new(loom_dtype dt, int ndim, const int64_t *shape, loom_error *err);
/* Like loom_tensor_new with the shape of `like` (dtype dt). */
loom_tensor *loom_tensor_new_like(const loom_tensor *like, loom_dtype dt, loom_error *err);
/* Wrap foreign memory: release(owner) runs when the last reference goes (release may be NULL). */
loom_tensor *loom_tensor_wrap(loom_dtype dt, int ndim, const int64_t *shape, void *data,
                              void (*release)(void *owner), void *owner, loom_error *err);
loom_tensor *loom_tensor_ref(loom_tensor *t);              /* returns t; NULL ok */
void         loom_tensor_unref(loom_tensor *t);            /* NULL ok */

int64_t      loom_tensor_numel(const loom_tensor *t);
size_t       loom_tensor_nbytes(const loom_tensor *t);
/* Write "[2, 3, 4] bf16" into buf (always NUL-terminated); returns buf. */
const char  *loom_tensor_describe(const loom_tensor *t, char *buf, size_t cap);
/* Same dtype, ndim and shape. */
int          loom_tensor_same_shape(const loom_tensor *a, const loom_tensor *b);
/* Flat index of the first NaN or infinity in an f32 tensor, or -1 when all are finite
 * (and for other dtypes). Nodes use it to stop a broken model at the first bad tensor
 * instead of writing a black video. */
int64_t      loom_tensor_first_nonfinite(const loom_tensor *t);

size_t       loom_dtype_size(loom_dtype dt);               /* bytes per element; 0 if invalid */
const char  *loom_dtype_name(loom_dtype dt);               /* "F32","F16","BF16","F8_E4M3","F8_E5M2",
                                                              "I8","U8","I32","I64","BOOL",... */
int          loom_dtype_from_name(const char *name, loom_dtype *out); /* 0 ok, LOOM_ERR_INVALID */
int          loom_dtype_is_float(loom_dtype dt);           /* F32 F16 BF16 F8_* F64 */

/* A new f32 copy of t; t may be any dtype (floats convert exactly, integers by value). */
loom_tensor *loom_tensor_to_f32(const loom_tensor *t, loom_error *err);
/* A new copy of t in dtype dt (float dtypes only on either side); f32 -> narrower rounds to
 * nearest even; fp8 saturates to the largest finite value (as quantisers clamp first). */
loom_tensor *loom_tensor_convert(const loom_tensor *t, loom_dtype dt, loom_error *err);
/* Convert n elements of any dtype at src into f32 at dst (the loops behind to_f32). */
void         loom_convert_to_f32(loom_dtype dt, const void *src, float *dst, int64_t n);
/* Convert n f32 values into dtype dt (a float dtype) at dst. */
void         loom_convert_from_f32(loom_dtype dt, const float *src, void *dst, int64_t n);

/* Scalar conversions; f32 -> narrower rounds to nearest even, NaN stays NaN. */
float        loom_bf16_to_f32(uint16_t h);
uint16_t     loom_f32_to_bf16(float f);
float        loom_f16_to_f32(uint16_t h);
uint16_t     loom_f32_to_f16(float f);
float        loom_f8e4m3_to_f32(uint8_t v);
uint8_t      loom_f32_to_f8e4m3(float f);                  /* saturating */
float        loom_f8e5m2_to_f32(uint8_t v);
uint8_t      loom_f32_to_f8e5m2(float f);                  /* saturating */

/* Aligned heap memory for kernels and arenas (64-byte aligned, not zeroed); free with
 * loom_aligned_free. Returns NULL on failure or size 0. */
void        *loom_aligned_alloc(size_t size);
void         loom_aligned_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
