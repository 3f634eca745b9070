/* tensor.c: loom_tensor allocation, reference counting and dtype conversion.
 *
 * A tensor owns its storage through (release, owner): for tensors loom allocates, the
 * owner is the aligned heap buffer and release frees it; views of safetensors mappings
 * point owner at the shared mapping. The struct itself is always freed by the last unref.
 * Scalar conversions round to nearest even exactly like PyTorch's casts, so weights
 * converted here match the reference bit for bit.
 */
#include "loom/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const struct {
    const char *name;
    size_t      size;
} dtype_info[LOOM_DTYPE_COUNT] = {
    [LOOM_F32] = {"F32", 4},         [LOOM_F16] = {"F16", 2},     [LOOM_BF16] = {"BF16", 2},
    [LOOM_F8_E4M3] = {"F8_E4M3", 1}, [LOOM_F8_E5M2] = {"F8_E5M2", 1},
    [LOOM_I8] = {"I8", 1},           [LOOM_U8] = {"U8", 1},       [LOOM_I32] = {"I32", 4},
    [LOOM_I64] = {"I64", 8},         [LOOM_BOOL] = {"BOOL", 1},   [LOOM_F64] = {"F64", 8},
    [LOOM_I16] = {"I16", 2},         [LOOM_U16] = {"U16", 2},     [LOOM_U32] = {"U32", 4},
    [LOOM_U64] = {"U64", 8},
};

size_t loom_dtype_size(loom_dtype dt)
{
    return (unsigned)dt < LOOM_DTYPE_COUNT ? dtype_info[dt].size : 0;
}

const char *loom_dtype_name(loom_dtype dt)
{
    return (unsigned)dt < LOOM_DTYPE_COUNT ? dtype_info[dt].name : "?";
}

int loom_dtype_from_name(const char *name, loom_dtype *out)
{
    for (int i = 0; i < LOOM_DTYPE_COUNT && name; i++) {
        if (strcmp(name, dtype_info[i].name) == 0) {
            if (out) *out = (loom_dtype)i;
            return LOOM_OK;
        }
    }
    return LOOM_ERR_INVALID;
}

int loom_dtype_is_float(loom_dtype dt)
{
    return dt == LOOM_F32 || dt == LOOM_F16 || dt == LOOM_BF16 || dt == LOOM_F8_E4M3 ||
           dt == LOOM_F8_E5M2 || dt == LOOM_F64;
}

/* ---- memory ---------------------------------------------------------------------- */

/* Buffers of 2 MiB or more start on a 2 MiB boundary, and their whole 2 MiB pages are
 * marked for transparent huge pages, which Linux by default grants only on request: the
 * matrix kernels walk packed weights and activations tile by tile across many pages, and
 * with 4 KiB pages the TLB misses cost 5 to 25 % of a product (measured on the DiT's
 * shapes). The tail past the last whole huge page keeps small pages, so rounding costs no
 * resident memory. */
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

void *loom_aligned_alloc(size_t size)
{
    if (size == 0) return NULL;
    size_t align = size >= HUGE_PAGE_BYTES ? HUGE_PAGE_BYTES : LOOM_TENSOR_ALIGN;
    size_t rounded = (size + LOOM_TENSOR_ALIGN - 1) & ~(size_t)(LOOM_TENSOR_ALIGN - 1);
    if (rounded < size) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, rounded) != 0) return NULL;   /* C11 aligned_alloc wants size % align == 0 */
#ifdef MADV_HUGEPAGE
    if (align == HUGE_PAGE_BYTES) (void)madvise(p, size & ~(HUGE_PAGE_BYTES - 1), MADV_HUGEPAGE);
#endif
    return p;
}

void loom_aligned_free(void *p) { free(p); }

static void release_heap(void *owner) { free(owner); }

/* numel of a shape, or -1 on a negative entry or overflow past what size_t bytes can hold. */
static int64_t shape_numel(int ndim, const int64_t *shape, size_t elem)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    if (elem && (uint64_t)n > (uint64_t)(SIZE_MAX / elem)) return -1;
    return n;
}

