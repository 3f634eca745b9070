/* vae_blocks.c: building and running the Wan VAE's convs, residual, attention and
 * resample blocks (see vae_blocks.h; the math is spec wan.md 4.2 and 4.4). */
#include "vae_blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int conv_shape(vae_conv_role role, int64_t cin, int64_t want[5])
{
    static const int64_t k3[5] = {-1, 0, 3, 3, 3}, k1[5] = {-1, 0, 1, 1, 1}, k2[4] = {-1, 0, 3, 3},
                         kt[5] = {-1, 0, 3, 1, 1};
    const int64_t *src = role == VAE_CONV_CAUSAL ? k3
                       : role == VAE_CONV_POINT  ? k1
                       : role == VAE_CONV_UP_SPATIAL || role == VAE_CONV_DOWN_SPATIAL ? k2
                                                 : kt;
    int ndim = src == k2 ? 4 : 5;
    memcpy(want, src, (size_t)ndim * sizeof *want);
    want[1] = cin;
    if (role == VAE_CONV_UP_TIME)
        want[0] = 2 * cin;
    if (role == VAE_CONV_DOWN_TIME)
        want[0] = cin;
    return ndim;
}

int vae_conv_build(vae_conv *c, vae_build *b, const char *prefix, vae_conv_role role, int64_t cin,
                   loom_error *err)
{
    char name[192];
    int64_t want[5];
    int ndim = conv_shape(role, cin, want);
    *c = (vae_conv){.role = role, .cin = cin, .slot = -1};
    snprintf(name, sizeof name, "%s.weight", prefix);
    loom_tensor *w = vae_weights_get(b->w, name, ndim, want, err);
    if (!w)
        return err->code;
    c->cout = w->shape[0];
    snprintf(name, sizeof name, "%s.bias", prefix);
    loom_tensor *bias = vae_weights_get(b->w, name, 1, &c->cout, err);
    if (!bias) {
        loom_tensor_unref(w);
        return err->code;
    }
    loom_conv_params p = {.precision = b->precision};
    if (role == VAE_CONV_CAUSAL || role == VAE_CONV_UP_SPATIAL)
        p.pad_top = p.pad_bottom = p.pad_left = p.pad_right = 1;
    if (role == VAE_CONV_DOWN_SPATIAL) {
        p.stride[1] = p.stride[2] = 2;
        p.pad_bottom = p.pad_right = 1;
    }
    if (role == VAE_CONV_DOWN_TIME)
        p.stride[0] = 2;
    if (role == VAE_CONV_CAUSAL || role == VAE_CONV_UP_TIME || role == VAE_CONV_DOWN_TIME)
        c->slot = b->n_slots++;
    c->op = loom_conv_new(w, bias, &p, err);
    loom_tensor_unref(w);
    loom_tensor_unref(bias);
    return c->op ? LOOM_OK : err->code;
}

void vae_conv_free(vae_conv *c)
{
    loom_conv_free(c->op);
    c->op = NULL;
}

int vae_conv_forward(const vae_conv *c, vae_cache *cache, vae_act *x, vae_act *y, loom_act act,
                     loom_error *err)
{
    vae_act in = *x;
    *x = (vae_act){0};
    int rc = LOOM_OK;
    if (c->slot >= 0) {
        int keep = c->role == VAE_CONV_DOWN_TIME ? 1 : 2;
        vae_act joined = {0};
        rc = vae_frames_concat(cache, c->slot, &in, keep, &joined, err);
        in = joined;
    }
    int64_t To, Ho, Wo;
    if (!rc) {
        loom_conv_out_shape(c->op, in.T, in.H, in.W, &To, &Ho, &Wo);
        rc = To < 1 ? loom_errorf(err, LOOM_ERR_INVALID, "VAE: a %lldx%lld chunk is too small to convolve",
                                  (long long)in.H, (long long)in.W)
                    : vae_act_alloc(cache, y, c->cout, To, Ho, Wo, err);
    }
    if (!rc) {
        rc = loom_conv_forward(c->op, in.d, in.T, in.H, in.W, y->d, act, err);
        if (rc)
            vae_act_free(cache, y);
    }
    vae_act_free(cache, &in);
    return rc;
}

float *vae_gamma_load(vae_build *b, const char *name, int64_t C, int ndim, loom_error *err)
{
    int64_t want[4] = {C, 1, 1, 1};
    loom_tensor *g = vae_weights_get(b->w, name, ndim, want, err);
    if (!g)
        return NULL;
    float *out = malloc((size_t)C * sizeof *out);
    if (out)
        loom_convert_to_f32(g->dtype, g->data, out, C);
    else
        loom_errorf(err, LOOM_ERR_NOMEM, "VAE: out of memory loading '%s'", name);
    loom_tensor_unref(g);
    return out;
}

