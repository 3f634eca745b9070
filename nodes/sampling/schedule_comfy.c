/* schedule_comfy.c: ComfyUI's flow sigma table and its nine schedulers, in float32.
 *
 * ComfyUI builds every schedule from ModelSamplingDiscreteFlow: a table of 1000 float32
 * sigmas, sigma(t) = shift·t / (1 + (shift-1)·t) at t = i/1000 for i = 1..1000, each
 * step a float32 tensor operation (the Python scalars are rounded to float32 first).
 * The schedulers then pick table entries (simple, ddim_uniform, beta), map float32
 * linspaces of timesteps through sigma() (normal, sgm_uniform), or use only
 * sigma_min = table[0] and sigma_max = table[999] (karras, exponential, kl_optimal).
 * Each function below mirrors one function of comfy/samplers.py or
 * comfy/k_diffusion/sampling.py, operation by operation, so the float32 rounding is the
 * same; the invariant is "every element equals ComfyUI's on the CPU". The one known gap
 * is torch's vectorised linspace, which can differ from its scalar formula (used here) by
 * an ulp inside a vector; only normal, sgm_uniform, karras and exponential use it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

const char *const comfy_scheduler_names[] = {"simple", "sgm_uniform", "karras", "exponential",
                                             "ddim_uniform", "beta", "normal",
                                             "linear_quadratic", "kl_optimal", NULL};

float comfy_flow_shift(double shift, float t)
{
    if (shift == 1.0)
        return t;
    return ((float)shift * t) / (1.0f + (float)(shift - 1.0) * t);
}

void comfy_flow_table(const loom_model_sampling *ms, float table[COMFY_FLOW_TABLE_SIZE])
{
    float mult = (float)ms->multiplier;
    for (int i = 1; i <= COMFY_FLOW_TABLE_SIZE; i++) {
        float t = (float)i / (float)COMFY_FLOW_TABLE_SIZE;  /* arange(1, 1001) / 1000 */
        float timestep = t * mult;                          /* ... * multiplier */
        table[i - 1] = comfy_flow_shift(ms->shift, timestep / mult);  /* sigma(timestep) */
    }
}

/* torch.linspace(start, end, n) for float32, its scalar formula: the first half counts
 * up from start, the second half down from end. */
static void linspace_f32(float start, float end, int n, float *out)
{
    if (n == 1) {
        out[0] = start;
        return;
    }
    float step = (end - start) / (float)(n - 1);
    int halfway = n / 2;
    for (int i = 0; i < n; i++)
        out[i] = i < halfway ? start + step * (float)i : end - step * (float)(n - i - 1);
}

static sigma_schedule *simple_scheduler(const float *table, int steps)
{
    sigma_schedule *s = schedule_new((size_t)steps + 1, 0);
    if (!s)
        return NULL;
    double ss = (double)COMFY_FLOW_TABLE_SIZE / steps;   /* Python true division */
    for (int x = 0; x < steps; x++)
        s->sigmas[x] = table[COMFY_FLOW_TABLE_SIZE - 1 - (int)(x * ss)];
    return s;   /* the last sigma is already 0 */
}

static sigma_schedule *ddim_scheduler(const float *table, int steps)
{
    /* sigmas = [0] + table[1::ss], reversed (the table never starts at ~0 for flow). */
    int ss = COMFY_FLOW_TABLE_SIZE / steps > 1 ? COMFY_FLOW_TABLE_SIZE / steps : 1;
    size_t count = 0;
    for (int x = 1; x < COMFY_FLOW_TABLE_SIZE; x += ss)
        count++;
    sigma_schedule *s = schedule_new(count + 1, 0);
    if (!s)
        return NULL;
    size_t k = count;
    for (int x = 1; x < COMFY_FLOW_TABLE_SIZE; x += ss)
        s->sigmas[--k] = table[x];
    return s;
}

static sigma_schedule *normal_scheduler(const loom_model_sampling *ms, const float *table,
                                        int steps, int sgm)
{
    float mult = (float)ms->multiplier;
    float start = table[COMFY_FLOW_TABLE_SIZE - 1] * mult, end = table[0] * mult;
    int n = sgm ? steps + 1 : steps;
    int append_zero = 1;
    if (!sgm && fabsf(comfy_flow_shift(ms->shift, end / mult)) <= 1e-5f) {
        n = steps + 1;   /* the last timestep already reaches sigma 0 */
        append_zero = 0;
    }
    float *ts = malloc((size_t)n * sizeof *ts);
    if (!ts)
        return NULL;
    linspace_f32(start, end, n, ts);
    int used = sgm ? n - 1 : n;
    sigma_schedule *s = schedule_new((size_t)used + (size_t)append_zero, 0);
    for (int i = 0; s && i < used; i++)
        s->sigmas[i] = comfy_flow_shift(ms->shift, ts[i] / mult);
    free(ts);
    return s;
}

