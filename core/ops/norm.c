/* norm.c: LayerNorm, RMSNorm, fused AdaLN and the VAE's channel RMS norm.
 *
 * Row-wise norms split rows over loom's pool; each row's statistics are computed in f32
 * with a two-pass mean/variance. The portable loops here define the ops (and run on CPUs
 * without AVX-512); the AVX-512 kernels in kern_avx512.c must agree with them to f32
 * rounding.
 */
#include "ops_internal.h"
#include "kern_avx512.h"
#include "loom/threads.h"

#include <math.h>

#define NORM_GRAIN_ELEMS 16384


typedef struct norm_ctx {
    const float *x;
    float       *y;
    int64_t      D, mod_stride;
    const float *g, *b;      /* gamma/beta, or shift/scale for adaln */
    float        eps;
    int          kind;       /* 0 layernorm, 1 rmsnorm, 2 adaln */
} norm_ctx;

static void norm_rows_portable(const norm_ctx *c, int64_t m0, int64_t m1)
{
    const int64_t D = c->D;
    for (int64_t r = m0; r < m1; r++) {
        const float *xr = c->x + r * D;
        float *yr = c->y + r * D;
        /* double sums: a serial f32 sum over 5120 values loses ~1e-6 relative */
        double dmean = 0, ss = 0;
        if (c->kind != 1) {
            for (int64_t i = 0; i < D; i++) dmean += xr[i];
            dmean /= (double)D;
        }
        for (int64_t i = 0; i < D; i++) ss += (xr[i] - dmean) * (xr[i] - dmean);
        float mean = (float)dmean;
        float rs = (float)(1.0 / sqrt(ss / (double)D + c->eps));
        for (int64_t i = 0; i < D; i++) {
            float v = (xr[i] - mean) * rs;
            if (c->kind == 2) {
                const float *sh = c->g ? c->g + r * c->mod_stride : NULL, *sc = c->b ? c->b + r * c->mod_stride : NULL;
                if (sc) v *= 1.0f + sc[i];
                if (sh) v += sh[i];
            } else {
                if (c->g) v *= c->g[i];
                if (c->b) v += c->b[i];
            }
            yr[i] = v;
        }
    }
}

static void norm_task(void *p, int64_t m0, int64_t m1, int tid)
{
    norm_ctx *c = p;
    (void)tid;
#if defined(LOOM_X86_KERNELS)
    if (k512_available()) {
        if (c->kind == 0) k512_layernorm_rows(c->x, m0, m1, c->D, c->g, c->b, c->eps, c->y);
        else if (c->kind == 1) k512_rmsnorm_rows(c->x, m0, m1, c->D, c->g, c->eps, c->y);
        else k512_adaln_rows(c->x, m0, m1, c->D, c->g, c->b, c->mod_stride, c->eps, c->y);
        return;
    }
#endif
    norm_rows_portable(c, m0, m1);
}

static void norm_run(norm_ctx *c, int64_t M)
{
    if (M <= 0 || c->D <= 0) return;
    int64_t grain = (NORM_GRAIN_ELEMS + c->D - 1) / c->D;
    if (M <= grain) norm_task(c, 0, M, 0);
    else loom_parallel_for_grain(M, grain, norm_task, c);
}

void loom_layernorm(const float *x, int64_t M, int64_t D, const float *gamma, const float *beta, float eps, float *y)
{
    norm_ctx c = {x, y, D, 0, gamma, beta, eps, 0};
    norm_run(&c, M);
}

void loom_rmsnorm(const float *x, int64_t M, int64_t D, const float *gamma, float eps, float *y)
{
    norm_ctx c = {x, y, D, 0, gamma, NULL, eps, 1};
    norm_run(&c, M);
}

void loom_adaln(const float *x, int64_t M, int64_t D, const float *shift, const float *scale, int64_t mod_stride,
                float eps, float *y)
{
    norm_ctx c = {x, y, D, mod_stride, shift, scale, eps, 2};
    norm_run(&c, M);
}

typedef struct cn_ctx {
    const float *x, *gamma;
    float       *y;
    int64_t      C, P;
    loom_act     act;
} cn_ctx;

static void cn_task(void *p, int64_t p0, int64_t p1, int tid)
{
    cn_ctx *c = p;
    (void)tid;
#if defined(LOOM_X86_KERNELS)
    if (k512_available()) {
        k512_channel_rmsnorm(c->x, c->C, c->P, p0, p1, c->gamma, c->act, c->y);
        return;
    }
#endif
    const float sc = sqrtf((float)c->C);
    for (int64_t q = p0; q < p1; q++) {
        float ss = 0;
        for (int64_t ch = 0; ch < c->C; ch++) ss += c->x[ch * c->P + q] * c->x[ch * c->P + q];
        float nrm = sqrtf(ss);
        float f = sc / (nrm > 1e-12f ? nrm : 1e-12f);
        for (int64_t ch = 0; ch < c->C; ch++) {
            float v = c->x[ch * c->P + q] * f * (c->gamma ? c->gamma[ch] : 1.0f);
            if (c->act == LOOM_ACT_SILU) v = v / (1.0f + expf(-v));
            else if (c->act == LOOM_ACT_GELU_TANH) v = v / (1.0f + expf(-2.0f * 0.7978845608028654f * (v + 0.044715f * v * v * v)));
            c->y[ch * c->P + q] = v;
        }
    }
}

void loom_channel_rmsnorm(const float *x, int64_t C, int64_t P, const float *gamma, loom_act act, float *y)
{
    cn_ctx c = {x, gamma, y, C, P, act};
    if (C <= 0 || P <= 0) return;
    if (C * P <= NORM_GRAIN_ELEMS) cn_task(&c, 0, P, 0);
    else loom_parallel_for_grain(P, 128, cn_task, &c);
}