static int residual_build(vae_block *blk, vae_build *b, const char *prefix, int64_t cin, loom_error *err)
{
    char name[192];
    blk->kind = VAE_BLOCK_RESIDUAL;
    snprintf(name, sizeof name, "%s.residual.0.gamma", prefix);
    if (!(blk->gamma1 = vae_gamma_load(b, name, cin, 4, err)))
        return err->code;
    snprintf(name, sizeof name, "%s.residual.2", prefix);
    int rc = vae_conv_build(&blk->conv1, b, name, VAE_CONV_CAUSAL, cin, err);
    if (rc)
        return rc;
    blk->cout = blk->conv1.cout;
    snprintf(name, sizeof name, "%s.residual.3.gamma", prefix);
    if (!(blk->gamma2 = vae_gamma_load(b, name, blk->cout, 4, err)))
        return err->code;
    snprintf(name, sizeof name, "%s.residual.6", prefix);
    if ((rc = vae_conv_build(&blk->conv2, b, name, VAE_CONV_CAUSAL, blk->cout, err)))
        return rc;
    if (blk->conv2.cout != blk->cout)
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE: '%s' has %lld output channels, expected %lld",
                           name, (long long)blk->conv2.cout, (long long)blk->cout);
    snprintf(name, sizeof name, "%s.shortcut.weight", prefix);
    if (!vae_weights_has(b->w, name)) {
        if (cin == blk->cout)
            return LOOM_OK;
        char key[256];
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE file '%s' lacks tensor '%s' (%lld -> %lld channels)",
                           loom_safetensors_path(b->w->st), vae_weights_key(b->w, name, key, sizeof key),
                           (long long)cin, (long long)blk->cout);
    }
    snprintf(name, sizeof name, "%s.shortcut", prefix);
    if ((rc = vae_conv_build(&blk->shortcut, b, name, VAE_CONV_POINT, cin, err)))
        return rc;
    if (blk->shortcut.cout != blk->cout)
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE: '%s' has %lld output channels, expected %lld",
                           name, (long long)blk->shortcut.cout, (long long)blk->cout);
    return LOOM_OK;
}

static int resample_build(vae_block *blk, vae_build *b, const char *prefix, int64_t cin, bool decoder,
                          loom_error *err)
{
    char name[192];
    snprintf(name, sizeof name, "%s.time_conv.weight", prefix);
    bool temporal = vae_weights_has(b->w, name);
    blk->kind = decoder ? (temporal ? VAE_BLOCK_UP3D : VAE_BLOCK_UP2D)
                        : (temporal ? VAE_BLOCK_DOWN3D : VAE_BLOCK_DOWN2D);
    int rc;
    if (temporal) {
        snprintf(name, sizeof name, "%s.time_conv", prefix);
        rc = vae_conv_build(&blk->time, b, name, decoder ? VAE_CONV_UP_TIME : VAE_CONV_DOWN_TIME, cin, err);
        if (rc)
            return rc;
    }
    snprintf(name, sizeof name, "%s.resample.1", prefix);
    rc = vae_conv_build(&blk->spatial, b, name, decoder ? VAE_CONV_UP_SPATIAL : VAE_CONV_DOWN_SPATIAL,
                        cin, err);
    blk->cout = blk->spatial.cout;
    return rc;
}

int vae_block_build(vae_block *blk, vae_build *b, const char *prefix, int64_t cin, bool decoder,
                    loom_error *err)
{
    char name[192];
    *blk = (vae_block){.cin = cin, .precision = b->precision};
    snprintf(name, sizeof name, "%s.residual.0.gamma", prefix);
    if (vae_weights_has(b->w, name))
        return residual_build(blk, b, prefix, cin, err);
    snprintf(name, sizeof name, "%s.resample.1.weight", prefix);
    if (vae_weights_has(b->w, name))
        return resample_build(blk, b, prefix, cin, decoder, err);
    char key[256];
    return loom_errorf(err, LOOM_ERR_INVALID, "VAE file '%s': '%s' is neither a residual block nor a resample",
                       loom_safetensors_path(b->w->st), vae_weights_key(b->w, prefix, key, sizeof key));
}

