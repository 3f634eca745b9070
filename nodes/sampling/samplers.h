/* samplers.h: the sampler algorithms (SAMPLER values) and the run they share.
 *
 * A sampler walks x (float32, in the model's latent space, already noise-scaled) down the
 * schedule, asking the run for guided x0-predictions D(x, sigma_i) by schedule index, so
 * the run can hand the model the schedule's own timestep. After each step it reports
 * progress (where an interrupt is noticed and stops the run) and leaves the latest
 * x0-prediction in run->denoised (SamplerCustomAdvanced's denoised_output).
 *
 * ComfyUI's samplers are written as in comfy/k_diffusion/sampling.py for a CONST (flow)
 * model; "unipc_flow" is the diffusers / Wan FlowUniPC solver (wan.md §3.3).
 */
#ifndef LOOM_SAMPLING_SAMPLERS_H
#define LOOM_SAMPLING_SAMPLERS_H

#include <stdint.h>

#include "guider.h"
#include "schedule.h"

#define SAMPLER_TYPE "SAMPLER"

typedef struct sample_run {
    guider_run           *guider;
    const sigma_schedule *sched;
    double                multiplier;   /* timestep = sigma · multiplier when not carried */
    uint64_t              seed;         /* the seed ancestral noise derives from */
    /* Called after step `step` (0-based) of `total`; non-zero stops the run. */
    int                 (*on_step)(void *user, int step, int total);
    void                 *user;
    loom_tensor          *denoised;     /* latest x0-prediction, shaped like x */
    int                   evaluations;  /* model calls made (a test aid) */
    /* Inpainting (ComfyUI's KSamplerX0Inpaint), all shaped like x, or mask NULL: the model
     * sees x·mask + (sigma·noise + (1 - sigma)·latent)·(1 - mask), and its prediction is
     * kept where mask is 1, the latent where it is 0. */
    const loom_tensor    *mask, *mask_latent, *mask_noise;
    loom_tensor          *mask_x;       /* scratch: the masked model input */
} sample_run;

typedef int (*sampler_fn)(sample_run *run, loom_tensor *x, loom_error *err);

typedef struct sampler_def {
    const char *name;
    sampler_fn  fn;
    int         discard_penultimate_sigma;   /* KSampler schedules steps+1, drops one */
} sampler_def;

/* The names KSampler offers, in ComfyUI's order (all implemented), NULL-terminated. */
extern const char *const comfy_sampler_names[];

const sampler_def *sampler_find(const char *name);   /* NULL if unknown */
/* A SAMPLER value naming a static sampler_def. */
loom_value        *sampler_value(const sampler_def *def);

/* ---- helpers for sampler implementations ---------------------------------------- */

/* run->denoised = D(x, sigmas[i]) with the schedule's timestep for i. */
int sample_denoise(sample_run *run, const loom_tensor *x, size_t i, loom_tensor *out,
                   loom_error *err);
/* Report step `step` done; LOOM_ERR_INTERRUPTED (with err set) when asked to stop. */
int sample_step_done(sample_run *run, int step, loom_error *err);
/* A scratch tensor shaped like x; NULL with err set when out of memory. */
loom_tensor *sample_scratch(const loom_tensor *x, loom_error *err);
/* The status of a failed allocation (err already says why). */
int          sample_alloc_status(const loom_error *err);

/* The samplers themselves. */
int sample_euler          (sample_run *run, loom_tensor *x, loom_error *err);
int sample_euler_ancestral(sample_run *run, loom_tensor *x, loom_error *err);
int sample_heun           (sample_run *run, loom_tensor *x, loom_error *err);
int sample_dpmpp_2m       (sample_run *run, loom_tensor *x, loom_error *err);
int sample_lcm            (sample_run *run, loom_tensor *x, loom_error *err);
int sample_uni_pc         (sample_run *run, loom_tensor *x, loom_error *err);
int sample_uni_pc_bh2     (sample_run *run, loom_tensor *x, loom_error *err);
int sample_unipc_flow     (sample_run *run, loom_tensor *x, loom_error *err);

#endif
