/* conv.c: loom_conv (Conv3d / Conv2d, channel-first, batch 1), geometry and dispatch.
 *
 * Padding is explicit per side, so a causal Conv3d (zero frames in front only), Wan's
 * downsample (zero pad right and bottom, stride 2) and ordinary "same" convs are all one
 * op. A 4-D weight [O, I, kh, kw] is a Conv3d with kt = 1, which applies it to every frame.
 * The AMX path is an implicit GEMM (amx_conv.c); the portable path builds the im2col
 * matrix of one output row at a time and multiplies with one sgemm.
 */
#include "ops_internal.h"
#include "loom/threads.h"

#include <stdlib.h>
#include <string.h>

struct loom_conv {
    conv_geom    g;             /* kernel, stride and padding; extents filled per call */
    loom_backend backend;
    amx_weights  amx;
    float       *w32;           /* [O, I*kt*kh*kw] */
    float       *bias;
};

int64_t loom_conv_in_channels(const loom_conv *c) { return c->g.I; }
int64_t loom_conv_out_channels(const loom_conv *c) { return c->g.O; }

void loom_conv_free(loom_conv *c)
{
    if (!c) return;
    if (c->amx.data) amx_weights_free(&c->amx);
    loom_aligned_free(c->w32);
    free(c->bias);
    free(c);
}

loom_conv *loom_conv_new(const loom_tensor *weight, const loom_tensor *bias, const loom_conv_params *p, loom_error *err)
{
    char d[128];
    if (!weight || (weight->ndim != 5 && weight->ndim != 4) || !loom_dtype_is_float(weight->dtype)) {
        loom_errorf(err, LOOM_ERR_INVALID, "conv: weight must be [O, I, kt, kh, kw] or [O, I, kh, kw], got %s",
                    weight ? loom_tensor_describe(weight, d, sizeof d) : "NULL");
        return NULL;
    }
    loom_conv *c = calloc(1, sizeof *c);
    if (!c) { loom_errorf(err, LOOM_ERR_NOMEM, "conv: out of memory"); return NULL; }
    conv_geom *g = &c->g;
    int five = weight->ndim == 5;
    g->O = weight->shape[0];
    g->I = weight->shape[1];
    g->kt = five ? weight->shape[2] : 1;
    g->kh = weight->shape[five ? 3 : 2];
    g->kw = weight->shape[five ? 4 : 3];
    loom_conv_params dp = {0};
    if (!p) p = &dp;
    g->st = p->stride[0] > 0 ? p->stride[0] : 1;
    g->sh = p->stride[1] > 0 ? p->stride[1] : 1;
    g->sw = p->stride[2] > 0 ? p->stride[2] : 1;
    g->pf = p->pad_t_front; g->pb = p->pad_t_back;
    g->ptop = p->pad_top; g->pbot = p->pad_bottom; g->pl = p->pad_left; g->pr = p->pad_right;
    if (g->O <= 0 || g->I <= 0 || g->kt <= 0 || g->kh <= 0 || g->kw <= 0 || g->pf < 0 || g->pb < 0 || g->ptop < 0 ||
        g->pbot < 0 || g->pl < 0 || g->pr < 0) {
        loom_errorf(err, LOOM_ERR_INVALID, "conv: empty weight %s or negative padding",
                    loom_tensor_describe(weight, d, sizeof d));
        loom_conv_free(c);
        return NULL;
    }
    if (bias) {
        if (loom_tensor_numel(bias) != g->O || !loom_dtype_is_float(bias->dtype)) {
            loom_errorf(err, LOOM_ERR_INVALID, "conv: bias %s does not match %lld output channels",
                        loom_tensor_describe(bias, d, sizeof d), (long long)g->O);
            loom_conv_free(c);
            return NULL;
        }
        c->bias = malloc(sizeof(float) * (size_t)g->O);
        if (!c->bias) goto oom;
        loom_convert_to_f32(bias->dtype, bias->data, c->bias, g->O);
    }
    loom_backend want = p->backend != LOOM_BACKEND_AUTO ? p->backend : loom_ops_backend();
    c->backend = ops_resolve_backend(want);
    if (c->backend == LOOM_BACKEND_ONEDNN) c->backend = ops_resolve_backend(LOOM_BACKEND_AMX);
    if (p->precision == LOOM_PREC_F32 && c->backend == LOOM_BACKEND_AMX) c->backend = LOOM_BACKEND_OPENBLAS;
#if defined(LOOM_X86_KERNELS)
    if (c->backend == LOOM_BACKEND_AMX) {
        if (amx_conv_pack(&c->amx, weight->dtype, weight->data, g, err)) { loom_conv_free(c); return NULL; }
        return c;
    }
#endif
    int64_t K = g->I * g->kt * g->kh * g->kw;
    c->w32 = loom_aligned_alloc(sizeof(float) * (size_t)(g->O * K));
    if (!c->w32) goto oom;
    loom_convert_to_f32(weight->dtype, weight->data, c->w32, g->O * K);
    return c;
oom:
    loom_errorf(err, LOOM_ERR_NOMEM, "conv: out of memory for weight %s", loom_tensor_describe(weight, d, sizeof d));
    loom_conv_free(c);
    return NULL;
}

