/* schedule_flow.c: the flow schedules of the reference pipelines (wan.md §3.2, §3.4, §3.5).
 *
 * These are what diffusers' WanPipeline and the official Wan code walk. They differ from
 * ComfyUI's in where the grid starts (1, 0.999 or a shifted 1/1000), in being computed in
 * float64 and rounded to float32 only at the end, and in the timesteps fed to the model:
 * FlowMatchEuler feeds float32(1000·sigma); both UniPC variants feed 1000·sigma truncated
 * toward zero from the float64 sigma. Each schedule carries those timesteps. Both UniPC
 * pipelines also start from the noise itself although sigma_0 is just below 1 (0.9998 at
 * shift 5), where ComfyUI would scale it by sigma_0; the schedules say so. numpy's
 * linspace is start + i·step with the last element set to stop exactly.
 */
#include <math.h>
#include <stdint.h>

#include "schedule.h"

#define TRAIN_STEPS 1000

static double shift_f64(double shift, double s) { return shift * s / (1.0 + (shift - 1.0) * s); }

/* numpy.linspace(start, stop, num)[i] (endpoint=True). */
static double np_linspace_at(double start, double stop, int num, int i)
{
    if (num > 1 && i == num - 1)
        return stop;
    return i * ((stop - start) / (num > 1 ? num - 1 : 1)) + start;
}

sigma_schedule *flow_match_euler_schedule(double shift, int steps)
{
    sigma_schedule *s = steps >= 1 ? schedule_new((size_t)steps + 1, 1) : NULL;
    if (!s)
        return NULL;
    /* __init__: the 1000-point grid t/1000, shifted in float32. */
    float fshift = (float)shift, fshift1 = (float)(shift - 1.0);
    float grid_min = 1.0f / TRAIN_STEPS, grid_max = 1.0f;
    double sigma_min = (fshift * grid_min) / (1.0f + fshift1 * grid_min);
    double sigma_max = (fshift * grid_max) / (1.0f + fshift1 * grid_max);
    /* set_timesteps: a float64 linspace of timesteps, shifted again, then float32. */
    for (int i = 0; i < steps; i++) {
        double t = np_linspace_at(sigma_max * TRAIN_STEPS, sigma_min * TRAIN_STEPS, steps, i);
        s->sigmas[i] = (float)shift_f64(shift, t / TRAIN_STEPS);
        s->timesteps[i] = s->sigmas[i] * (float)TRAIN_STEPS;
    }
    return s;
}

/* Fill sigmas (float32) and truncated timesteps from float64 sigmas. */
static void store_truncated(sigma_schedule *s, int k, double sigma)
{
    s->sigmas[k] = (float)sigma;
    s->timesteps[k] = (float)(int64_t)(sigma * TRAIN_STEPS);
}

sigma_schedule *diffusers_unipc_schedule(double shift, int steps)
{
    sigma_schedule *s = steps >= 1 ? schedule_new((size_t)steps + 1, 1) : NULL;
    if (!s)
        return NULL;
    for (int k = 0; k < steps; k++) {
        double sigma = shift_f64(shift, np_linspace_at(1.0, 1.0 / TRAIN_STEPS, steps + 1, k));
        if (k == 0 && fabs(sigma - 1.0) < 1e-6)
            sigma -= 1e-6;   /* keeps the first log-SNR finite */
        store_truncated(s, k, sigma);
    }
    s->pure_noise_start = 1;
    return s;
}

sigma_schedule *wan_unipc_schedule(double shift, int steps)
{
    sigma_schedule *s = steps >= 1 ? schedule_new((size_t)steps + 1, 1) : NULL;
    if (!s)
        return NULL;
    /* The training grid's sigma_max = 1 - 1/1000, stored as float32. */
    double sigma_max = (float)(1.0 - 1.0 / TRAIN_STEPS), sigma_min = 0.0;
    for (int k = 0; k < steps; k++)
        store_truncated(s, k, shift_f64(shift, np_linspace_at(sigma_max, sigma_min, steps + 1, k)));
    s->pure_noise_start = 1;
    return s;
}
