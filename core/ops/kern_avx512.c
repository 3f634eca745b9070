/* kern_avx512.c: AVX-512 kernels for the elementwise, norm and RoPE ops.
 *
 * Built with AVX-512 flags and reached only through the dispatching entry points in
 * activation.c, norm.c and rope.c. Row statistics are accumulated in f32 vectors
 * (16 partial sums per row, then a tree reduction), which keeps the error of a 5120-wide
 * mean around 1e-7 relative; LayerNorm uses two passes (mean, then centred squares) so a
 * large mean cannot cancel the variance.
 */
#include "kern_avx512.h"
#include "vecmath.h"

#include <math.h>

static inline __m512 act512(__m512 v, loom_act act)
{
    if (act == LOOM_ACT_GELU_TANH) return vm_gelu_tanh(v);
    if (act == LOOM_ACT_SILU) return vm_silu(v);
    return v;
}

void k512_act(const float *x, int64_t n, float *y, loom_act act)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, act512(_mm512_loadu_ps(x + i), act));
    if (i < n) {
        __mmask16 m = vm_tail(n - i);
        _mm512_mask_storeu_ps(y + i, m, act512(_mm512_maskz_loadu_ps(m, x + i), act));
    }
}

void k512_gated_gelu(const float *a, const float *b, int64_t n, float *y)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = vm_tail(n - i);
        __m512 g = vm_gelu_tanh(_mm512_maskz_loadu_ps(m, a + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, b + i)));
    }
}

static inline float row_mean(const float *x, int64_t D)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= D; i += 32) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + i));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + i + 16));
    }
    for (; i < D; i += 16) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(vm_tail(D - i), x + i));
    return vm_hsum(_mm512_add_ps(s0, s1)) / (float)D;
}

static inline float row_sq(const float *x, int64_t D, float mean)
{
    __m512 mu = _mm512_set1_ps(mean);
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= D; i += 32) {
        __m512 a = _mm512_sub_ps(_mm512_loadu_ps(x + i), mu), b = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), mu);
        s0 = _mm512_fmadd_ps(a, a, s0);
        s1 = _mm512_fmadd_ps(b, b, s1);
    }
    for (; i < D; i += 16) {
        __mmask16 m = vm_tail(D - i);
        __m512 a = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mu);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    return vm_hsum(_mm512_add_ps(s0, s1));
}

void k512_layernorm_rows(const float *x, int64_t m0, int64_t m1, int64_t D, const float *gamma, const float *beta,
                         float eps, float *y)
{
    for (int64_t r = m0; r < m1; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        float mean = row_mean(xr, D);
        float rstd = 1.0f / sqrtf(row_sq(xr, D, mean) / (float)D + eps);
        __m512 mu = _mm512_set1_ps(mean), rs = _mm512_set1_ps(rstd);
        for (int64_t i = 0; i < D; i += 16) {
            __mmask16 m = vm_tail(D - i);
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + i), mu), rs);
            if (gamma) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, gamma + i));
            if (beta) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, beta + i));
            _mm512_mask_storeu_ps(yr + i, m, v);
        }
    }
}

void k512_rmsnorm_rows(const float *x, int64_t m0, int64_t m1, int64_t D, const float *gamma, float eps, float *y)
{
    for (int64_t r = m0; r < m1; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        float rs = 1.0f / sqrtf(row_sq(xr, D, 0.0f) / (float)D + eps);
        __m512 rv = _mm512_set1_ps(rs);
        for (int64_t i = 0; i < D; i += 16) {
            __mmask16 m = vm_tail(D - i);
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), rv);
            if (gamma) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, gamma + i));
            _mm512_mask_storeu_ps(yr + i, m, v);
        }
    }
}

void k512_adaln_rows(const float *x, int64_t m0, int64_t m1, int64_t D, const float *shift, const float *scale,
                     int64_t mod_stride, float eps, float *y)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t r = m0; r < m1; r++) {
        const float *xr = x + r * D;
        float *yr = y + r * D;
        const float *sh = shift ? shift + r * mod_stride : NULL, *sc = scale ? scale + r * mod_stride : NULL;
        float mean = row_mean(xr, D);
        float rstd = 1.0f / sqrtf(row_sq(xr, D, mean) / (float)D + eps);
        __m512 mu = _mm512_set1_ps(mean), rs = _mm512_set1_ps(rstd);
        for (int64_t i = 0; i < D; i += 16) {
            __mmask16 m = vm_tail(D - i);
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + i), mu), rs);
            if (sc) v = _mm512_mul_ps(v, _mm512_add_ps(one, _mm512_maskz_loadu_ps(m, sc + i)));
            if (sh) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, sh + i));
            _mm512_mask_storeu_ps(yr + i, m, v);
        }
    }
}

