/* latent_nodes.c: empty latents (ComfyUI names and inputs): EmptyHunyuanLatentVideo,
 * EmptyLatentImage, Wan22ImageToVideoLatent. Declared now; the LATENT type and these
 * nodes' bodies arrive with issue #6, so execute is NULL for now. */
#include "loom/plugin.h"

static const loom_input video_in[] = {
    {.name = "width", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 848, .min = 16, .max = 16384, .step = 16},
    {.name = "height", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 480, .min = 16, .max = 16384, .step = 16},
    {.name = "length", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 25, .min = 1, .max = 16384, .step = 4},
    {.name = "batch_size", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 1, .min = 1,
     .max = 4096}};

static const loom_input image_in[] = {
    {.name = "width", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 512, .min = 16, .max = 16384, .step = 8},
    {.name = "height", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 512, .min = 16, .max = 16384, .step = 8},
    {.name = "batch_size", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 1, .min = 1,
     .max = 4096}};

static const loom_input wan22_in[] = {
    {.name = "vae", .type = "VAE"},
    {.name = "width", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 1280, .min = 32, .max = 16384, .step = 32},
    {.name = "height", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 704, .min = 32, .max = 16384, .step = 32},
    {.name = "length", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 49, .min = 1, .max = 16384, .step = 4},
    {.name = "batch_size", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 1, .min = 1,
     .max = 4096},
    {.name = "start_image", .type = "IMAGE", .flags = LOOM_IN_OPTIONAL}};

static const loom_output latent_out[] = {{.type = "LATENT"}};

static const loom_node_type latent_nodes[] = {
    {.name = "EmptyHunyuanLatentVideo", .category = "latent/video", .inputs = video_in,
     .n_inputs = LOOM_COUNT(video_in), .outputs = latent_out, .n_outputs = 1},
    {.name = "EmptyLatentImage", .display_name = "Empty Latent Image", .category = "latent",
     .inputs = image_in, .n_inputs = LOOM_COUNT(image_in), .outputs = latent_out, .n_outputs = 1},
    {.name = "Wan22ImageToVideoLatent", .category = "conditioning/inpaint", .inputs = wan22_in,
     .n_inputs = LOOM_COUNT(wan22_in), .outputs = latent_out, .n_outputs = 1},
};

static int register_latent(loom_registrar *reg, loom_error *err)
{
    for (size_t i = 0; i < LOOM_COUNT(latent_nodes); i++) {
        int rc = loom_register_node(reg, &latent_nodes[i], err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom.latent", "0.1.0", register_latent);
