/* guider.c: CFG on denoised values with one batched predict per step (guider.h).
 *
 * The run owns a batch tensor [n_items · B, C, ...] that holds copies of x, one block per
 * conditioning entry (uncond entries first), and a velocity tensor of the same shape.
 * ctx_index maps every batch item to its context in the array handed to begin:
 * positive entries first, then negative ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guider.h"

static void guider_destroy(void *p)
{
    guider *g = p;
    loom_value_unref(g->model);
    loom_value_unref(g->positive);
    loom_value_unref(g->negative);
    free(g);
}

loom_value *guider_value(const loom_value *model, const loom_value *positive,
                         const loom_value *negative, double cfg)
{
    guider *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->model = loom_value_ref(model);
    g->positive = loom_value_ref(positive);
    g->negative = loom_value_ref(negative);
    g->cfg = cfg;
    return loom_value_object(GUIDER_TYPE, g, guider_destroy, sizeof *g);
}

const loom_model *guider_model(const guider *g)
{
    return loom_value_object_ptr(g->model, LOOM_TYPE_MODEL);
}

struct guider_run {
    const loom_model *model;
    void             *model_run;
    size_t            n_cond, n_uncond;   /* conditioning entries used */
    double            cfg;
    int64_t           batch;              /* latent batch B */
    int64_t           item;               /* elements per latent batch */
    loom_tensor      *x_batch, *v_batch;
    float            *timesteps;
    size_t           *ctx_index;
};

/* ComfyUI: math.isclose(cfg, 1.0) skips the uncond pass. */
static bool cfg_is_one(double cfg) { return fabs(cfg - 1.0) <= 1e-9 * fmax(1.0, fabs(cfg)); }

void guider_end(guider_run *r)
{
    if (!r)
        return;
    if (r->model_run)
        loom_model_end(r->model, r->model_run);
    loom_tensor_unref(r->x_batch);
    loom_tensor_unref(r->v_batch);
    free(r->timesteps);
    free(r->ctx_index);
    free(r);
}

int guider_begin(const guider *g, const loom_tensor *x, guider_run **out, loom_error *err)
{
    *out = NULL;
    const loom_model *m = guider_model(g);
    const loom_conditioning *pos = loom_value_object_ptr(g->positive, LOOM_TYPE_CONDITIONING);
    const loom_conditioning *neg =
        g->negative ? loom_value_object_ptr(g->negative, LOOM_TYPE_CONDITIONING) : NULL;
    if (!m || !pos)
        return loom_errorf(err, LOOM_ERR_INVALID, "the guider has no model or no positive conditioning");
    if (pos->n == 0 || (neg && neg->n == 0 && !cfg_is_one(g->cfg)))
        return loom_errorf(err, LOOM_ERR_INVALID, "empty conditioning: connect a text encoder output");
    if (x->dtype != LOOM_F32 || x->ndim < 2 || x->shape[0] < 1)
        return loom_errorf(err, LOOM_ERR_INVALID, "the latent must be f32 [B, C, ...]");

    guider_run *r = calloc(1, sizeof *r);
    if (!r)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    r->model = m;
    r->cfg = g->cfg;
    r->n_cond = pos->n;
    r->n_uncond = (neg && !cfg_is_one(g->cfg)) ? neg->n : 0;
    r->batch = x->shape[0];
    r->item = loom_tensor_numel(x) / r->batch;

    size_t n_ctx = r->n_cond + r->n_uncond;
    const loom_cond_entry **contexts = calloc(n_ctx, sizeof *contexts);
    size_t n_items = n_ctx * (size_t)r->batch;
    int64_t shape[LOOM_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = (int64_t)n_items;
    r->x_batch = loom_tensor_new(LOOM_F32, x->ndim, shape, err);
    r->v_batch = r->x_batch ? loom_tensor_new(LOOM_F32, x->ndim, shape, err) : NULL;
    r->timesteps = calloc(n_items, sizeof *r->timesteps);
    r->ctx_index = calloc(n_items, sizeof *r->ctx_index);
    if (!contexts || !r->v_batch || !r->timesteps || !r->ctx_index) {
        free(contexts);
        guider_end(r);
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for a %zu-item model batch", n_items);
    }
    for (size_t i = 0; i < r->n_cond; i++)
        contexts[i] = &pos->entries[i];
    for (size_t i = 0; i < r->n_uncond; i++)
        contexts[r->n_cond + i] = &neg->entries[i];
    /* Batch blocks: uncond entries first (ComfyUI's order), then cond entries. */
    size_t item = 0;
    for (size_t e = 0; e < r->n_uncond; e++)
        for (int64_t b = 0; b < r->batch; b++)
            r->ctx_index[item++] = r->n_cond + e;
    for (size_t e = 0; e < r->n_cond; e++)
        for (int64_t b = 0; b < r->batch; b++)
            r->ctx_index[item++] = e;

    int rc = loom_model_begin(m, contexts, n_ctx, &r->model_run, err);
    free(contexts);
    if (rc) {
        r->model_run = NULL;
        guider_end(r);
        return rc;
    }
    *out = r;
    return LOOM_OK;
}

/* Average of the denoised predictions of `n` consecutive conditioning blocks. */
static void mean_denoised(const guider_run *r, size_t first_block, size_t n, const float *x,
                          float sigma, float *out)
{
    int64_t len = r->batch * r->item;
    const float *v = r->v_batch->data;
    for (int64_t i = 0; i < len; i++) {
        float sum = 0.0f;
        for (size_t e = 0; e < n; e++)
            sum += x[i] - v[(first_block + e) * (size_t)len + (size_t)i] * sigma;
        out[i] = n == 1 ? sum : sum / (float)n;
    }
}

int guider_denoise(guider_run *r, const loom_tensor *x, float sigma, float timestep,
                   loom_tensor *denoised, loom_error *err)
{
    int64_t len = r->batch * r->item;
    size_t blocks = r->n_cond + r->n_uncond;
    if (loom_tensor_numel(x) != len || loom_tensor_numel(denoised) != len)
        return loom_errorf(err, LOOM_ERR_INVALID, "latent size changed during sampling");
    float *xb = r->x_batch->data;
    for (size_t k = 0; k < blocks; k++)
        memcpy(xb + k * (size_t)len, x->data, (size_t)len * sizeof(float));
    for (size_t i = 0; i < blocks * (size_t)r->batch; i++)
        r->timesteps[i] = timestep;
    int rc = loom_model_predict(r->model, r->model_run, r->x_batch, r->timesteps, r->ctx_index,
                                r->v_batch, err);
    if (rc)
        return rc;

    const float *xd = x->data;
    float *out = denoised->data;
    mean_denoised(r, r->n_uncond, r->n_cond, xd, sigma, out);   /* cond */
    if (r->n_uncond == 0)
        return LOOM_OK;
    /* uncond into the x batch (free now), then uncond + (cond - uncond) * cfg. */
    mean_denoised(r, 0, r->n_uncond, xd, sigma, xb);
    float cfg = (float)r->cfg;
    for (int64_t i = 0; i < len; i++)
        out[i] = xb[i] + (out[i] - xb[i]) * cfg;
    return LOOM_OK;
}
