/* samplers_kdiff.c: ComfyUI's k-diffusion samplers for a flow (CONST) model: euler,
 * euler_ancestral, heun, dpmpp_2m, lcm.
 *
 * Each loop is comfy/k_diffusion/sampling.py line for line with s_churn = 0, eta = 1,
 * s_noise = 1; scalars that are 0-d float32 tensors there are floats here, so the
 * rounding matches. For a CONST model d = (x - D)/sigma is the velocity, and
 * euler_ancestral takes ComfyUI's rectified-flow branch (sample_euler_ancestral_RF).
 * Stochastic samplers draw their noise from one torch generator seeded with seed + 1
 * (ComfyUI's default_noise_sampler on the CPU), one randn over the whole latent per step.
 */
#include <math.h>

#include "loom/random.h"
#include "samplers.h"

/* Shared state: the denoised buffer, a second scratch and the step count. */
typedef struct kloop {
    sample_run  *run;
    loom_tensor *x, *d;       /* d: scratch (derivative, or noise) */
    float       *xs, *ds, *den;
    int64_t      n;
    int          steps;
} kloop;

static int kloop_init(kloop *k, sample_run *run, loom_tensor *x, loom_error *err)
{
    *k = (kloop){.run = run, .x = x, .xs = x->data, .n = loom_tensor_numel(x),
                 .steps = run->sched->n > 0 ? (int)run->sched->n - 1 : 0};
    k->d = sample_scratch(x, err);
    if (!k->d)
        return sample_alloc_status(err);
    k->ds = k->d->data;
    k->den = run->denoised->data;
    return LOOM_OK;
}

static int kloop_done(kloop *k, int rc)
{
    loom_tensor_unref(k->d);
    return rc;
}

int sample_euler(sample_run *run, loom_tensor *x, loom_error *err)
{
    kloop k;
    int rc = kloop_init(&k, run, x, err);
    const float *s = run->sched->sigmas;
    for (int i = 0; !rc && i < k.steps; i++) {
        if ((rc = sample_denoise(run, x, (size_t)i, run->denoised, err)))
            break;
        float dt = s[i + 1] - s[i];
        for (int64_t j = 0; j < k.n; j++)
            k.xs[j] = k.xs[j] + ((k.xs[j] - k.den[j]) / s[i]) * dt;
        rc = sample_step_done(run, i, err);
    }
    return kloop_done(&k, rc);
}

int sample_euler_ancestral(sample_run *run, loom_tensor *x, loom_error *err)
{
    kloop k;
    int rc = kloop_init(&k, run, x, err);
    const float *s = run->sched->sigmas;
    loom_torch_generator ns;
    loom_torch_generator_seed(&ns, run->seed + 1);
    for (int i = 0; !rc && i < k.steps; i++) {
        if ((rc = sample_denoise(run, x, (size_t)i, run->denoised, err)))
            break;
        if (s[i + 1] == 0.0f) {
            for (int64_t j = 0; j < k.n; j++)
                k.xs[j] = k.den[j];
        } else {
            const float eta = 1.0f;
            float downstep_ratio = 1.0f + (s[i + 1] / s[i] - 1.0f) * eta;
            float sigma_down = s[i + 1] * downstep_ratio;
            float alpha_ip1 = 1.0f - s[i + 1], alpha_down = 1.0f - sigma_down;
            float renoise = sqrtf(s[i + 1] * s[i + 1] - sigma_down * sigma_down * alpha_ip1 *
                                  alpha_ip1 / (alpha_down * alpha_down));
            float ratio = sigma_down / s[i], keep = alpha_ip1 / alpha_down;
            loom_randn_next(&ns, k.ds, k.n);
            for (int64_t j = 0; j < k.n; j++) {
                float xj = ratio * k.xs[j] + (1.0f - ratio) * k.den[j];
                k.xs[j] = keep * xj + k.ds[j] * renoise;
            }
        }
        rc = sample_step_done(run, i, err);
    }
    return kloop_done(&k, rc);
}

