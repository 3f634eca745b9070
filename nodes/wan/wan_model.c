/* wan_model.c: the Wan DiT behind loom's MODEL contract (loom/model.h).
 *
 * begin() embeds every context of the sampling run and computes its cross-attention keys
 * and values for all layers once (they do not depend on the step); predict() runs one
 * batched forward in which item b reads context ctx_index[b]; end() drops the run. A run
 * also keeps its activation arena and the RoPE table of the last latent grid, so steady
 * sampling steps allocate no activation memory. The MODEL value carries ComfyUI's WAN21_T2V defaults:
 * flow shift 8, timestep = sigma * 1000, and the Wan2.1 latent format (spec 4.5).
 */
#include <stdlib.h>
#include <string.h>

#include "loom/model.h"
#include "wan_dit.h"

static const float wan21_latent_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f,
                                            -0.1517f, 1.5508f,  0.4134f,  -0.0715f, 0.5517f,  -0.3632f,
                                            -0.1922f, -0.9497f, 0.2503f,  -0.2921f};
static const float wan21_latent_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f,
                                           2.6052f, 2.0743f, 3.2687f, 2.1526f, 2.8652f, 1.5579f,
                                           1.6382f, 1.1253f, 2.8251f, 1.9160f};

typedef struct wan_run {
    wan_dit        *m;
    size_t          n_ctx;
    wan_context_kv *kv;          /* [n_ctx] */
    loom_arena     *arena;
    wan_grid        grid;        /* of the cached RoPE table */
    loom_rope3d    *rope;
} wan_run;

static void run_end(void *p)
{
    wan_run *r = p;
    if (!r)
        return;
    for (size_t i = 0; r->kv && i < r->n_ctx; i++)
        wan_context_kv_free(&r->kv[i]);
    free(r->kv);
    loom_rope3d_free(r->rope);
    loom_arena_free(r->arena);
    free(r);
}

static int run_begin(void *impl, const loom_cond_entry *const *contexts, size_t n, void **out, loom_error *err)
{
    *out = NULL;
    wan_run *r = calloc(1, sizeof *r);
    if (!r || !(r->kv = calloc(n ? n : 1, sizeof *r->kv))) {
        free(r);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    }
    r->m = impl;
    if (!(r->arena = loom_arena_new(0, err))) {
        run_end(r);
        return err->code;
    }
    for (; r->n_ctx < n; r->n_ctx++) {
        int rc = wan_context_kv_init(r->m, contexts[r->n_ctx]->context, &r->kv[r->n_ctx], r->arena, err);
        if (rc) {
            run_end(r);
            return rc;
        }
    }
    *out = r;
    return LOOM_OK;
}

/* The latent as [B, C, T, H, W]; an image latent [B, C, H, W] is one frame. */
static int latent_dims(const loom_tensor *x, int64_t C, int64_t dims[5], const char *what, loom_error *err)
{
    if (x->dtype == LOOM_F32 && x->ndim == 5)
        memcpy(dims, x->shape, 5 * sizeof *dims);
    else if (x->dtype == LOOM_F32 && x->ndim == 4)
        dims[0] = x->shape[0], dims[1] = x->shape[1], dims[2] = 1, dims[3] = x->shape[2], dims[4] = x->shape[3];
    else
        dims[1] = -1;
    if (dims[1] != C) {
        char d[128];
        return loom_errorf(err, LOOM_ERR_INVALID, "Wan DiT: %s is %s, expected [B, %lld, T, H, W] f32", what,
                           loom_tensor_describe(x, d, sizeof d), (long long)C);
    }
    return LOOM_OK;
}

static int run_predict(void *p, const loom_tensor *x, const float *timesteps, const size_t *ctx_index,
                       loom_tensor *v, loom_error *err)
{
    wan_run *r = p;
    const wan_config *c = &r->m->cfg;
    int64_t xd[5], vd[5];
    int rc;
    if ((rc = latent_dims(x, c->in_dim, xd, "the input latent", err)) ||
        (rc = latent_dims(v, c->out_dim, vd, "the output", err)))
        return rc;
    if (vd[0] != xd[0] || vd[2] != xd[2] || vd[3] != xd[3] || vd[4] != xd[4])
        return loom_errorf(err, LOOM_ERR_INVALID, "Wan DiT: output shape does not match the input's batch and extents");
    const int64_t B = xd[0];
    for (int64_t b = 0; b < B; b++)
        if (ctx_index[b] >= r->n_ctx)
            return loom_errorf(err, LOOM_ERR_INVALID, "Wan DiT: item %lld asks for context %zu of %zu", (long long)b,
                               ctx_index[b], r->n_ctx);
    wan_grid g;
    if ((rc = wan_grid_init(&g, c, xd[2], xd[3], xd[4], err)))
        return rc;
    if (!r->rope || g.f != r->grid.f || g.h != r->grid.h || g.w != r->grid.w) {
        loom_rope3d_free(r->rope);
        if (!(r->rope = loom_rope3d_new(c->head_dim, g.f, g.h, g.w, 10000.0, err)))
            return err->code;
    }
    r->grid = g;
    const wan_context_kv **kv = malloc((size_t)B * sizeof *kv);
    if (!kv)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < B; b++)
        kv[b] = &r->kv[ctx_index[b]];
    rc = wan_dit_forward(r->m, x->data, B, &g, timesteps, kv, r->rope, r->arena, v->data, err);
    free(kv);
    return rc;
}

static void model_release(void *impl) { wan_dit_free(impl); }

static const loom_model_vtbl wan_vtbl = {
    .family = "wan2.1", .begin = run_begin, .predict = run_predict, .end = run_end, .release = model_release};

loom_value *wan_model_value(wan_dit *m, const loom_model_sampling *sampling)
{
    static const loom_model_sampling wan21_t2v = {.shift = 8.0, .multiplier = 1000.0};
    loom_latent_format format = {.channels = 16, .scale = 1.0f, .temporal_compression = 4,
                                 .spatial_compression = 8};
    memcpy(format.mean, wan21_latent_mean, sizeof wan21_latent_mean);
    memcpy(format.std, wan21_latent_std, sizeof wan21_latent_std);
    return loom_model_value(&wan_vtbl, m, m->bytes, sampling ? sampling : &wan21_t2v, &format);
}

wan_dit *wan_model_dit(const loom_model *model)
{
    return loom_model_vtbl_of(model) == &wan_vtbl ? loom_model_impl(model) : NULL;
}