static sigma_schedule *karras_scheduler(int n, double sigma_min, double sigma_max)
{
    const double rho = 7.0;
    sigma_schedule *s = schedule_new((size_t)n + 1, 0);
    if (!s)
        return NULL;
    linspace_f32(0.0f, 1.0f, n, s->sigmas);
    double min_inv_rho = pow(sigma_min, 1.0 / rho), max_inv_rho = pow(sigma_max, 1.0 / rho);
    for (int i = 0; i < n; i++) {
        float ramp = s->sigmas[i] * (float)(min_inv_rho - max_inv_rho);
        s->sigmas[i] = powf((float)max_inv_rho + ramp, (float)rho);
    }
    return s;
}

static sigma_schedule *exponential_scheduler(int n, double sigma_min, double sigma_max)
{
    sigma_schedule *s = schedule_new((size_t)n + 1, 0);
    if (!s)
        return NULL;
    linspace_f32((float)log(sigma_max), (float)log(sigma_min), n, s->sigmas);
    for (int i = 0; i < n; i++)
        s->sigmas[i] = expf(s->sigmas[i]);
    return s;
}

/* Regularised incomplete beta I_x(a, b) by Lentz's continued fraction. */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    d = 1.0 / (fabs(d) < tiny ? tiny : d);
    double h = d;
    for (int m = 1; m <= 500; m++) {
        for (int odd = 0; odd < 2; odd++) {
            double num = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1.0 + num * d;
            d = 1.0 / (fabs(d) < tiny ? tiny : d);
            c = 1.0 + num / c;
            if (fabs(c) < tiny)
                c = tiny;
            h *= d * c;
            if (odd && fabs(d * c - 1.0) < 1e-16)
                return h;
        }
    }
    return h;
}

static double beta_cdf(double x, double a, double b)
{
    if (x <= 0.0)
        return 0.0;
    if (x >= 1.0)
        return 1.0;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0))
        return front * beta_cf(a, b, x) / a;
    return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

/* scipy.stats.beta.ppf by bisection: ComfyUI only keeps rint(ppf · 999), so 1e-15 is
 * far more than enough. */