int sample_heun(sample_run *run, loom_tensor *x, loom_error *err)
{
    kloop k;
    int rc = kloop_init(&k, run, x, err);
    const float *s = run->sched->sigmas;
    /* x2 and its D; run->denoised keeps the first-stage D, which ComfyUI reports. */
    loom_tensor *x2 = rc ? NULL : sample_scratch(x, err);
    loom_tensor *d2 = x2 ? sample_scratch(x, err) : NULL;
    if (!rc && !d2)
        rc = sample_alloc_status(err);
    for (int i = 0; !rc && i < k.steps; i++) {
        if ((rc = sample_denoise(run, x, (size_t)i, run->denoised, err)))
            break;
        float dt = s[i + 1] - s[i];
        for (int64_t j = 0; j < k.n; j++)
            k.ds[j] = (k.xs[j] - k.den[j]) / s[i];
        if (s[i + 1] == 0.0f) {
            for (int64_t j = 0; j < k.n; j++)
                k.xs[j] = k.xs[j] + k.ds[j] * dt;
        } else {
            float *x2s = x2->data;
            const float *d2s = d2->data;
            for (int64_t j = 0; j < k.n; j++)
                x2s[j] = k.xs[j] + k.ds[j] * dt;
            if ((rc = sample_denoise(run, x2, (size_t)i + 1, d2, err)))
                break;
            for (int64_t j = 0; j < k.n; j++) {
                float d_2 = (x2s[j] - d2s[j]) / s[i + 1];
                k.xs[j] = k.xs[j] + ((k.ds[j] + d_2) / 2.0f) * dt;
            }
        }
        rc = sample_step_done(run, i, err);
    }
    loom_tensor_unref(x2);
    loom_tensor_unref(d2);
    return kloop_done(&k, rc);
}

int sample_dpmpp_2m(sample_run *run, loom_tensor *x, loom_error *err)
{
    kloop k;
    int rc = kloop_init(&k, run, x, err);
    const float *s = run->sched->sigmas;
    float *old = k.ds;   /* the previous step's D */
    for (int i = 0; !rc && i < k.steps; i++) {
        if ((rc = sample_denoise(run, x, (size_t)i, run->denoised, err)))
            break;
        float t = -logf(s[i]), t_next = -logf(s[i + 1]);
        float h = t_next - t;
        float ratio = expf(-t_next) / expf(-t), mix = -expm1f(-h);
        if (i == 0 || s[i + 1] == 0.0f) {
            for (int64_t j = 0; j < k.n; j++)
                k.xs[j] = ratio * k.xs[j] + mix * k.den[j];
        } else {
            float h_last = t - -logf(s[i - 1]);
            float r = h_last / h, c = 1.0f / (2.0f * r);
            for (int64_t j = 0; j < k.n; j++)
                k.xs[j] = ratio * k.xs[j] + mix * ((1.0f + c) * k.den[j] - c * old[j]);
        }
        for (int64_t j = 0; j < k.n; j++)
            old[j] = k.den[j];
        rc = sample_step_done(run, i, err);
    }
    return kloop_done(&k, rc);
}

int sample_lcm(sample_run *run, loom_tensor *x, loom_error *err)
{
    kloop k;
    int rc = kloop_init(&k, run, x, err);
    const float *s = run->sched->sigmas;
    loom_torch_generator ns;
    loom_torch_generator_seed(&ns, run->seed + 1);
    for (int i = 0; !rc && i < k.steps; i++) {
        if ((rc = sample_denoise(run, x, (size_t)i, run->denoised, err)))
            break;
        if (s[i + 1] > 0.0f) {
            /* CONST noise_scaling: sigma·noise + (1 - sigma)·x0. */
            float sigma = s[i + 1];
            loom_randn_next(&ns, k.ds, k.n);
            for (int64_t j = 0; j < k.n; j++)
                k.xs[j] = sigma * k.ds[j] + (1.0f - sigma) * k.den[j];
        } else {
            for (int64_t j = 0; j < k.n; j++)
                k.xs[j] = k.den[j];
        }
        rc = sample_step_done(run, i, err);
    }
    return kloop_done(&k, rc);
}