/* nn.Conv2d 1x1 weight [O, I, 1, 1] as the linear layer it is. */
static loom_linear *pointwise_linear(vae_build *b, const char *prefix, int64_t out, int64_t in,
                                     loom_error *err)
{
    char name[192];
    int64_t want[4] = {out, in, 1, 1};
    snprintf(name, sizeof name, "%s.weight", prefix);
    loom_tensor *w = vae_weights_get(b->w, name, 4, want, err);
    snprintf(name, sizeof name, "%s.bias", prefix);
    loom_tensor *bias = w ? vae_weights_get(b->w, name, 1, want, err) : NULL;
    loom_tensor *w2 = bias ? loom_tensor_wrap(w->dtype, 2, want, w->data, NULL, NULL, err) : NULL;
    loom_linear_opts opts = {.precision = b->precision};
    loom_linear *l = w2 ? loom_linear_new_ex(w2, bias, &opts, err) : NULL;
    loom_tensor_unref(w2);
    loom_tensor_unref(bias);
    loom_tensor_unref(w);
    return l;
}

int vae_attention_build(vae_block *blk, vae_build *b, const char *prefix, int64_t C, loom_error *err)
{
    char name[192];
    *blk = (vae_block){.kind = VAE_BLOCK_ATTENTION, .cin = C, .cout = C, .precision = b->precision};
    snprintf(name, sizeof name, "%s.norm.gamma", prefix);
    if (!(blk->gamma1 = vae_gamma_load(b, name, C, 3, err)))
        return err->code;
    snprintf(name, sizeof name, "%s.to_qkv", prefix);
    if (!(blk->qkv = pointwise_linear(b, name, 3 * C, C, err)))
        return err->code;
    snprintf(name, sizeof name, "%s.proj", prefix);
    if (!(blk->proj = pointwise_linear(b, name, C, C, err)))
        return err->code;
    return LOOM_OK;
}

void vae_block_free(vae_block *blk)
{
    free(blk->gamma1);
    free(blk->gamma2);
    vae_conv_free(&blk->conv1);
    vae_conv_free(&blk->conv2);
    vae_conv_free(&blk->shortcut);
    vae_conv_free(&blk->spatial);
    vae_conv_free(&blk->time);
    loom_linear_free(blk->qkv);
    loom_linear_free(blk->proj);
    *blk = (vae_block){0};
}

/* RMS -> SiLU -> conv -> RMS -> SiLU -> conv, plus the (1x1x1 conv'd) input. */
static int residual_forward(const vae_block *blk, vae_cache *cache, vae_act *x, loom_error *err)
{
    vae_act h, a = {0}, y = {0}, s = {0};
    int rc = vae_act_alloc(cache, &h, x->C, x->T, x->H, x->W, err);
    if (rc)
        return rc;
    int64_t P = x->T * x->H * x->W;
    loom_channel_rmsnorm(x->d, x->C, P, blk->gamma1, LOOM_ACT_SILU, h.d);
    if ((rc = vae_conv_forward(&blk->conv1, cache, &h, &a, LOOM_ACT_NONE, err)))
        return rc;
    loom_channel_rmsnorm(a.d, a.C, P, blk->gamma2, LOOM_ACT_SILU, a.d);
    if ((rc = vae_conv_forward(&blk->conv2, cache, &a, &y, LOOM_ACT_NONE, err)))
        return rc;
    if (blk->shortcut.op) {
        if ((rc = vae_conv_forward(&blk->shortcut, cache, x, &s, LOOM_ACT_NONE, err))) {
            vae_act_free(cache, &y);
            return rc;
        }
        loom_residual_gate(y.d, s.d, 1, vae_act_numel(&y), 0, NULL, 0);
        vae_act_free(cache, &s);
    } else {
        loom_residual_gate(y.d, x->d, 1, vae_act_numel(&y), 0, NULL, 0);
        vae_act_free(cache, x);
    }
    *x = y;
    return LOOM_OK;
}