void k512_residual_gate_rows(float *x, const float *y, int64_t m0, int64_t m1, int64_t D, int64_t ldy,
                             const float *gate, int64_t gate_stride)
{
    for (int64_t r = m0; r < m1; r++) {
        float *xr = x + r * D;
        const float *yr = y + r * ldy;
        const float *g = gate ? gate + r * gate_stride : NULL;
        for (int64_t i = 0; i < D; i += 16) {
            __mmask16 m = vm_tail(D - i);
            __m512 v = _mm512_maskz_loadu_ps(m, yr + i);
            __m512 xv = _mm512_maskz_loadu_ps(m, xr + i);
            xv = g ? _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, g + i), xv) : _mm512_add_ps(xv, v);
            _mm512_mask_storeu_ps(xr + i, m, xv);
        }
    }
}

void k512_channel_rmsnorm(const float *x, int64_t C, int64_t P, int64_t p0, int64_t p1, const float *gamma,
                          loom_act act, float *y)
{
    enum { PB = 128 };                       /* positions per pass: C x PB floats stay in L2 */
    const float sc = sqrtf((float)C);
    for (int64_t pb = p0; pb < p1; pb += PB) {
        int64_t pe = pb + PB < p1 ? pb + PB : p1;
        __m512 ss[PB / 16];
        int nv = (int)((pe - pb + 15) / 16);
        for (int v = 0; v < nv; v++) ss[v] = _mm512_setzero_ps();
        for (int64_t c = 0; c < C; c++) {
            const float *xc = x + c * P + pb;
            for (int v = 0; v < nv; v++) {
                __m512 a = _mm512_maskz_loadu_ps(vm_tail(pe - pb - v * 16), xc + v * 16);
                ss[v] = _mm512_fmadd_ps(a, a, ss[v]);
            }
        }
        for (int v = 0; v < nv; v++) {
            /* 1 / max(||x||, 1e-12) * sqrt(C) */
            __m512 nrm = _mm512_max_ps(_mm512_sqrt_ps(ss[v]), _mm512_set1_ps(1e-12f));
            ss[v] = _mm512_div_ps(_mm512_set1_ps(sc), nrm);
        }
        for (int64_t c = 0; c < C; c++) {
            const float *xc = x + c * P + pb;
            float *yc = y + c * P + pb;
            __m512 g = _mm512_set1_ps(gamma ? gamma[c] : 1.0f);
            for (int v = 0; v < nv; v++) {
                __mmask16 m = vm_tail(pe - pb - v * 16);
                __m512 a = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xc + v * 16), ss[v]), g);
                _mm512_mask_storeu_ps(yc + v * 16, m, act512(a, act));
            }
        }
    }
}

void k512_rope_rows(const float *cs, const float *sn, int64_t half, float *x, int64_t r0, int64_t r1, int64_t tok0,
                    int heads, int64_t stride)
{
    /* Pairs (x[2p], x[2p+1]): with c = cos, s = sin duplicated per pair,
     * x' = x * c + swap(x) * s * (-1, +1). */
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512 sign = _mm512_set_ps(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1);
    const int64_t D = 2 * half;
    for (int64_t r = r0; r < r1; r++) {
        const float *cr = cs + (tok0 + r) * half, *sr = sn + (tok0 + r) * half;
        float *xr = x + r * stride;
        for (int64_t p = 0; p < half; p += 8) {
            int64_t np = half - p < 8 ? half - p : 8;
            __mmask16 m8 = vm_tail(np), m16 = vm_tail(2 * np);
            __m512 c = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_maskz_loadu_ps((__mmask8)m8, cr + p)));
            __m512 s = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_maskz_loadu_ps((__mmask8)m8, sr + p)));
            s = _mm512_mul_ps(s, sign);
            for (int h = 0; h < heads; h++) {
                float *xp = xr + h * D + 2 * p;
                __m512 v = _mm512_maskz_loadu_ps(m16, xp);
                __m512 sw = _mm512_permute_ps(v, 0xb1);         /* (x1, x0) per pair */
                _mm512_mask_storeu_ps(xp, m16, _mm512_fmadd_ps(v, c, _mm512_mul_ps(sw, s)));
            }
        }
    }
}