static void geom_extents(conv_geom *g, int64_t T, int64_t H, int64_t W)
{
    g->T = T; g->H = H; g->W = W;
    g->Tp = T + g->pf + g->pb;
    g->Hp = H + g->ptop + g->pbot;
    g->Wp = W + g->pl + g->pr;
    g->To = g->Tp >= g->kt ? (g->Tp - g->kt) / g->st + 1 : -1;
    g->Ho = g->Hp >= g->kh ? (g->Hp - g->kh) / g->sh + 1 : -1;
    g->Wo = g->Wp >= g->kw ? (g->Wp - g->kw) / g->sw + 1 : -1;
}

void loom_conv_out_shape(const loom_conv *c, int64_t T, int64_t H, int64_t W, int64_t *To, int64_t *Ho, int64_t *Wo)
{
    conv_geom g = c->g;
    geom_extents(&g, T, H, W);
    int bad = g.To <= 0 || g.Ho <= 0 || g.Wo <= 0;
    if (To) *To = bad ? -1 : g.To;
    if (Ho) *Ho = bad ? -1 : g.Ho;
    if (Wo) *Wo = bad ? -1 : g.Wo;
}

typedef struct pconv_ctx {
    const loom_conv *c;
    const conv_geom *g;
    const float     *x;
    float           *y;
    loom_act         act;
} pconv_ctx;

/* portable: per output row (to, ho), cols[K][Wo] then y[:, row] = W . cols */
static void pconv_task(void *p, int64_t r0, int64_t r1, int tid)
{
    pconv_ctx *pc = p;
    const conv_geom *g = pc->g;
    (void)tid;
    const int64_t K = g->I * g->kt * g->kh * g->kw, P = g->To * g->Ho * g->Wo, HW = g->H * g->W;
    float *cols = ops_scratch(1, sizeof(float) * (size_t)(K * g->Wo));
    if (!cols) return;
    for (int64_t row = r0; row < r1; row++) {
        int64_t to = row / g->Ho, ho = row % g->Ho;
        for (int64_t ci = 0; ci < g->I; ci++)
            for (int64_t dt = 0; dt < g->kt; dt++)
                for (int64_t dh = 0; dh < g->kh; dh++)
                    for (int64_t dw = 0; dw < g->kw; dw++) {
                        float *cr = cols + (((ci * g->kt + dt) * g->kh + dh) * g->kw + dw) * g->Wo;
                        int64_t t = to * g->st + dt - g->pf, h = ho * g->sh + dh - g->ptop;
                        if (t < 0 || t >= g->T || h < 0 || h >= g->H) {
                            memset(cr, 0, sizeof(float) * (size_t)g->Wo);
                            continue;
                        }
                        const float *xr = pc->x + ci * g->T * HW + t * HW + h * g->W;
                        for (int64_t wo = 0; wo < g->Wo; wo++) {
                            int64_t w = wo * g->sw + dw - g->pl;
                            cr[wo] = w >= 0 && w < g->W ? xr[w] : 0.0f;
                        }
                    }
        float *yr = pc->y + row * g->Wo;
        ops_sgemm(0, 0, g->O, g->Wo, K, 1.0f, pc->c->w32, K, cols, g->Wo, 0.0f, yr, P);
        for (int64_t o = 0; o < g->O; o++) {
            float *yo = yr + o * P;
            if (pc->c->bias) for (int64_t wo = 0; wo < g->Wo; wo++) yo[wo] += pc->c->bias[o];
            ops_apply_act(yo, g->Wo, pc->act);
        }
    }
}

int loom_conv_forward(loom_conv *c, const float *x, int64_t T, int64_t H, int64_t W, float *y, loom_act act,
                      loom_error *err)
{
    conv_geom g = c->g;
    geom_extents(&g, T, H, W);
    if (T <= 0 || H <= 0 || W <= 0 || g.To <= 0 || g.Ho <= 0 || g.Wo <= 0)
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "conv: input %lldx%lldx%lld is smaller than the %lldx%lldx%lld kernel after padding",
                           (long long)T, (long long)H, (long long)W, (long long)g.kt, (long long)g.kh, (long long)g.kw);
#if defined(LOOM_X86_KERNELS)
    if (c->backend == LOOM_BACKEND_AMX) return amx_conv_forward(&c->amx, &g, x, c->bias, y, act, err);
#endif
    pconv_ctx pc = {c, &g, x, y, act};
    loom_parallel_for(g.To * g.Ho, pconv_task, &pc);
    return 0;
}
