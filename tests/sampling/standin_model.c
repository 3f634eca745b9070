/* standin_model.c: see standin_model.h. */
#include <stdlib.h>
#include <string.h>

#include "../support/fixture.h"
#include "standin_model.h"

static loom_tensor *coef[4];   /* A_c, B_c, A_u, B_u */

bool standin_load(void)
{
    static const char *const names[4] = {"A_c", "B_c", "A_u", "B_u"};
    loom_safetensors *st = fixture_open("sampler/trajectories.safetensors");
    bool ok = st != NULL;
    for (int i = 0; ok && i < 4; i++)
        ok = (coef[i] = fixture_tensor(st, names[i])) != NULL;
    loom_safetensors_close(st);
    return ok;
}

void standin_unload(void)
{
    for (int i = 0; i < 4; i++) {
        loom_tensor_unref(coef[i]);
        coef[i] = NULL;
    }
}

typedef struct standin_run {
    standin_stats *stats;
    size_t         n;
    float          sign[8];
} standin_run;

static int standin_begin(void *impl, const loom_cond_entry *const *contexts, size_t n, void **run,
                         loom_error *err)
{
    standin_stats *stats = impl;
    if (n > 8)
        return loom_errorf(err, LOOM_ERR_INVALID, "stand-in: too many contexts");
    standin_run *r = calloc(1, sizeof *r);
    r->stats = stats;
    r->n = n;
    for (size_t i = 0; i < n; i++)
        r->sign[i] = ((const float *)contexts[i]->context->data)[0];
    if (stats) {
        stats->begins++;
        stats->begin_contexts = n;
    }
    *run = r;
    return LOOM_OK;
}

static int standin_predict(void *run, const loom_tensor *x, const float *timesteps,
                           const size_t *ctx_index, loom_tensor *v, loom_error *err)
{
    standin_run *r = run;
    int64_t batch = x->shape[0], item = loom_tensor_numel(x) / batch;
    if (!loom_tensor_same_shape(x, v))
        return loom_errorf(err, LOOM_ERR_INVALID, "stand-in: v is not shaped like x");
    if (r->stats && r->stats->predicts < STANDIN_MAX_CALLS) {
        r->stats->batch[r->stats->predicts] = (int)batch;
        r->stats->first_ctx_sign[r->stats->predicts] = r->sign[ctx_index[0]];
    }
    if (r->stats)
        r->stats->predicts++;
    const float *xs = x->data;
    float *vs = v->data;
    for (int64_t b = 0; b < batch; b++) {
        bool cond = r->sign[ctx_index[b]] > 0;
        const float *a = coef[cond ? 0 : 2]->data, *bb = coef[cond ? 1 : 3]->data;
        float sigma = timesteps[b];
        for (int64_t i = 0; i < item; i++) {
            int64_t j = b * item + i, k = i % STANDIN_ITEM;
            vs[j] = a[k] * xs[j] + bb[k] * sigma;
        }
    }
    return LOOM_OK;
}

static void standin_end(void *run)
{
    standin_run *r = run;
    if (r->stats)
        r->stats->ends++;
    free(r);
}

static const loom_model_vtbl standin_vtbl = {
    .family = "standin", .begin = standin_begin, .predict = standin_predict, .end = standin_end};

loom_value *standin_model_value(double shift, const loom_latent_format *format,
                                standin_stats *stats)
{
    loom_model_sampling sampling = {.shift = shift, .multiplier = 1.0};
    return loom_model_value(&standin_vtbl, stats, 0, &sampling, format);
}

loom_value *standin_conditioning(float sign)
{
    int64_t shape[3] = {1, 1, 1};
    loom_tensor *ctx = loom_tensor_new(LOOM_F32, 3, shape, NULL);
    ((float *)ctx->data)[0] = sign;
    return loom_conditioning_value(ctx, 1);
}