static loom_tensor *tensor_alloc_struct(loom_dtype dt, int ndim, const int64_t *shape, loom_error *err)
{
    if ((unsigned)dt >= LOOM_DTYPE_COUNT) {
        loom_errorf(err, LOOM_ERR_INVALID, "tensor: invalid dtype %d", (int)dt);
        return NULL;
    }
    if (ndim < 0 || ndim > LOOM_MAX_DIMS) {
        loom_errorf(err, LOOM_ERR_INVALID, "tensor: rank %d outside 0..%d", ndim, LOOM_MAX_DIMS);
        return NULL;
    }
    if (shape_numel(ndim, shape, loom_dtype_size(dt)) < 0) {
        loom_errorf(err, LOOM_ERR_INVALID, "tensor: shape has a negative dimension or is too large");
        return NULL;
    }
    loom_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        loom_errorf(err, LOOM_ERR_NOMEM, "tensor: out of memory");
        return NULL;
    }
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->refcount = 1;
    return t;
}

loom_tensor *loom_tensor_new(loom_dtype dt, int ndim, const int64_t *shape, loom_error *err)
{
    loom_tensor *t = tensor_alloc_struct(dt, ndim, shape, err);
    if (!t) return NULL;
    size_t bytes = loom_tensor_nbytes(t);
    /* Even an empty tensor gets a valid pointer, so callers never special-case NULL data. */
    void *p = loom_aligned_alloc(bytes ? bytes : 1);
    if (!p) {
        char d[128];
        loom_errorf(err, LOOM_ERR_NOMEM, "tensor: cannot allocate %zu bytes for %s", bytes,
                    loom_tensor_describe(t, d, sizeof d));
        free(t);
        return NULL;
    }
    memset(p, 0, bytes ? bytes : 1);
    t->data = p;
    t->owner = p;
    t->release = release_heap;
    return t;
}

loom_tensor *loom_tensor_new_like(const loom_tensor *like, loom_dtype dt, loom_error *err)
{
    return loom_tensor_new(dt, like->ndim, like->shape, err);
}

loom_tensor *loom_tensor_wrap(loom_dtype dt, int ndim, const int64_t *shape, void *data,
                              void (*release)(void *owner), void *owner, loom_error *err)
{
    loom_tensor *t = tensor_alloc_struct(dt, ndim, shape, err);
    if (!t) return NULL;
    t->data = data;
    t->release = release;
    t->owner = owner;
    return t;
}

loom_tensor *loom_tensor_ref(loom_tensor *t)
{
    if (t) __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
    return t;
}

void loom_tensor_unref(loom_tensor *t)
{
    if (!t) return;
    if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (t->release) t->release(t->owner);
    free(t);
}

