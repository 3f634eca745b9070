/* plugin.c: entry point of the sampling plugin (KSampler family, custom sampling,
 * schedules). SIGMAS, SAMPLER, NOISE and GUIDER are private to this plugin. */
#include "sampling_nodes.h"

static int register_all(loom_registrar *reg, loom_error *err)
{
    int rc = register_ksampler_nodes(reg, err);
    return rc ? rc : register_custom_sampling_nodes(reg, err);
}

LOOM_PLUGIN_DEFINE("loom.sampling", "0.1.0", register_all);
