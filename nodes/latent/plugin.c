/* plugin.c: entry point of the latent plugin (empty latents, .latent files). */
#include "latent_nodes.h"

static int register_all(loom_registrar *reg, loom_error *err)
{
    int rc = register_empty_latent_nodes(reg, err);
    return rc ? rc : register_latent_file_nodes(reg, err);
}

LOOM_PLUGIN_DEFINE("loom.latent", "0.1.0", register_all);
