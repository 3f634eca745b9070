/* schedule.h: sigma schedules (the SIGMAS values of the sampling plugin).
 *
 * A schedule is the list of noise levels a sampler walks, from the first (largest) sigma
 * to the last (0 for a full denoise); steps = n - 1. Sigmas are float32, as every
 * reference stores them. A schedule may also carry the timestep its reference feeds the
 * model at each sigma (Wan and diffusers' UniPC feed integers truncated from 1000·sigma,
 * computed before the sigmas were rounded to float32); without them the model gets
 * float32(sigma · multiplier), as ComfyUI does. A reference schedule also says when its
 * pipeline starts from the noise itself rather than sigma_0·noise.
 *
 * Two families live behind this header:
 *   schedule_comfy.c  ComfyUI's flow model-sampling table (1000 float32 sigmas) and its
 *                     nine schedulers (simple, sgm_uniform, karras, exponential,
 *                     ddim_uniform, beta, normal, linear_quadratic, kl_optimal).
 *   schedule_flow.c   the reference pipelines' own flow schedules: diffusers
 *                     FlowMatchEuler, diffusers UniPC with flow sigmas, Wan's FlowUniPC.
 */
#ifndef LOOM_SAMPLING_SCHEDULE_H
#define LOOM_SAMPLING_SCHEDULE_H

#include <stddef.h>

#include "loom/model.h"

#define SIGMAS_TYPE "SIGMAS"

/* ComfyUI's table: sigma of t = i/1000 for i = 1..1000 (no t = 0 entry). */
#define COMFY_FLOW_TABLE_SIZE 1000

typedef struct sigma_schedule {
    size_t n;           /* number of sigmas = steps + 1 (0: nothing to do) */
    float *sigmas;      /* n values */
    float *timesteps;   /* n values or NULL (then timestep = sigma · multiplier) */
    int    pure_noise_start;  /* the reference starts from the noise itself, unscaled,
                                 although sigma_0 < 1 (Wan's and diffusers' UniPC) */
} sigma_schedule;

/* A new schedule with room for n sigmas (and timesteps when with_timesteps); NULL when
 * out of memory. */
sigma_schedule *schedule_new(size_t n, int with_timesteps);
void            schedule_free(sigma_schedule *s);
/* Entries [begin, end) of s as a new schedule. */
sigma_schedule *schedule_slice(const sigma_schedule *s, size_t begin, size_t end);
/* A SIGMAS value owning s (stolen). */
loom_value     *schedule_value(sigma_schedule *s);
/* The model timestep for entry i: the carried one, else float32(sigma · multiplier). */
float           schedule_timestep(const sigma_schedule *s, size_t i, double multiplier);

/* ---- ComfyUI (schedule_comfy.c) ------------------------------------------------- */

/* The scheduler names in ComfyUI's order, NULL-terminated. */
extern const char *const comfy_scheduler_names[];

/* ComfyUI's time_snr_shift in float32: shift·t / (1 + (shift-1)·t), t itself at shift 1. */
float comfy_flow_shift(double shift, float t);
/* model_sampling.sigmas of ModelSamplingDiscreteFlow(shift, multiplier). */
void  comfy_flow_table(const loom_model_sampling *ms, float table[COMFY_FLOW_TABLE_SIZE]);
/* calculate_sigmas(model_sampling, name, steps): NULL with err set for an unknown name. */
sigma_schedule *comfy_schedule(const loom_model_sampling *ms, const char *scheduler, int steps,
                               loom_error *err);

/* KSampler.set_steps / BasicScheduler: the schedule for `steps` (discard_penultimate:
 * computed for steps + 1 with the second-to-last sigma dropped, as KSampler does for
 * uni_pc); denoise < 1 computes int(steps / denoise) steps and keeps the last steps + 1;
 * denoise <= 0 gives an empty schedule. */
sigma_schedule *comfy_schedule_denoised(const loom_model_sampling *ms, const char *scheduler,
                                        int steps, double denoise, int discard_penultimate,
                                        loom_error *err);

/* ---- reference pipelines (schedule_flow.c) -------------------------------------- */

/* diffusers FlowMatchEulerDiscreteScheduler(shift).set_timesteps(steps) (float timesteps). */
sigma_schedule *flow_match_euler_schedule(double shift, int steps);
/* diffusers UniPCMultistepScheduler(use_flow_sigmas, flow_shift=shift) (integer timesteps). */
sigma_schedule *diffusers_unipc_schedule(double shift, int steps);
/* Wan's FlowUniPCMultistepScheduler, set_timesteps(steps, shift) (wan.md §3.2). */
sigma_schedule *wan_unipc_schedule(double shift, int steps);

#endif
