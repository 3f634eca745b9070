/* sampling_nodes.h: the node tables of the sampling plugin and the widget declarations
 * they share (ComfyUI's names, defaults and limits). */
#ifndef LOOM_SAMPLING_NODES_H
#define LOOM_SAMPLING_NODES_H

#include "loom/plugin.h"
#include "samplers.h"

#define SEED_INPUT(NAME)                                                                    \
    {.name = NAME, .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_CONTROL_SEED,   \
     .def = 0, .min = 0, .max = 18446744073709551615.0,                                     \
     .tooltip = "The random seed used for creating the noise."}
#define STEPS_INPUT                                                                         \
    {.name = "steps", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 20, .min = 1,  \
     .max = 10000, .tooltip = "The number of steps used in the denoising process."}
#define CFG_INPUT                                                                           \
    {.name = "cfg", .type = LOOM_T_FLOAT,                                                   \
     .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP | LOOM_IN_HAS_ROUND, .def = 8.0,         \
     .min = 0.0, .max = 100.0, .step = 0.1, .round = 0.01,                                  \
     .tooltip = "The Classifier-Free Guidance scale."}
#define SAMPLER_INPUT                                                                       \
    {.name = "sampler_name", .type = LOOM_T_COMBO, .choices = comfy_sampler_names,         \
     .tooltip = "The algorithm used when sampling."}
#define SCHEDULER_INPUT                                                                     \
    {.name = "scheduler", .type = LOOM_T_COMBO, .choices = comfy_scheduler_names,          \
     .tooltip = "The scheduler controls how noise is gradually removed to form the image."}
#define DENOISE_INPUT                                                                       \
    {.name = "denoise", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP, \
     .def = 1.0, .min = 0.0, .max = 1.0, .step = 0.01,                                      \
     .tooltip = "The amount of denoising applied."}

int register_ksampler_nodes      (loom_registrar *reg, loom_error *err);
int register_custom_sampling_nodes(loom_registrar *reg, loom_error *err);

#endif