static double beta_ppf(double p, double a, double b)
{
    if (p <= 0.0)
        return 0.0;
    if (p >= 1.0)
        return 1.0;
    /* A symmetric Beta is symmetric about 1/2: solve the lower half only, so that
     * ppf(1/2) is exactly 1/2 (bisection alone can land an ulp short, and rint(499.5)
     * would then pick the wrong table entry). */
    if (a == b && p >= 0.5)
        return p == 0.5 ? 0.5 : 1.0 - beta_ppf(1.0 - p, a, b);
    double lo = 0.0, hi = 1.0;
    for (int i = 0; i < 200 && hi - lo > 1e-16; i++) {
        double mid = 0.5 * (lo + hi);
        if (beta_cdf(mid, a, b) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static sigma_schedule *beta_scheduler(const float *table, int steps)
{
    const double alpha = 0.6, beta = 0.6;
    const int total = COMFY_FLOW_TABLE_SIZE - 1;
    sigma_schedule *s = schedule_new((size_t)steps + 1, 0);
    if (!s)
        return NULL;
    size_t k = 0;
    double last_t = -1.0;
    for (int i = 0; i < steps; i++) {
        double ts = 1.0 - i * (1.0 / steps);       /* 1 - linspace(0, 1, steps, endpoint=False) */
        double t = rint(beta_ppf(ts, alpha, beta) * total);
        if (t != last_t)
            s->sigmas[k++] = table[(int)t];
        last_t = t;
    }
    s->sigmas[k++] = 0.0f;
    s->n = k;   /* repeated table indices are dropped, as ComfyUI does */
    return s;
}

static sigma_schedule *linear_quadratic_scheduler(const float *table, int steps)
{
    const double threshold = 0.025;
    float sigma_max = table[COMFY_FLOW_TABLE_SIZE - 1];
    sigma_schedule *s = schedule_new((size_t)steps + 1, 0);
    if (!s)
        return NULL;
    if (steps == 1) {
        s->sigmas[0] = 1.0f * sigma_max;
        return s;
    }
    int linear_steps = steps / 2, quadratic_steps = steps - linear_steps;
    double step_diff = linear_steps - threshold * steps;
    double quadratic_coef = step_diff / (linear_steps * (double)quadratic_steps * quadratic_steps);
    double linear_coef = threshold / linear_steps -
                         2 * step_diff / ((double)quadratic_steps * quadratic_steps);
    double constant = quadratic_coef * ((double)linear_steps * linear_steps);
    for (int i = 0; i <= steps; i++) {
        double x;
        if (i < linear_steps)
            x = i * threshold / linear_steps;
        else if (i < steps)
            x = quadratic_coef * ((double)i * i) + linear_coef * i + constant;
        else
            x = 1.0;
        s->sigmas[i] = (float)(1.0 - x) * sigma_max;
    }
    return s;
}

static sigma_schedule *kl_optimal_scheduler(int n, double sigma_min, double sigma_max)
{
    sigma_schedule *s = schedule_new((size_t)n + 1, 0);
    if (!s)
        return NULL;
    float atan_min = (float)atan(sigma_min), atan_max = (float)atan(sigma_max);
    for (int i = 0; i < n; i++) {
        /* ComfyUI divides by n - 1, which is 0/0 for one step; loom takes sigma_max. */
        float adj = n > 1 ? (float)i / (float)(n - 1) : 0.0f;
        s->sigmas[i] = tanf(adj * atan_min + (1.0f - adj) * atan_max);
    }
    return s;
}

sigma_schedule *comfy_schedule(const loom_model_sampling *ms, const char *scheduler, int steps,
                               loom_error *err)
{
    if (steps < 1) {
        loom_errorf(err, LOOM_ERR_INVALID, "a schedule needs at least 1 step (got %d)", steps);
        return NULL;
    }
    float table[COMFY_FLOW_TABLE_SIZE];
    comfy_flow_table(ms, table);
    double sigma_min = table[0], sigma_max = table[COMFY_FLOW_TABLE_SIZE - 1];
    sigma_schedule *s = NULL;
    if (!strcmp(scheduler, "simple"))
        s = simple_scheduler(table, steps);
    else if (!strcmp(scheduler, "sgm_uniform"))
        s = normal_scheduler(ms, table, steps, 1);
    else if (!strcmp(scheduler, "karras"))
        s = karras_scheduler(steps, sigma_min, sigma_max);
    else if (!strcmp(scheduler, "exponential"))
        s = exponential_scheduler(steps, sigma_min, sigma_max);
    else if (!strcmp(scheduler, "ddim_uniform"))
        s = ddim_scheduler(table, steps);
    else if (!strcmp(scheduler, "beta"))
        s = beta_scheduler(table, steps);
    else if (!strcmp(scheduler, "normal"))
        s = normal_scheduler(ms, table, steps, 0);
    else if (!strcmp(scheduler, "linear_quadratic"))
        s = linear_quadratic_scheduler(table, steps);
    else if (!strcmp(scheduler, "kl_optimal"))
        s = kl_optimal_scheduler(steps, sigma_min, sigma_max);
    else {
        loom_errorf(err, LOOM_ERR_INVALID, "unknown scheduler '%s'", scheduler);
        return NULL;
    }
    if (!s)
        loom_errorf(err, LOOM_ERR_NOMEM, "out of memory building a %d-step schedule", steps);
    return s;
}

static sigma_schedule *schedule_discarding(const loom_model_sampling *ms, const char *scheduler,
                                           int steps, int discard_penultimate, loom_error *err)
{
    if (!discard_penultimate)
        return comfy_schedule(ms, scheduler, steps, err);
    sigma_schedule *s = comfy_schedule(ms, scheduler, steps + 1, err);
    if (s && s->n >= 2) {
        s->sigmas[s->n - 2] = s->sigmas[s->n - 1];
        s->n--;
    }
    return s;
}

sigma_schedule *comfy_schedule_denoised(const loom_model_sampling *ms, const char *scheduler,
                                        int steps, double denoise, int discard_penultimate,
                                        loom_error *err)
{
    /* KSampler takes denoise > 0.9999 as full; BasicScheduler computes int(steps/denoise),
     * which is steps there too (steps <= 10000), so one rule serves both. */
    if (denoise > 0.9999)
        return schedule_discarding(ms, scheduler, steps, discard_penultimate, err);
    if (denoise <= 0.0)
        return schedule_new(0, 0);
    sigma_schedule *full =
        schedule_discarding(ms, scheduler, (int)(steps / denoise), discard_penultimate, err);
    if (!full)
        return NULL;
    size_t keep = (size_t)steps + 1 < full->n ? (size_t)steps + 1 : full->n;
    sigma_schedule *tail = schedule_slice(full, full->n - keep, full->n);
    schedule_free(full);
    return tail;
}