/* Single-head spatial self-attention over each frame's H*W positions, plus the input. */
static int attention_forward(const vae_block *blk, vae_cache *cache, vae_act *x, loom_error *err)
{
    int64_t C = x->C, T = x->T, HW = x->H * x->W;
    vae_act n;
    int rc = vae_act_alloc(cache, &n, C, T, x->H, x->W, err);
    if (rc)
        return rc;
    loom_channel_rmsnorm(x->d, C, T * HW, blk->gamma1, LOOM_ACT_NONE, n.d);
    float *tok = loom_aligned_alloc((size_t)(HW * C * 6) * sizeof(float));
    if (!tok) {
        vae_act_free(cache, &n);
        return loom_errorf(err, LOOM_ERR_NOMEM, "VAE: out of memory in the attention block");
    }
    float *qkv = tok + HW * C, *att = qkv + 3 * HW * C, *prj = tok;   /* prj reuses tok */
    for (int64_t t = 0; t < T; t++) {
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++)
                tok[p * C + c] = n.d[(c * T + t) * HW + p];
        if (loom_linear_forward(blk->qkv, tok, HW, qkv)) {
            rc = loom_errorf(err, LOOM_ERR_RUNTIME, "VAE: the attention's qkv projection failed");
            break;
        }
        loom_attention_params ap = {.sq = HW, .sk = HW, .heads = 1, .head_dim = (int)C,
                                    .q = qkv, .q_stride = 3 * C, .k = qkv + C, .k_stride = 3 * C,
                                    .v = qkv + 2 * C, .v_stride = 3 * C, .out = att, .out_stride = C,
                                    .precision = blk->precision};
        if ((rc = loom_attention(&ap, err)))
            break;
        if (loom_linear_forward(blk->proj, att, HW, prj)) {
            rc = loom_errorf(err, LOOM_ERR_RUNTIME, "VAE: the attention's output projection failed");
            break;
        }
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++)
                x->d[(c * T + t) * HW + p] += prj[p * C + c];
    }
    loom_aligned_free(tok);
    vae_act_free(cache, &n);
    return rc;
}

/* [2C, T] time_conv output -> [C, 2T]: frame t's first C channels become frame 2t, the
 * other C frame 2t+1. */
static int interleave_time(vae_cache *cache, vae_act *x, loom_error *err)
{
    int64_t C = x->C / 2, T = x->T, HW = x->H * x->W;
    vae_act y;
    int rc = vae_act_alloc(cache, &y, C, 2 * T, x->H, x->W, err);
    if (rc)
        return rc;
    for (int64_t t = 0; t < T; t++)
        for (int half = 0; half < 2; half++)
            vae_copy_frames(y.d, 2 * T, 2 * t + half, x->d + half * C * T * HW, T, t, 1, C, HW);
    vae_act_free(cache, x);
    *x = y;
    return LOOM_OK;
}

/* up3d's time step: the first chunk (frame 0) passes through, neither doubled nor
 * convolved; later chunks go through time_conv, whose cache starts from zeros then. */
static int double_frames(const vae_block *blk, vae_cache *cache, vae_act *x, loom_error *err)
{
    vae_frames *slot = &cache->slot[blk->time.slot];
    if (!slot->started) {
        slot->started = true;
        return LOOM_OK;
    }
    vae_act y = {0};
    int rc = vae_conv_forward(&blk->time, cache, x, &y, LOOM_ACT_NONE, err);
    *x = y;
    return rc ? rc : interleave_time(cache, x, err);
}

static int resample_forward(const vae_block *blk, vae_cache *cache, vae_act *x, loom_error *err)
{
    vae_act y = {0};
    int rc;
    switch (blk->kind) {
    case VAE_BLOCK_DOWN2D:
    case VAE_BLOCK_DOWN3D:
        if ((rc = vae_conv_forward(&blk->spatial, cache, x, &y, LOOM_ACT_NONE, err)))
            return rc;
        *x = y;
        if (blk->kind == VAE_BLOCK_DOWN3D) {
            vae_frames *slot = &cache->slot[blk->time.slot];
            if (!slot->started) {          /* the first frame bypasses time_conv */
                slot->started = true;
                return vae_frames_remember(slot, x, 1, err);
            }
            if ((rc = vae_conv_forward(&blk->time, cache, x, &y, LOOM_ACT_NONE, err)))
                return rc;
            *x = y;
        }
        return LOOM_OK;
    case VAE_BLOCK_UP3D:
        if ((rc = double_frames(blk, cache, x, err)))
            return rc;
        /* FALLTHROUGH - the spatial x2 of up3d is up2d's */
    case VAE_BLOCK_UP2D:
        if ((rc = vae_act_alloc(cache, &y, x->C, x->T, 2 * x->H, 2 * x->W, err)))
            return rc;
        loom_upsample_nearest2x(x->d, x->C * x->T, x->H, x->W, y.d);
        vae_act_free(cache, x);
        *x = y;
        if ((rc = vae_conv_forward(&blk->spatial, cache, x, &y, LOOM_ACT_NONE, err)))
            return rc;
        *x = y;
        return LOOM_OK;
    default:
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE: not a resample block");
    }
}

int vae_block_forward(const vae_block *blk, vae_cache *cache, vae_act *x, loom_error *err)
{
    switch (blk->kind) {
    case VAE_BLOCK_RESIDUAL:
        return residual_forward(blk, cache, x, err);
    case VAE_BLOCK_ATTENTION:
        return attention_forward(blk, cache, x, err);
    default:
        return resample_forward(blk, cache, x, err);
    }
}
