/* activation.c: elementwise ops (GELU tanh, SiLU, gated GELU, residual + gate, bias).
 *
 * Each op dispatches to the AVX-512 kernels when the CPU has them and otherwise runs the
 * portable loop below, which is also the definition the tests hold the kernels to. Large
 * inputs are split over loom's pool in chunks of at least OPS_EW_GRAIN elements so that a
 * small op never pays the cost of waking threads.
 */
#include "ops_internal.h"
#include "kern_avx512.h"
#include "loom/threads.h"

#include <math.h>

/* Elements per parallel chunk (about 64 KiB of f32): below this one thread is faster. */
#define OPS_EW_GRAIN 16384


static inline float gelu_tanh1(float x)
{
    float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}
static inline float silu1(float x) { return x / (1.0f + expf(-x)); }

typedef struct ew_ctx {
    const float *x, *b;
    float       *y;
    loom_act     act;
    int          gated;
} ew_ctx;

static void ew_task(void *p, int64_t s, int64_t e, int tid)
{
    ew_ctx *c = p;
    (void)tid;
#if defined(LOOM_X86_KERNELS)
    if (k512_available()) {
        if (c->gated) k512_gated_gelu(c->x + s, c->b + s, e - s, c->y + s);
        else k512_act(c->x + s, e - s, c->y + s, c->act);
        return;
    }
#endif
    for (int64_t i = s; i < e; i++) {
        float v = c->x[i];
        v = c->act == LOOM_ACT_GELU_TANH ? gelu_tanh1(v) : c->act == LOOM_ACT_SILU ? silu1(v) : v;
        c->y[i] = c->gated ? v * c->b[i] : v;
    }
}

static void ew_run(ew_ctx *c, int64_t n)
{
    if (n <= OPS_EW_GRAIN) ew_task(c, 0, n, 0);
    else loom_parallel_for_grain(n, OPS_EW_GRAIN, ew_task, c);
}

void ops_apply_act(float *y, int64_t n, loom_act act)
{
    if (act == LOOM_ACT_NONE || n <= 0) return;
    ew_ctx c = {y, NULL, y, act, 0};
    ew_task(&c, 0, n, 0);        /* called from inside kernels' own ranges: no threads here */
}

void loom_gelu_tanh(const float *x, int64_t n, float *y)
{
    ew_ctx c = {x, NULL, y, LOOM_ACT_GELU_TANH, 0};
    ew_run(&c, n);
}

void loom_silu(const float *x, int64_t n, float *y)
{
    ew_ctx c = {x, NULL, y, LOOM_ACT_SILU, 0};
    ew_run(&c, n);
}

void loom_gated_gelu(const float *a, const float *b, int64_t n, float *y)
{
    ew_ctx c = {a, b, y, LOOM_ACT_GELU_TANH, 1};
    ew_run(&c, n);
}

typedef struct rg_ctx {
    float       *x;
    const float *y, *gate;
    int64_t      D, ldy, gate_stride;
} rg_ctx;

static void rg_task(void *p, int64_t m0, int64_t m1, int tid)
{
    rg_ctx *c = p;
    (void)tid;
#if defined(LOOM_X86_KERNELS)
    if (k512_available()) {
        k512_residual_gate_rows(c->x, c->y, m0, m1, c->D, c->ldy, c->gate, c->gate_stride);
        return;
    }
#endif
    for (int64_t r = m0; r < m1; r++) {
        float *xr = c->x + r * c->D;
        const float *yr = c->y + r * c->ldy, *g = c->gate ? c->gate + r * c->gate_stride : NULL;
        for (int64_t i = 0; i < c->D; i++) xr[i] += g ? yr[i] * g[i] : yr[i];
    }
}

void loom_residual_gate(float *x, const float *y, int64_t M, int64_t D, int64_t ldy, const float *gate,
                        int64_t gate_stride)
{
    rg_ctx c = {x, y, gate, D, ldy ? ldy : D, gate_stride};
    int64_t grain = D > 0 ? (OPS_EW_GRAIN + D - 1) / D : 1;
    if (M * D <= OPS_EW_GRAIN) rg_task(&c, 0, M, 0);
    else loom_parallel_for_grain(M, grain, rg_task, &c);
}

void loom_add_bias(float *x, int64_t M, int64_t D, const float *b)
{
    rg_ctx c = {x, b, NULL, D, 0, 0};     /* ldy 0: the one bias row for every row */
    int64_t grain = D > 0 ? (OPS_EW_GRAIN + D - 1) / D : 1;
    if (M * D <= OPS_EW_GRAIN) rg_task(&c, 0, M, 0);
    else loom_parallel_for_grain(M, grain, rg_task, &c);
}

typedef struct up_ctx {
    const float *x;
    float       *y;
    int64_t      H, W;
} up_ctx;

static void up_task(void *ctx, int64_t p0, int64_t p1, int tid)
{
    up_ctx *c = ctx;
    const float *x = c->x;
    float *y = c->y;
    int64_t H = c->H, W = c->W;
    (void)tid;
    for (int64_t p = p0; p < p1; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * 4 * H * W;
        for (int64_t h = 0; h < H; h++) {
            float *r0 = yp + (2 * h) * 2 * W;
            for (int64_t w = 0; w < W; w++) r0[2 * w] = r0[2 * w + 1] = xp[h * W + w];
            float *r1 = r0 + 2 * W;
            for (int64_t w = 0; w < 2 * W; w++) r1[w] = r0[w];
        }
    }
}

void loom_upsample_nearest2x(const float *x, int64_t planes, int64_t H, int64_t W, float *y)
{
    up_ctx c = {x, y, H, W};
    if (planes * H * W <= OPS_EW_GRAIN) up_task(&c, 0, planes, 0);
    else loom_parallel_for(planes, up_task, &c);
}
