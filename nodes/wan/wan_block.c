/* wan_block.c: one Wan transformer block over a batch (spec 2.2 step 4), and the
 * per-context cross-attention keys and values it reads.
 *
 *   (sh1, sc1, g1, sh2, sc2, g2) = modulation + e0[b]            per item
 *   X += g1 * Wo . SelfAttn(RoPE(RMS(Wq y)), RoPE(RMS(Wk y)), Wv y),  y = LN(X)(1+sc1)+sh1
 *   X += Wo' . CrossAttn(RMS(Wq' norm3(X)), K_ctx, V_ctx)
 *   X += g2 * W2 . gelu_tanh(W1 y),                                y = LN(X)(1+sc2)+sh2
 *
 * The matrix products run once over all B*L rows; modulation, RoPE and attention run per
 * item, since each item has its own timestep and context. K_ctx / V_ctx come from
 * wan_context_kv, computed once per sampling run. Temporaries live in the batch's arena
 * and are released when the block returns.
 */
#include <stdlib.h>
#include <string.h>

#include "wan_dit.h"

enum { MOD_SHIFT1, MOD_SCALE1, MOD_GATE1, MOD_SHIFT2, MOD_SCALE2, MOD_GATE2, MOD_ROWS };

static int attend(wan_dit *m, const float *q, const float *k, const float *v, int64_t sq, int64_t sk,
                  float *out, loom_arena *a, loom_error *err)
{
    loom_attention_params p = {
        .sq = sq, .sk = sk, .heads = m->cfg.num_heads, .head_dim = m->cfg.head_dim,
        .q = q, .k = k, .v = v, .out = out, .precision = m->precision, .scratch = a};
    return loom_attention(&p, err);
}

/* rc of a loom_linear_* call, with the message the ops layer does not write */
static int product(int rc, loom_error *err)
{
    return rc ? loom_errorf(err, rc, "DiT block: matrix product failed") : LOOM_OK;
}

static int linear(loom_linear *l, const float *x, int64_t M, float *y, loom_error *err)
{
    return product(loom_linear_forward(l, x, M, y), err);
}

int wan_block_forward(wan_dit *m, int layer, const wan_batch *b, loom_error *err)
{
    wan_block_weights *w = &m->blocks[layer];
    const int64_t D = m->cfg.dim, L = b->L, M = b->B * L;
    loom_arena *a = b->arena;
    size_t mark = loom_arena_mark(a);
    float *mod = loom_arena_f32(a, b->B * MOD_ROWS * D), *y = loom_arena_f32(a, M * D),
          *q = loom_arena_f32(a, M * D), *k = loom_arena_f32(a, M * D), *v = loom_arena_f32(a, M * D);
    int rc = LOOM_OK;
    if (!mod || !y || !q || !k || !v) {
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "out of memory in DiT block %d", layer);
        goto done;
    }
    for (int64_t i = 0; i < b->B * MOD_ROWS * D; i++)
        mod[i] = w->modulation[i % (MOD_ROWS * D)] + b->e0[i];
