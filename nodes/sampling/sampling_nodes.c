/* sampling_nodes.c: KSampler and KSamplerAdvanced (ComfyUI names, inputs, defaults).
 * Declared now; the samplers arrive with issue #6, so execute is NULL and validation
 * reports them as not runnable in this build. The sampler and scheduler lists hold only
 * what loom implements (in ComfyUI's order), so an unknown name fails validation with
 * value_not_in_list. */
#include "loom/plugin.h"

static const char *const sampler_names[] = {"euler", "euler_ancestral", "heun", "dpmpp_2m",
                                            "lcm", "uni_pc", "uni_pc_bh2", NULL};
static const char *const scheduler_names[] = {"simple", "sgm_uniform", "karras", "exponential",
                                              "ddim_uniform", "beta", "normal",
                                              "linear_quadratic", "kl_optimal", NULL};
static const char *const enable_disable[] = {"enable", "disable", NULL};
static const char *const disable_enable[] = {"disable", "enable", NULL};

#define SEED(NAME)                                                                          \
    {.name = NAME, .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_CONTROL_SEED,   \
     .def = 0, .min = 0, .max = 18446744073709551615.0,                                     \
     .tooltip = "The random seed used for creating the noise."}
#define STEPS                                                                               \
    {.name = "steps", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 20, .min = 1,  \
     .max = 10000, .tooltip = "The number of steps used in the denoising process."}
#define CFG                                                                                 \
    {.name = "cfg", .type = LOOM_T_FLOAT,                                                   \
     .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP | LOOM_IN_HAS_ROUND, .def = 8.0,         \
     .min = 0.0, .max = 100.0, .step = 0.1, .round = 0.01,                                  \
     .tooltip = "The Classifier-Free Guidance scale."}
#define SAMPLER                                                                             \
    {.name = "sampler_name", .type = LOOM_T_COMBO, .choices = sampler_names,               \
     .tooltip = "The algorithm used when sampling."}
#define SCHEDULER                                                                           \
    {.name = "scheduler", .type = LOOM_T_COMBO, .choices = scheduler_names,                \
     .tooltip = "The scheduler controls how noise is gradually removed to form the image."}

static const loom_input ksampler_in[] = {
    {.name = "model", .type = "MODEL", .tooltip = "The model used for denoising the input latent."},
    SEED("seed"), STEPS, CFG, SAMPLER, SCHEDULER,
    {.name = "positive", .type = "CONDITIONING"},
    {.name = "negative", .type = "CONDITIONING"},
    {.name = "latent_image", .type = "LATENT", .tooltip = "The latent image to denoise."},
    {.name = "denoise", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 1.0, .min = 0.0, .max = 1.0, .step = 0.01,
     .tooltip = "The amount of denoising applied."}};

static const loom_input ksampler_adv_in[] = {
    {.name = "model", .type = "MODEL"},
    {.name = "add_noise", .type = LOOM_T_COMBO, .choices = enable_disable},
    SEED("noise_seed"), STEPS, CFG, SAMPLER, SCHEDULER,
    {.name = "positive", .type = "CONDITIONING"},
    {.name = "negative", .type = "CONDITIONING"},
    {.name = "latent_image", .type = "LATENT"},
    {.name = "start_at_step", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 0, .min = 0,
     .max = 10000},
    {.name = "end_at_step", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 10000,
     .min = 0, .max = 10000},
    {.name = "return_with_leftover_noise", .type = LOOM_T_COMBO, .choices = disable_enable}};

static const loom_output latent_out[] = {{.type = "LATENT", .tooltip = "The denoised latent."}};

static const loom_node_type sampling_nodes[] = {
    {.name = "KSampler", .category = "sampling",
     .description = "Uses the provided model, positive and negative conditioning to denoise "
                    "the latent image.",
     .inputs = ksampler_in, .n_inputs = LOOM_COUNT(ksampler_in), .outputs = latent_out,
     .n_outputs = 1},
    {.name = "KSamplerAdvanced", .display_name = "KSampler (Advanced)", .category = "sampling",
     .inputs = ksampler_adv_in, .n_inputs = LOOM_COUNT(ksampler_adv_in), .outputs = latent_out,
     .n_outputs = 1},
};

static int register_sampling(loom_registrar *reg, loom_error *err)
{
    for (size_t i = 0; i < LOOM_COUNT(sampling_nodes); i++) {
        int rc = loom_register_node(reg, &sampling_nodes[i], err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom.sampling", "0.1.0", register_sampling);
