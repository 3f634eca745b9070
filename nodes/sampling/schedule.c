/* schedule.c: the SIGMAS value: allocation, slicing and the timestep rule (schedule.h).
 * A schedule is immutable once wrapped in a value; slicing makes a copy. */
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

sigma_schedule *schedule_new(size_t n, int with_timesteps)
{
    sigma_schedule *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n = n;
    /* +1 keeps malloc(0) out of the picture for an empty schedule. */
    s->sigmas = calloc(n + 1, sizeof *s->sigmas);
    s->timesteps = with_timesteps ? calloc(n + 1, sizeof *s->timesteps) : NULL;
    if (!s->sigmas || (with_timesteps && !s->timesteps)) {
        schedule_free(s);
        return NULL;
    }
    return s;
}

void schedule_free(sigma_schedule *s)
{
    if (!s)
        return;
    free(s->sigmas);
    free(s->timesteps);
    free(s);
}

sigma_schedule *schedule_slice(const sigma_schedule *s, size_t begin, size_t end)
{
    if (end > s->n)
        end = s->n;
    if (begin > end)
        begin = end;
    sigma_schedule *out = schedule_new(end - begin, s->timesteps != NULL);
    if (!out)
        return NULL;
    memcpy(out->sigmas, s->sigmas + begin, (end - begin) * sizeof *out->sigmas);
    out->pure_noise_start = s->pure_noise_start && begin == 0;
    if (s->timesteps)
        memcpy(out->timesteps, s->timesteps + begin, (end - begin) * sizeof *out->timesteps);
    return out;
}

static void schedule_destroy(void *p) { schedule_free(p); }

loom_value *schedule_value(sigma_schedule *s)
{
    if (!s)
        return NULL;
    size_t bytes = sizeof *s + (s->n + 1) * sizeof(float) * (s->timesteps ? 2 : 1);
    return loom_value_object(SIGMAS_TYPE, s, schedule_destroy, bytes);
}

float schedule_timestep(const sigma_schedule *s, size_t i, double multiplier)
{
    if (s->timesteps)
        return s->timesteps[i];
    /* ComfyUI: model_sampling.timestep(sigma) = sigma * multiplier on a float32 tensor. */
    return s->sigmas[i] * (float)multiplier;
}