int64_t loom_tensor_numel(const loom_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int64_t loom_tensor_first_nonfinite(const loom_tensor *t)
{
    if (!t || t->dtype != LOOM_F32) return -1;
    const float *x = t->data;
    int64_t n = loom_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

size_t loom_tensor_nbytes(const loom_tensor *t)
{
    return (size_t)loom_tensor_numel(t) * loom_dtype_size(t->dtype);
}

int loom_tensor_same_shape(const loom_tensor *a, const loom_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *loom_tensor_describe(const loom_tensor *t, char *buf, size_t cap)
{
    if (!buf || cap == 0) return buf;
    size_t n = 0;
    buf[0] = 0;
#define PUT(...) do { int w_ = snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__); \
                      if (w_ > 0) n += (size_t)w_;                                      \
                      if (n >= cap) n = cap - 1; } while (0)
    PUT("[");
    for (int i = 0; i < t->ndim; i++) PUT("%s%lld", i ? ", " : "", (long long)t->shape[i]);
    PUT("] %s", loom_dtype_name(t->dtype));
#undef PUT
    return buf;
}

/* ---- scalar conversions ----------------------------------------------------------- */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float loom_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t loom_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float loom_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t loom_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;                 /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00u;                /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {                                      /* below 2^-14: subnormal f16 */
        /* Let the FPU round: adding 0.5 (2^-1) aligns the f16 subnormal ulp (2^-24) with the
         * f32 ulp of the sum (2^-24), so round-to-nearest-even happens in hardware. */
        float v = bits_f32(a) + 0.5f;
        return sign | (uint16_t)(f32_bits(v) - 0x3f000000u);
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += 0xc8000fffu + mant_odd;                                /* rebias (-112 << 23) + round */
    return sign | (uint16_t)(a >> 13);
}

/* fp8 e4m3fn: s eeee mmm, bias 7, exponent 15 with mantissa 7 is NaN, no infinities. */
float loom_f8e4m3_to_f32(uint8_t v)
{
    uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    uint32_t exp = (v >> 3) & 0xf;
    uint32_t man = v & 7u;
    if (exp == 0xf && man == 7) return bits_f32(sign | 0x7fc00000u);
    if (exp == 0) {
        float x = (float)man * 0.001953125f;                    /* man * 2^-9 */
        return sign ? -x : x;
    }
    return bits_f32(sign | ((exp + 120) << 23) | (man << 20));
}

/* Generic round-to-nearest-even into a small float format with `mbits` mantissa bits,
 * exponent bias `bias`, largest finite magnitude `maxv`, and smallest normal exponent
 * 1 - bias. Returns the magnitude code (without sign). */
static uint8_t f32_to_small(float a, int mbits, int bias, float maxv, uint8_t maxcode)
{
    if (!(a <= maxv)) return maxcode;                            /* saturate (NaN handled by caller) */
    int e;
    float m = frexpf(a, &e);                                     /* a = m * 2^e, m in [0.5,1) */
    if (a == 0.0f) return 0;
    int exp = e - 1 + bias;                                      /* biased exponent of a */
    float scaled;
    if (exp < 1) {                                               /* subnormal: units of 2^(1-bias-mbits) */
        scaled = ldexpf(a, bias - 1 + mbits);
        float r = nearbyintf(scaled);                            /* default mode: nearest even */
        return (uint8_t)r;                                       /* may carry into the first normal */
    }
    scaled = ldexpf(m * 2.0f - 1.0f, mbits);                     /* fraction in mantissa units */
    float r = nearbyintf(scaled);
    uint32_t code = ((uint32_t)exp << mbits) + (uint32_t)r;      /* mantissa carry bumps exponent */
    if (code > maxcode) code = maxcode;
    return (uint8_t)code;
}

uint8_t loom_f32_to_f8e4m3(float f)
{
    uint8_t sign = (f32_bits(f) >> 24) & 0x80u;
    if (isnan(f)) return sign | 0x7fu;
    return sign | f32_to_small(fabsf(f), 3, 7, 448.0f, 0x7eu);
}

float loom_f8e5m2_to_f32(uint8_t v) { return loom_f16_to_f32((uint16_t)((uint16_t)v << 8)); }

uint8_t loom_f32_to_f8e5m2(float f)
{
    uint8_t sign = (f32_bits(f) >> 24) & 0x80u;
    if (isnan(f)) return sign | 0x7fu;
    return sign | f32_to_small(fabsf(f), 2, 15, 57344.0f, 0x7bu);
}

/* ---- bulk conversions -------------------------------------------------------------- */

void loom_convert_to_f32(loom_dtype dt, const void *src, float *dst, int64_t n)
{
    /* Sources may be unaligned views of a mapped file: read through memcpy. */
    const unsigned char *s = src;
    switch (dt) {
    case LOOM_F32: memmove(dst, src, (size_t)n * 4); break;
    case LOOM_BF16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); dst[i] = loom_bf16_to_f32(h); }
        break;
    case LOOM_F16:
        for (int64_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, s + 2 * i, 2); dst[i] = loom_f16_to_f32(h); }
        break;
    case LOOM_F8_E4M3: for (int64_t i = 0; i < n; i++) dst[i] = loom_f8e4m3_to_f32(s[i]); break;
    case LOOM_F8_E5M2: for (int64_t i = 0; i < n; i++) dst[i] = loom_f8e5m2_to_f32(s[i]); break;
    case LOOM_F64:
        for (int64_t i = 0; i < n; i++) { double d; memcpy(&d, s + 8 * i, 8); dst[i] = (float)d; }
        break;
    case LOOM_I8:   for (int64_t i = 0; i < n; i++) dst[i] = (float)(int8_t)s[i]; break;
    case LOOM_U8:   for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i]; break;
    case LOOM_BOOL: for (int64_t i = 0; i < n; i++) dst[i] = s[i] ? 1.0f : 0.0f; break;
