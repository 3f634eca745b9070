/* vae_nodes.c: VAELoader, VAEDecode, VAEEncode (ComfyUI names and inputs). Declared now;
 * the Wan VAE arrives with issue #7, so execute is NULL for now. */
#include "loom/plugin.h"

static const loom_input loader_in[] = {
    {.name = "vae_name", .type = LOOM_T_COMBO, .model_folder = "vae"}};
static const loom_output vae_out[] = {{.type = "VAE"}};
static const loom_input decode_in[] = {
    {.name = "samples", .type = "LATENT", .tooltip = "The latent to be decoded."},
    {.name = "vae", .type = "VAE", .tooltip = "The VAE model used for decoding the latent."}};
static const loom_output image_out[] = {{.type = "IMAGE", .tooltip = "The decoded image."}};
static const loom_input encode_in[] = {{.name = "pixels", .type = "IMAGE"},
                                       {.name = "vae", .type = "VAE"}};
static const loom_output latent_out[] = {{.type = "LATENT"}};

static const loom_node_type vae_nodes[] = {
    {.name = "VAELoader", .display_name = "Load VAE", .category = "loaders", .inputs = loader_in,
     .n_inputs = LOOM_COUNT(loader_in), .outputs = vae_out, .n_outputs = 1},
    {.name = "VAEDecode", .display_name = "VAE Decode", .category = "latent",
     .description = "Decodes latent images back into pixel space images.", .inputs = decode_in,
     .n_inputs = LOOM_COUNT(decode_in), .outputs = image_out, .n_outputs = 1},
    {.name = "VAEEncode", .display_name = "VAE Encode", .category = "latent", .inputs = encode_in,
     .n_inputs = LOOM_COUNT(encode_in), .outputs = latent_out, .n_outputs = 1},
};

static int register_vae(loom_registrar *reg, loom_error *err)
{
    for (size_t i = 0; i < LOOM_COUNT(vae_nodes); i++) {
        int rc = loom_register_node(reg, &vae_nodes[i], err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom.vae", "0.1.0", register_vae);
