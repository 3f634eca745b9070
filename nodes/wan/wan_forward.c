/* wan_forward.c: one DiT forward over a batch (spec 2.2): patch embedding, time
 * embedding, the blocks, the head and unpatchify.
 *
 * The B items share one latent grid and are stacked into one [B*L, D] residual stream
 * so that every matrix product runs once for the whole batch (the sampler's uncond + cond
 * pair is one call). The head modulates with the un-projected time embedding e (not e0):
 * (shift, scale) = head.modulation + e[b].
 */
#include "wan_dit.h"

int wan_dit_forward(wan_dit *m, const float *x, int64_t B, const wan_grid *g, const float *t,
                    const wan_context_kv *const *kv, const loom_rope3d *rope, loom_arena *a,
                    float *v, loom_error *err)
{
    const wan_config *c = &m->cfg;
    const int64_t D = c->dim, L = g->tokens, M = B * L;
    const int64_t P = (int64_t)c->patch[0] * c->patch[1] * c->patch[2];
    const int64_t in_feat = c->in_dim * P, out_feat = c->out_dim * P;
    const int64_t in_volume = c->in_dim * g->T * g->H * g->W, out_volume = c->out_dim * g->T * g->H * g->W;
    size_t mark = loom_arena_mark(a);
    float *patches = loom_arena_f32(a, M * (in_feat > out_feat ? in_feat : out_feat)),
          *X = loom_arena_f32(a, M * D), *e = loom_arena_f32(a, B * D), *e0 = loom_arena_f32(a, B * 6 * D),
          *y = loom_arena_f32(a, M * D), *mod = loom_arena_f32(a, 2 * D);
    int rc = LOOM_OK;
    if (!patches || !X || !e || !e0 || !y || !mod) {
        rc = loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for a DiT forward of %lld tokens", (long long)M);
        goto done;
    }
    if (loom_rope3d_tokens(rope) != L) {
        rc = loom_errorf(err, LOOM_ERR_INVALID, "RoPE table has %lld tokens, the grid %lld",
                         (long long)loom_rope3d_tokens(rope), (long long)L);
        goto done;
    }
    for (int64_t i = 0; i < B; i++)
        wan_patchify(c, g, x + i * in_volume, patches + i * L * in_feat);
    if ((rc = loom_linear_forward(m->patch_embed, patches, M, X))) {
        rc = loom_errorf(err, rc, "patch embedding: matrix product failed");
        goto done;
    }
    if ((rc = wan_time_embed(m, t, B, e, e0, a, err)))
        goto done;

    wan_batch batch = {.B = B, .L = L, .x = X, .e0 = e0, .kv = kv, .rope = rope, .arena = a};
    for (int l = 0; l < c->num_layers; l++)
        if ((rc = wan_block_forward(m, l, &batch, err)))
            goto done;

    for (int64_t i = 0; i < B; i++) {
        for (int64_t j = 0; j < 2 * D; j++)
            mod[j] = m->head_modulation[j] + e[i * D + j % D];
        loom_adaln(X + i * L * D, L, D, mod, mod + D, 0, WAN_NORM_EPS, y + i * L * D);
    }
    if ((rc = loom_linear_forward(m->head, y, M, patches))) {
        rc = loom_errorf(err, rc, "head: matrix product failed");
        goto done;
    }
    for (int64_t i = 0; i < B; i++)
        wan_unpatchify(c, g, patches + i * L * out_feat, v + i * out_volume);
done:
    loom_arena_reset(a, mark);
    return rc;
}
