/* custom_sampling_nodes.c: ComfyUI's custom-sampling family (comfy_extras/
 * nodes_custom_sampler.py, v0.3.64 names and categories) and loom's reference-pipeline
 * schedule and sampler.
 *
 *   SamplerCustomAdvanced  noise + guider + sampler + sigmas + latent -> output, denoised_output
 *   KSamplerSelect         SAMPLER by name (ComfyUI's list, what loom implements)
 *   BasicScheduler         SIGMAS from the model's flow table (denoise as KSampler)
 *   ManualSigmas           SIGMAS from comma-separated numbers (anything else is an error)
 *   RandomNoise / DisableNoise, CFGGuider / BasicGuider
 *   ReferenceFlowScheduler (loom) SIGMAS of Wan's FlowUniPC, diffusers' UniPC (flow
 *                          sigmas) or diffusers' FlowMatchEuler, with the reference's own
 *                          timesteps, for results equal to the official Wan code / diffusers
 *   SamplerFlowUniPC       (loom) the Wan / diffusers flow UniPC solver (wan.md §3.3)
 * NOISE is a seed plus whether to add noise; DisableNoise has seed 0 as in ComfyUI (the
 * seed still feeds ancestral samplers).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "sample.h"
#include "sampling_nodes.h"

#define NOISE_TYPE "NOISE"

typedef struct noise_spec {
    bool     add;
    uint64_t seed;
} noise_spec;

static void free_payload(void *p) { free(p); }

static int noise_out(loom_node_ctx *ctx, bool add, uint64_t seed)
{
    noise_spec *n = malloc(sizeof *n);
    if (!n)
        return loom_node_fail(ctx, "out of memory");
    *n = (noise_spec){add, seed};
    return loom_out(ctx, 0, loom_value_object(NOISE_TYPE, n, free_payload, sizeof *n));
}

static int random_noise_execute(loom_node_ctx *ctx)
{
    return noise_out(ctx, true, loom_in_u64(ctx, "noise_seed"));
}

static int disable_noise_execute(loom_node_ctx *ctx) { return noise_out(ctx, false, 0); }

static int ksampler_select_execute(loom_node_ctx *ctx)
{
    const sampler_def *s = sampler_find(loom_in_str(ctx, "sampler_name"));
    if (!s)
        return loom_node_fail(ctx, "unknown sampler '%s'", loom_in_str(ctx, "sampler_name"));
    return loom_out(ctx, 0, sampler_value(s));
}

static int sampler_flow_unipc_execute(loom_node_ctx *ctx)
{
    return loom_out(ctx, 0, sampler_value(sampler_find("unipc_flow")));
}

static int schedule_out(loom_node_ctx *ctx, sigma_schedule *s, const loom_error *err)
{
    if (!s)
        return err && err->code ? loom_node_fail_err(ctx, err) : loom_node_fail(ctx, "out of memory");
    return loom_out(ctx, 0, schedule_value(s));
}

static int basic_scheduler_execute(loom_node_ctx *ctx)
{
    const loom_model *m = loom_in_model(ctx, "model");
    if (!m)
        return loom_node_fail(ctx, "no model");
    loom_error err = {0};
    sigma_schedule *s = comfy_schedule_denoised(&m->sampling, loom_in_str(ctx, "scheduler"),
                                                (int)loom_in_int(ctx, "steps"),
                                                loom_in_float(ctx, "denoise"), 0, &err);
    return schedule_out(ctx, s, &err);
}

/* ManualSigmas: ComfyUI keeps every number the regex [-+]?(?:\d*\.*\d+) finds; loom
 * reads numbers with strtod and refuses anything else between them, so a typo is an
 * error instead of a silently different schedule. */