#define MOD(item, row) (mod + ((item) * MOD_ROWS + (row)) * D)

    /* self-attention */
    for (int64_t i = 0; i < b->B; i++)
        loom_adaln(b->x + i * L * D, L, D, MOD(i, MOD_SHIFT1), MOD(i, MOD_SCALE1), 0, WAN_NORM_EPS,
                   y + i * L * D);
    loom_linear *qkv[3] = {w->self_q, w->self_k, w->self_v};
    float *qkv_out[3] = {q, k, v};
    if ((rc = product(loom_linear_forward_group(qkv, 3, y, M, D, qkv_out), err)))
        goto done;
    loom_rmsnorm(q, M, D, w->self_norm_q, WAN_NORM_EPS, q);
    loom_rmsnorm(k, M, D, w->self_norm_k, WAN_NORM_EPS, k);
    for (int64_t i = 0; i < b->B; i++) {
        loom_rope3d_apply(b->rope, q + i * L * D, 0, L, m->cfg.num_heads, 0);
        loom_rope3d_apply(b->rope, k + i * L * D, 0, L, m->cfg.num_heads, 0);
        if ((rc = attend(m, q + i * L * D, k + i * L * D, v + i * L * D, L, L, y + i * L * D, a, err)))
            goto done;
    }
    if ((rc = linear(w->self_o, y, M, q, err)))
        goto done;
    for (int64_t i = 0; i < b->B; i++)
        loom_residual_gate(b->x + i * L * D, q + i * L * D, L, D, 0, MOD(i, MOD_GATE1), 0);

    /* cross-attention: no modulation, no gate; the output projection adds into X */
    loom_layernorm(b->x, M, D, w->norm3_weight, w->norm3_bias, WAN_NORM_EPS, y);
    if ((rc = linear(w->cross_q, y, M, q, err)))
        goto done;
    loom_rmsnorm(q, M, D, w->cross_norm_q, WAN_NORM_EPS, q);
    for (int64_t i = 0; i < b->B; i++) {
        const wan_context_kv *kv = b->kv[i];
        const int64_t off = (int64_t)layer * kv->rows * D;
        if ((rc = attend(m, q + i * L * D, kv->k + off, kv->v + off, L, kv->rows, y + i * L * D, a, err)))
            goto done;
    }
    if ((rc = product(loom_linear_forward_ex(w->cross_o, y, M, D, b->x, D, LOOM_ACT_NONE, LOOM_LINEAR_ACCUMULATE),
                      err)))
        goto done;

    /* feed-forward */
    for (int64_t i = 0; i < b->B; i++)
        loom_adaln(b->x + i * L * D, L, D, MOD(i, MOD_SHIFT2), MOD(i, MOD_SCALE2), 0, WAN_NORM_EPS,
                   y + i * L * D);
    if ((rc = product(loom_linear_forward_pair(w->ffn_in, LOOM_ACT_GELU_TANH, w->ffn_out, y, M, D, q, D, 0), err)))
        goto done;
    for (int64_t i = 0; i < b->B; i++)
        loom_residual_gate(b->x + i * L * D, q + i * L * D, L, D, 0, MOD(i, MOD_GATE2), 0);
#undef MOD
done:
    loom_arena_reset(a, mark);
    return rc;
}

/* ---- cross-attention keys and values of one context ---------------------------------- */

int wan_context_kv_init(wan_dit *m, const loom_tensor *context, wan_context_kv *kv, loom_arena *a,
                        loom_error *err)
{
    const int64_t D = m->cfg.dim, n = context->ndim == 3 ? context->shape[1] : 0;
    memset(kv, 0, sizeof *kv);
    if (context->dtype != LOOM_F32 || context->ndim != 3 || context->shape[0] != 1 ||
        context->shape[2] != m->cfg.text_dim || n <= 0) {
        char d[128];
        return loom_errorf(err, LOOM_ERR_INVALID, "conditioning context is %s; this DiT expects [1, n, %lld] f32",
                           loom_tensor_describe(context, d, sizeof d), (long long)m->cfg.text_dim);
    }
    size_t mark = loom_arena_mark(a);
    size_t bytes = (size_t)m->cfg.num_layers * (size_t)n * (size_t)D * sizeof(float);
    float *h = loom_arena_f32(a, n * D), *c = loom_arena_f32(a, n * D);
    kv->rows = n;
    kv->k = loom_aligned_alloc(bytes);
    kv->v = loom_aligned_alloc(bytes);
    int rc = LOOM_OK;
    if (!h || !c || !kv->k || !kv->v) {
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for the cross-attention keys of %lld context rows",
                         (long long)n);
        goto done;
    }
    /* text embedding: C = W2 gelu_tanh(W1 c + b1) + b2 */
    if ((rc = loom_linear_forward_ex(m->text_in, context->data, n, m->cfg.text_dim, h, D, LOOM_ACT_GELU_TANH, 0)) ||
        (rc = linear(m->text_out, h, n, c, err)))
        goto done;
    for (int l = 0; l < m->cfg.num_layers; l++) {
        float *kl = kv->k + (int64_t)l * n * D, *vl = kv->v + (int64_t)l * n * D;
        if ((rc = linear(m->blocks[l].cross_k, c, n, kl, err)) || (rc = linear(m->blocks[l].cross_v, c, n, vl, err)))
            goto done;
        loom_rmsnorm(kl, n, D, m->blocks[l].cross_norm_k, WAN_NORM_EPS, kl);
    }
done:
    loom_arena_reset(a, mark);
    if (rc) {
        if (!err->code)
            loom_errorf(err, rc, "text embedding: matrix product failed");
        wan_context_kv_free(kv);
    }
    return rc;
}

void wan_context_kv_free(wan_context_kv *kv)
{
    loom_aligned_free(kv->k);
    loom_aligned_free(kv->v);
    kv->k = kv->v = NULL;
}
