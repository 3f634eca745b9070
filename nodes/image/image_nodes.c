/* image_nodes.c: the image plugin's node table: SaveImage, PreviewImage, SaveAnimatedWEBP,
 * LoadImage, with ComfyUI's names and inputs. The bodies live in save_png.c, save_webp.c
 * and load_image.c. */
#include "image_nodes.h"

static const char *const webp_methods[] = {"default", "fastest", "slowest", NULL};

#define HIDDEN_META                                                       \
    {.name = "prompt", .type = LOOM_T_PROMPT, .flags = LOOM_IN_HIDDEN},   \
    {.name = "extra_pnginfo", .type = LOOM_T_EXTRA_PNGINFO, .flags = LOOM_IN_HIDDEN}

static const loom_input save_in[] = {
    {.name = "images", .type = "IMAGE", .tooltip = "The images to save."},
    {.name = "filename_prefix", .type = LOOM_T_STRING, .def_str = "ComfyUI",
     .tooltip = "The prefix for the file to save."},
    HIDDEN_META};
static const loom_input preview_in[] = {{.name = "images", .type = "IMAGE"}, HIDDEN_META};
static const loom_input webp_in[] = {
    {.name = "images", .type = "IMAGE"},
    {.name = "filename_prefix", .type = LOOM_T_STRING, .def_str = "ComfyUI"},
    {.name = "fps", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 6.0, .min = 0.01, .max = 1000.0, .step = 0.01},
    {.name = "lossless", .type = LOOM_T_BOOLEAN, .def = 1},
    {.name = "quality", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .def = 80, .min = 0,
     .max = 100},
    {.name = "method", .type = LOOM_T_COMBO, .choices = webp_methods, .def_str = "default"},
    HIDDEN_META};
static const loom_input load_in[] = {
    {.name = "image", .type = LOOM_T_COMBO, .choices_fn = load_image_choices,
     .flags = LOOM_IN_UPLOAD_IMAGE}};
static const loom_output load_out[] = {{.type = "IMAGE"}, {.type = "MASK"}};

static const loom_node_type image_nodes[] = {
    {.name = "SaveImage", .display_name = "Save Image", .category = "image",
     .description = "Saves the input images to your output directory.", .inputs = save_in,
     .n_inputs = LOOM_COUNT(save_in), .flags = LOOM_NODE_OUTPUT,
     .execute = save_image_execute},
    {.name = "PreviewImage", .display_name = "Preview Image", .category = "image",
     .inputs = preview_in, .n_inputs = LOOM_COUNT(preview_in), .flags = LOOM_NODE_OUTPUT,
     .execute = preview_image_execute},
    {.name = "SaveAnimatedWEBP", .category = "image/animation", .inputs = webp_in,
     .n_inputs = LOOM_COUNT(webp_in), .flags = LOOM_NODE_OUTPUT,
     .execute = save_animated_webp_execute},
    {.name = "LoadImage", .display_name = "Load Image", .category = "image", .inputs = load_in,
     .n_inputs = LOOM_COUNT(load_in), .outputs = load_out, .n_outputs = LOOM_COUNT(load_out),
     .execute = load_image_execute, .fingerprint = load_image_fingerprint},
};

static int register_image(loom_registrar *reg, loom_error *err)
{
    return loom_register_nodes(reg, image_nodes, LOOM_COUNT(image_nodes), err);
}

LOOM_PLUGIN_DEFINE("loom.image", "0.1.0", register_image);