static int manual_sigmas_execute(loom_node_ctx *ctx)
{
    const char *text = loom_in_str(ctx, "sigmas");
    size_t cap = strlen(text) / 2 + 2;
    sigma_schedule *s = schedule_new(cap, 0);
    if (!s)
        return loom_node_fail(ctx, "out of memory");
    size_t n = 0;
    const char *p = text;
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ',')
            p++;
        if (!*p)
            break;
        char *end;
        double v = strtod(p, &end);
        if (end == p || n == cap) {
            schedule_free(s);
            return loom_node_fail(ctx, "sigmas: '%.40s' is not a number; write comma-separated "
                                       "values such as \"1, 0.5, 0\"", p);
        }
        s->sigmas[n++] = (float)v;
        p = end;
    }
    s->n = n;
    return schedule_out(ctx, s, NULL);
}

static const char *const reference_schedules[] = {"wan_flow_unipc", "diffusers_unipc",
                                                  "diffusers_flow_match_euler", NULL};

static int reference_scheduler_execute(loom_node_ctx *ctx)
{
    const char *kind = loom_in_str(ctx, "schedule");
    int steps = (int)loom_in_int(ctx, "steps");
    double shift = loom_in_float(ctx, "shift");
    sigma_schedule *s = !strcmp(kind, "wan_flow_unipc")    ? wan_unipc_schedule(shift, steps)
                        : !strcmp(kind, "diffusers_unipc") ? diffusers_unipc_schedule(shift, steps)
                                                           : flow_match_euler_schedule(shift, steps);
    return schedule_out(ctx, s, NULL);
}

static int guider_out(loom_node_ctx *ctx, const char *positive, const char *negative, double cfg)
{
    if (!loom_in_model(ctx, "model"))
        return loom_node_fail(ctx, "no model");
    loom_value *v = guider_value(loom_in(ctx, "model"), loom_in(ctx, positive),
                                 negative ? loom_in(ctx, negative) : NULL, cfg);
    return v ? loom_out(ctx, 0, v) : loom_node_fail(ctx, "out of memory");
}

static int cfg_guider_execute(loom_node_ctx *ctx)
{
    return guider_out(ctx, "positive", "negative", loom_in_float(ctx, "cfg"));
}

static int basic_guider_execute(loom_node_ctx *ctx)
{
    return guider_out(ctx, "conditioning", NULL, 1.0);
}

static int sampler_custom_advanced_execute(loom_node_ctx *ctx)
{
    const noise_spec *noise = loom_in_object(ctx, "noise", NOISE_TYPE);
    const guider *g = loom_in_object(ctx, "guider", GUIDER_TYPE);
    const sampler_def *sampler = loom_in_object(ctx, "sampler", SAMPLER_TYPE);
    const sigma_schedule *sigmas = loom_in_object(ctx, "sigmas", SIGMAS_TYPE);
    const loom_latent *latent = loom_in_latent(ctx, "latent_image");
    if (!noise || !g || !sampler || !sigmas || !latent)
        return loom_node_fail(ctx, "noise, guider, sampler, sigmas and latent_image are required");
    sample_request req = {.guider = g, .sampler = sampler, .sigmas = sigmas, .latent = latent,
                          .add_noise = noise->add, .seed = noise->seed, .node = ctx};
    loom_tensor *samples = NULL, *denoised = NULL;
    loom_error err = {0};
    int rc = sample_latent(&req, &samples, &denoised, &err);
    if (rc)
        return rc == LOOM_ERR_INTERRUPTED ? rc : loom_node_fail_err(ctx, &err);
    rc = loom_out(ctx, 0, loom_latent_value(samples, NULL));
    return rc ? rc : loom_out(ctx, 1, loom_latent_value(denoised, NULL));
}

static const loom_input select_in[] = {SAMPLER_INPUT};
static const loom_input basic_scheduler_in[] = {
    {.name = "model", .type = "MODEL"}, SCHEDULER_INPUT, STEPS_INPUT, DENOISE_INPUT};
static const loom_input manual_sigmas_in[] = {
    {.name = "sigmas", .type = LOOM_T_STRING, .def_str = "1, 0.5",
     .tooltip = "Comma-separated sigmas, first to last (end with 0 for a full denoise)."}};
