/* latent_nodes.c: empty latents (ComfyUI names and inputs): EmptyHunyuanLatentVideo,
 * EmptyLatentImage, Wan22ImageToVideoLatent.
 *
 * ComfyUI's shapes: a video latent is zeros [B, 16, (length-1)/4 + 1, H/8, W/8] (the
 * first frame alone, then 4 frames per latent frame; integer division); an image latent
 * is zeros [B, 4, H/8, W/8]. Samplers widen an all-zero latent to the model's channel
 * count, so the 4 channels of EmptyLatentImage are not a mismatch. Wan22ImageToVideoLatent
 * without a start image is Wan2.2-TI2V's text-to-video latent, zeros
 * [1, 48, (length-1)/4 + 1, H/16, W/16] (ComfyUI ignores batch_size on this path, and so
 * does loom); with a start image it needs to encode the image with the Wan2.2 VAE, which
 * is private to the VAE plugin (no cross-plugin VAE type yet), and it says so. The
 * samplers already honour the noise_mask that path would add.
 */
#include "latent_nodes.h"
#include "loom/types.h"

static int empty_latent(loom_node_ctx *ctx, int ndim, const int64_t *shape)
{
    loom_error err = {0};
    loom_tensor *t = loom_tensor_new(LOOM_F32, ndim, shape, &err);
    if (!t)
        return loom_node_fail_err(ctx, &err);
    return loom_out(ctx, 0, loom_latent_value(t, NULL));
}

static int empty_video_execute(loom_node_ctx *ctx)
{
    int64_t shape[5] = {loom_in_int(ctx, "batch_size"), 16,
                        (loom_in_int(ctx, "length") - 1) / 4 + 1, loom_in_int(ctx, "height") / 8,
                        loom_in_int(ctx, "width") / 8};
    return empty_latent(ctx, 5, shape);
}

static int empty_image_execute(loom_node_ctx *ctx)
{
    int64_t shape[4] = {loom_in_int(ctx, "batch_size"), 4, loom_in_int(ctx, "height") / 8,
                        loom_in_int(ctx, "width") / 8};
    return empty_latent(ctx, 4, shape);
}

static int wan22_latent_execute(loom_node_ctx *ctx)
{
    if (loom_in(ctx, "start_image"))
        return loom_node_fail_code(ctx, LOOM_ERR_UNSUPPORTED,
                                   "a start_image needs the Wan2.2 VAE encoder, which loom "
                                   "cannot reach from here yet; leave it unconnected for "
                                   "text-to-video");
    int64_t shape[5] = {1, 48, (loom_in_int(ctx, "length") - 1) / 4 + 1,
                        loom_in_int(ctx, "height") / 16, loom_in_int(ctx, "width") / 16};
    return empty_latent(ctx, 5, shape);
}

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

static const loom_node_type empty_latent_nodes[] = {
    {.name = "EmptyHunyuanLatentVideo", .category = "latent/video", .inputs = video_in,
     .n_inputs = LOOM_COUNT(video_in), .outputs = latent_out, .n_outputs = 1,
     .execute = empty_video_execute},
    {.name = "EmptyLatentImage", .display_name = "Empty Latent Image", .category = "latent",
     .description = "Create a new batch of empty latent images to be denoised via sampling.",
     .inputs = image_in, .n_inputs = LOOM_COUNT(image_in), .outputs = latent_out,
     .n_outputs = 1, .execute = empty_image_execute},
    {.name = "Wan22ImageToVideoLatent", .category = "conditioning/inpaint", .inputs = wan22_in,
     .n_inputs = LOOM_COUNT(wan22_in), .outputs = latent_out, .n_outputs = 1,
     .execute = wan22_latent_execute},
};

int register_empty_latent_nodes(loom_registrar *reg, loom_error *err)
{
    return loom_register_nodes(reg, empty_latent_nodes, LOOM_COUNT(empty_latent_nodes), err);
}
