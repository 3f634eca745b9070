/* model.c: MODEL values — shared, refcounted weights under cheap per-patch views. */
#include <stdlib.h>

#include "loom/model.h"

struct loom_model_core {
    const loom_model_vtbl *vtbl;
    void                  *impl;
    size_t                 bytes;
    int                    refs;
};

static void core_unref(loom_model_core *c)
{
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        if (c->vtbl->release)
            c->vtbl->release(c->impl);
        free(c);
    }
}

static void model_free(void *p)
{
    loom_model *m = p;
    core_unref(m->core);
    free(m);
}

static loom_value *wrap(loom_model_core *core, const loom_model_sampling *sampling,
                        const loom_latent_format *format, size_t bytes)
{
    loom_model *m = calloc(1, sizeof *m);
    if (!m) {
        core_unref(core);
        return NULL;
    }
    m->core = core;
    m->sampling = *sampling;
    m->format = *format;
    return loom_value_object(LOOM_TYPE_MODEL, m, model_free, sizeof *m + bytes);
}

loom_value *loom_model_value(const loom_model_vtbl *vtbl, void *impl, size_t bytes,
                             const loom_model_sampling *sampling, const loom_latent_format *format)
{
    loom_model_core *c = calloc(1, sizeof *c);
    if (!c) {
        if (vtbl->release)
            vtbl->release(impl);
        return NULL;
    }
    *c = (loom_model_core){vtbl, impl, bytes, 1};
    return wrap(c, sampling, format, bytes);
}

loom_value *loom_model_patch(const loom_model *base, const loom_model_sampling *sampling)
{
    __atomic_add_fetch(&base->core->refs, 1, __ATOMIC_RELAXED);
    /* The weights are counted once, by the loader's value; a patch costs its own struct. */
    return wrap(base->core, sampling, &base->format, 0);
}

const loom_model *loom_in_model(loom_node_ctx *ctx, const char *name)
{
    return loom_in_object(ctx, name, LOOM_TYPE_MODEL);
}

const loom_model_vtbl *loom_model_vtbl_of(const loom_model *m) { return m->core->vtbl; }
void *loom_model_impl(const loom_model *m) { return m->core->impl; }

int loom_model_begin(const loom_model *m, const loom_cond_entry *const *contexts, size_t n,
                     void **run, loom_error *err)
{
    return m->core->vtbl->begin(m->core->impl, contexts, n, run, err);
}

int loom_model_predict(const loom_model *m, void *run, const loom_tensor *x,
                       const float *timesteps, const size_t *ctx_index, loom_tensor *v,
                       loom_error *err)
{
    return m->core->vtbl->predict(run, x, timesteps, ctx_index, v, err);
}

void loom_model_end(const loom_model *m, void *run)
{
    if (run && m->core->vtbl->end)
        m->core->vtbl->end(run);
}

double loom_model_sigma(const loom_model *m, double t)
{
    double s = m->sampling.shift;
    return s * t / (1.0 + (s - 1.0) * t);
}