static const loom_input reference_scheduler_in[] = {
    {.name = "schedule", .type = LOOM_T_COMBO, .choices = reference_schedules,
     .tooltip = "Whose schedule: Wan's FlowUniPC, diffusers' UniPC (flow sigmas) or "
                "diffusers' FlowMatchEuler."},
    STEPS_INPUT,
    {.name = "shift", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 5.0, .min = 0.01, .max = 100.0, .step = 0.01,
     .tooltip = "The reference's sample_shift / flow_shift."}};
static const loom_input random_noise_in[] = {SEED_INPUT("noise_seed")};
static const loom_input cfg_guider_in[] = {
    {.name = "model", .type = "MODEL"}, {.name = "positive", .type = "CONDITIONING"},
    {.name = "negative", .type = "CONDITIONING"}, CFG_INPUT};
static const loom_input basic_guider_in[] = {
    {.name = "model", .type = "MODEL"}, {.name = "conditioning", .type = "CONDITIONING"}};
static const loom_input custom_advanced_in[] = {
    {.name = "noise", .type = NOISE_TYPE}, {.name = "guider", .type = GUIDER_TYPE},
    {.name = "sampler", .type = SAMPLER_TYPE}, {.name = "sigmas", .type = SIGMAS_TYPE},
    {.name = "latent_image", .type = "LATENT"}};

static const loom_output sampler_out[] = {{.type = SAMPLER_TYPE}};
static const loom_output sigmas_out[] = {{.type = SIGMAS_TYPE}};
static const loom_output noise_type_out[] = {{.type = NOISE_TYPE}};
static const loom_output guider_type_out[] = {{.type = GUIDER_TYPE}};
static const loom_output custom_advanced_out[] = {{.type = "LATENT", .name = "output"},
                                                  {.type = "LATENT", .name = "denoised_output"}};

#define NODE(NAME, CATEGORY, IN, OUT, FN)                                                   \
    {.name = NAME, .category = CATEGORY, .inputs = IN, .n_inputs = LOOM_COUNT(IN),          \
     .outputs = OUT, .n_outputs = LOOM_COUNT(OUT), .execute = FN}

static const loom_node_type custom_nodes[] = {
    NODE("SamplerCustomAdvanced", "sampling/custom_sampling", custom_advanced_in,
         custom_advanced_out, sampler_custom_advanced_execute),
    NODE("KSamplerSelect", "sampling/custom_sampling/samplers", select_in, sampler_out,
         ksampler_select_execute),
    NODE("BasicScheduler", "sampling/custom_sampling/schedulers", basic_scheduler_in,
         sigmas_out, basic_scheduler_execute),
    NODE("ManualSigmas", "sampling/custom_sampling/sigmas", manual_sigmas_in, sigmas_out,
         manual_sigmas_execute),
    NODE("ReferenceFlowScheduler", "sampling/custom_sampling/schedulers",
         reference_scheduler_in, sigmas_out, reference_scheduler_execute),
    {.name = "SamplerFlowUniPC", .category = "sampling/custom_sampling/samplers",
     .description = "UniPC as the official Wan code and diffusers run it (bh2, order 2).",
     .outputs = sampler_out, .n_outputs = 1, .execute = sampler_flow_unipc_execute},
    NODE("RandomNoise", "sampling/custom_sampling/noise", random_noise_in, noise_type_out,
         random_noise_execute),
    {.name = "DisableNoise", .category = "sampling/custom_sampling/noise",
     .outputs = noise_type_out, .n_outputs = 1, .execute = disable_noise_execute},
    NODE("CFGGuider", "sampling/custom_sampling/guiders", cfg_guider_in, guider_type_out,
         cfg_guider_execute),
    NODE("BasicGuider", "sampling/custom_sampling/guiders", basic_guider_in, guider_type_out,
         basic_guider_execute),
};

int register_custom_sampling_nodes(loom_registrar *reg, loom_error *err)
{
    return loom_register_nodes(reg, custom_nodes, LOOM_COUNT(custom_nodes), err);
}
