/* sampling_nodes.c: KSampler and KSamplerAdvanced (ComfyUI names, inputs, defaults).
 *
 * Both follow nodes.py common_ksampler and comfy/samplers.py KSampler: the schedule is
 * computed for the full step count (uni_pc and uni_pc_bh2 compute steps + 1 and drop the
 * second-to-last sigma; denoise < 1 computes int(steps/denoise) and keeps the last
 * steps + 1), then KSamplerAdvanced slices it: [:end_at_step + 1] with the last sigma
 * forced to 0 unless return_with_leftover_noise, then [start_at_step:]; a start at or
 * past the end returns the latent as it came. Chaining two KSamplerAdvanced (Wan2.2's
 * high/low-noise experts) is exact because the first hands over x / (1 - sigma_last)
 * and the second, with add_noise disabled, scales it back by (1 - sigma_first).
 * The sampler and scheduler lists hold only what loom implements, in ComfyUI's order.
 */
#include <string.h>

#include "sample.h"
#include "sampling_nodes.h"

static const char *const enable_disable[] = {"enable", "disable", NULL};
static const char *const disable_enable[] = {"disable", "enable", NULL};

/* KSampler.sample's slicing by last_step / start_step (negative = not given). */
static sigma_schedule *slice_steps(sigma_schedule *s, int64_t start_step, int64_t last_step,
                                   bool force_full_denoise)
{
    if (last_step >= 0 && (size_t)last_step + 1 < s->n) {
        s->n = (size_t)last_step + 1;
        if (force_full_denoise)
            s->sigmas[s->n - 1] = 0.0f;
    }
    if (start_step >= 0) {
        size_t begin = s->n > 0 && (size_t)start_step < s->n - 1 ? (size_t)start_step : s->n;
        sigma_schedule *tail = schedule_slice(s, begin, s->n);
        schedule_free(s);
        return tail;
    }
    return s;
}

typedef struct ksampler_args {
    uint64_t    seed;
    int         steps;
    const char *sampler_name, *scheduler;
    double      denoise;
    bool        add_noise, force_full_denoise;
    int64_t     start_step, last_step;   /* -1: not given */
} ksampler_args;

static int common_ksampler(loom_node_ctx *ctx, const ksampler_args *a)
{
    const loom_model *m = loom_in_model(ctx, "model");
    const loom_latent *latent = loom_in_latent(ctx, "latent_image");
    const sampler_def *sampler = sampler_find(a->sampler_name);
    if (!m || !latent)
        return loom_node_fail(ctx, "model and latent_image are required");
    if (!sampler)
        return loom_node_fail(ctx, "unknown sampler '%s'", a->sampler_name);
    loom_error err = {0};
    sigma_schedule *sigmas = comfy_schedule_denoised(&m->sampling, a->scheduler, a->steps,
                                                     a->denoise, sampler->discard_penultimate_sigma,
                                                     &err);
    if (sigmas)
        sigmas = slice_steps(sigmas, a->start_step, a->last_step, a->force_full_denoise);
    if (!sigmas)
        return err.code ? loom_node_fail_err(ctx, &err) : loom_node_fail(ctx, "out of memory");

    guider g = {.model = (loom_value *)loom_in(ctx, "model"),
                .positive = (loom_value *)loom_in(ctx, "positive"),
                .negative = (loom_value *)loom_in(ctx, "negative"),
                .cfg = loom_in_float(ctx, "cfg")};
    sample_request req = {.guider = &g, .sampler = sampler, .sigmas = sigmas, .latent = latent,
                          .add_noise = a->add_noise, .seed = a->seed, .node = ctx};
    loom_tensor *samples = NULL;
    int rc = sample_latent(&req, &samples, NULL, &err);
    schedule_free(sigmas);
    if (rc)
        return rc == LOOM_ERR_INTERRUPTED ? rc : loom_node_fail_err(ctx, &err);
    return loom_out(ctx, 0, loom_latent_value(samples, NULL));
}

static int ksampler_execute(loom_node_ctx *ctx)
{
    ksampler_args a = {.seed = loom_in_u64(ctx, "seed"), .steps = (int)loom_in_int(ctx, "steps"),
                       .sampler_name = loom_in_str(ctx, "sampler_name"),
                       .scheduler = loom_in_str(ctx, "scheduler"),
                       .denoise = loom_in_float(ctx, "denoise"), .add_noise = true,
                       .start_step = -1, .last_step = -1};
    return common_ksampler(ctx, &a);
}

static int ksampler_advanced_execute(loom_node_ctx *ctx)
{
    ksampler_args a = {.seed = loom_in_u64(ctx, "noise_seed"),
                       .steps = (int)loom_in_int(ctx, "steps"),
                       .sampler_name = loom_in_str(ctx, "sampler_name"),
                       .scheduler = loom_in_str(ctx, "scheduler"), .denoise = 1.0,
                       .add_noise = strcmp(loom_in_str(ctx, "add_noise"), "disable") != 0,
                       .force_full_denoise =
                           strcmp(loom_in_str(ctx, "return_with_leftover_noise"), "enable") != 0,
                       .start_step = loom_in_int(ctx, "start_at_step"),
                       .last_step = loom_in_int(ctx, "end_at_step")};
    return common_ksampler(ctx, &a);
}

static const loom_input ksampler_in[] = {
    {.name = "model", .type = "MODEL", .tooltip = "The model used for denoising the input latent."},
    SEED_INPUT("seed"), STEPS_INPUT, CFG_INPUT, SAMPLER_INPUT, SCHEDULER_INPUT,
    {.name = "positive", .type = "CONDITIONING"},
    {.name = "negative", .type = "CONDITIONING"},
    {.name = "latent_image", .type = "LATENT", .tooltip = "The latent image to denoise."},
    DENOISE_INPUT};

static const loom_input ksampler_adv_in[] = {
    {.name = "model", .type = "MODEL"},
    {.name = "add_noise", .type = LOOM_T_COMBO, .choices = enable_disable},
    SEED_INPUT("noise_seed"), STEPS_INPUT, CFG_INPUT, SAMPLER_INPUT, SCHEDULER_INPUT,
    {.name = "positive", .type = "CONDITIONING"},
    {.name = "negative", .type = "CONDITIONING"},
    {.name = "latent_image", .type = "LATENT"},
    {.name = "start_at_step", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 0, .min = 0,
     .max = 10000},
    {.name = "end_at_step", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 10000,
     .min = 0, .max = 10000},
    {.name = "return_with_leftover_noise", .type = LOOM_T_COMBO, .choices = disable_enable}};

static const loom_output latent_out[] = {{.type = "LATENT", .tooltip = "The denoised latent."}};

static const loom_node_type ksampler_nodes[] = {
    {.name = "KSampler", .category = "sampling",
     .description = "Uses the provided model, positive and negative conditioning to denoise "
                    "the latent image.",
     .inputs = ksampler_in, .n_inputs = LOOM_COUNT(ksampler_in), .outputs = latent_out,
     .n_outputs = 1, .execute = ksampler_execute},
    {.name = "KSamplerAdvanced", .display_name = "KSampler (Advanced)", .category = "sampling",
     .inputs = ksampler_adv_in, .n_inputs = LOOM_COUNT(ksampler_adv_in), .outputs = latent_out,
     .n_outputs = 1, .execute = ksampler_advanced_execute},
};

int register_ksampler_nodes(loom_registrar *reg, loom_error *err)
{
    return loom_register_nodes(reg, ksampler_nodes, LOOM_COUNT(ksampler_nodes), err);
}
