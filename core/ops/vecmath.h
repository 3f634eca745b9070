/* vecmath.h: AVX-512 exp, sigmoid-based GELU/SiLU and bf16 packing, for the kernel files
 * compiled with AVX-512 flags (never include it from a baseline file).
 *
 * exp is Cody-Waite range reduction (x = n ln2 + r, |r| <= ln2/2) with a degree-6
 * polynomial and scalef, accurate to ~2 ulp over the whole f32 range and flushing to 0
 * below -87. GELU(tanh) is evaluated as x * sigmoid(2u), u = sqrt(2/pi)(x + 0.044715x^3),
 * which equals 0.5x(1 + tanh u) without the cancellation of 1 + tanh near -1.
 */
#ifndef LOOM_OPS_VECMATH_H
#define LOOM_OPS_VECMATH_H

#include <immintrin.h>
#include <stdint.h>

static inline __m512 vm_exp(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-103.0f), hi = _mm512_set1_ps(88.7f);
    x = _mm512_max_ps(_mm512_min_ps(x, hi), lo);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 2^x for x <= 0 typically (softmax in the log2 domain); exact reduction n = round(x). */
static inline __m512 vm_exp2(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-150.0f));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);                        /* [-0.5, 0.5] */
    /* 2^f = e^(f ln2): Taylor coefficients ln2^k / k! */
    __m512 p = _mm512_set1_ps(1.5252734e-5f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.5403530e-4f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* 2^x to ~1e-5 relative: enough for values that are rounded to bf16 (2^-9) next.
 * Degree-4 polynomial on [-0.5, 0.5]; -inf and anything below -150 give exactly 0. */
static inline __m512 vm_exp2_bf(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-200.0f));      /* masked (-inf) scores give exactly 0 */
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(9.6181291e-3f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504109e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022651e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 vm_sigmoid(__m512 x)
{
    __m512 e = vm_exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __m512 vm_silu(__m512 x) { return _mm512_mul_ps(x, vm_sigmoid(x)); }

static inline __m512 vm_gelu_tanh(__m512 x)
{
    const __m512 c = _mm512_set1_ps(0.7978845608028654f), k = _mm512_set1_ps(0.044715f);
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 u = _mm512_mul_ps(_mm512_mul_ps(c, x), _mm512_fmadd_ps(k, x2, _mm512_set1_ps(1.0f)));
    return _mm512_mul_ps(x, vm_sigmoid(_mm512_add_ps(u, u)));
}

/* Round 32 floats (a: 0..15, b: 16..31) to bf16 (nearest even) and store 64 bytes. */
static inline void vm_store_bf16x32(uint16_t *dst, __m512 a, __m512 b)
{
    __m512bh v = _mm512_cvtne2ps_pbh(b, a);
    _mm512_storeu_si512((void *)dst, (__m512i)v);
}

/* Round 16 floats to bf16 into 32 bytes (masked store of n <= 16 values). */
static inline void vm_store_bf16x16(uint16_t *dst, __m512 a, __mmask16 m)
{
    __m256bh v = _mm512_cvtneps_pbh(a);
    _mm256_mask_storeu_epi16((void *)dst, m, (__m256i)v);
}

static inline float vm_hsum(__m512 v) { return _mm512_reduce_add_ps(v); }
static inline float vm_hmax(__m512 v) { return _mm512_reduce_max_ps(v); }

static inline __mmask16 vm_tail(int64_t n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}
#endif