#define INTCASE(T, DT) case DT: for (int64_t i = 0; i < n; i++) { T v; memcpy(&v, s + sizeof(T) * i, sizeof(T)); dst[i] = (float)v; } break;
    INTCASE(int16_t, LOOM_I16)
    INTCASE(uint16_t, LOOM_U16)
    INTCASE(int32_t, LOOM_I32)
    INTCASE(uint32_t, LOOM_U32)
    INTCASE(int64_t, LOOM_I64)
    INTCASE(uint64_t, LOOM_U64)
#undef INTCASE
    default: memset(dst, 0, (size_t)n * 4); break;
    }
}

void loom_convert_from_f32(loom_dtype dt, const float *src, void *dst, int64_t n)
{
    unsigned char *d = dst;
    switch (dt) {
    case LOOM_F32: memmove(dst, src, (size_t)n * 4); break;
    case LOOM_BF16:
        for (int64_t i = 0; i < n; i++) { uint16_t h = loom_f32_to_bf16(src[i]); memcpy(d + 2 * i, &h, 2); }
        break;
    case LOOM_F16:
        for (int64_t i = 0; i < n; i++) { uint16_t h = loom_f32_to_f16(src[i]); memcpy(d + 2 * i, &h, 2); }
        break;
    case LOOM_F8_E4M3: for (int64_t i = 0; i < n; i++) d[i] = loom_f32_to_f8e4m3(src[i]); break;
    case LOOM_F8_E5M2: for (int64_t i = 0; i < n; i++) d[i] = loom_f32_to_f8e5m2(src[i]); break;
    case LOOM_F64:
        for (int64_t i = 0; i < n; i++) { double v = src[i]; memcpy(d + 8 * i, &v, 8); }
        break;
    default: break;
    }
}

loom_tensor *loom_tensor_to_f32(const loom_tensor *t, loom_error *err)
{
    loom_tensor *o = loom_tensor_new(LOOM_F32, t->ndim, t->shape, err);
    if (!o) return NULL;
    loom_convert_to_f32(t->dtype, t->data, o->data, loom_tensor_numel(t));
    return o;
}

loom_tensor *loom_tensor_convert(const loom_tensor *t, loom_dtype dt, loom_error *err)
{
    char d[128];
    if (!loom_dtype_is_float(t->dtype) || !loom_dtype_is_float(dt)) {
        loom_errorf(err, LOOM_ERR_UNSUPPORTED, "tensor convert: %s to %s is not a float conversion",
                    loom_tensor_describe(t, d, sizeof d), loom_dtype_name(dt));
        return NULL;
    }
    loom_tensor *o = loom_tensor_new(dt, t->ndim, t->shape, err);
    if (!o) return NULL;
    int64_t n = loom_tensor_numel(t);
    if (t->dtype == dt) {
        memcpy(o->data, t->data, loom_tensor_nbytes(t));
        return o;
    }
    /* Go through f32 in cache-sized chunks. */
    enum { CHUNK = 4096 };
    float buf[CHUNK];
    size_t is = loom_dtype_size(t->dtype), os = loom_dtype_size(dt);
    for (int64_t i = 0; i < n; i += CHUNK) {
        int64_t c = n - i < CHUNK ? n - i : CHUNK;
        loom_convert_to_f32(t->dtype, (const char *)t->data + (size_t)i * is, buf, c);
        loom_convert_from_f32(dt, buf, (char *)o->data + (size_t)i * os, c);
    }
    return o;
}
