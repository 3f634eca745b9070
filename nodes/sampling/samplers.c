/* samplers.c: the sampler table and the helpers every sampler uses (samplers.h). */
#include <string.h>

#include "samplers.h"

const char *const comfy_sampler_names[] = {"euler", "euler_ancestral", "heun", "dpmpp_2m",
                                           "lcm", "uni_pc", "uni_pc_bh2", NULL};

static const sampler_def samplers[] = {
    {"euler", sample_euler, 0},
    {"euler_ancestral", sample_euler_ancestral, 0},
    {"heun", sample_heun, 0},
    {"dpmpp_2m", sample_dpmpp_2m, 0},
    {"lcm", sample_lcm, 0},
    {"uni_pc", sample_uni_pc, 1},
    {"uni_pc_bh2", sample_uni_pc_bh2, 1},
    {"unipc_flow", sample_unipc_flow, 0},
};

const sampler_def *sampler_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof samplers / sizeof *samplers; i++)
        if (!strcmp(samplers[i].name, name))
            return &samplers[i];
    return NULL;
}

loom_value *sampler_value(const sampler_def *def)
{
    /* The definition is static: the value only names it. */
    return loom_value_object(SAMPLER_TYPE, (void *)def, NULL, sizeof *def);
}

int sample_denoise(sample_run *run, const loom_tensor *x, size_t i, loom_tensor *out,
                   loom_error *err)
{
    run->evaluations++;
    float sigma = run->sched->sigmas[i], timestep = schedule_timestep(run->sched, i, run->multiplier);
    if (!run->mask)
        return guider_denoise(run->guider, x, sigma, timestep, out, err);
    const float *m = run->mask->data, *lat = run->mask_latent->data, *noise = run->mask_noise->data;
    const float *xs = x->data;
    float *xm = run->mask_x->data, *o = out->data;
    int64_t n = loom_tensor_numel(x);
    for (int64_t j = 0; j < n; j++)
        xm[j] = xs[j] * m[j] + (sigma * noise[j] + (1.0f - sigma) * lat[j]) * (1.0f - m[j]);
    int rc = guider_denoise(run->guider, run->mask_x, sigma, timestep, out, err);
    for (int64_t j = 0; !rc && j < n; j++)
        o[j] = o[j] * m[j] + lat[j] * (1.0f - m[j]);
    return rc;
}

int sample_step_done(sample_run *run, int step, loom_error *err)
{
    int total = (int)run->sched->n - 1;
    int64_t bad = loom_tensor_first_nonfinite(run->denoised);
    if (bad >= 0)
        return loom_errorf(err, LOOM_ERR_RUNTIME,
                           "the model's prediction at step %d of %d holds NaN or Inf (first at "
                           "element %lld): the model's weights or its inputs are broken",
                           step + 1, total, (long long)bad);
    if (run->on_step && run->on_step(run->user, step, total))
        return loom_errorf(err, LOOM_ERR_INTERRUPTED, "interrupted at step %d of %d", step + 1,
                           total);
    return LOOM_OK;
}

loom_tensor *sample_scratch(const loom_tensor *x, loom_error *err)
{
    return loom_tensor_new_like(x, LOOM_F32, err);
}

int sample_alloc_status(const loom_error *err)
{
    return err && err->code != LOOM_OK ? (int)err->code : LOOM_ERR_NOMEM;
}
