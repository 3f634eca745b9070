/* image_nodes.c: SaveImage, PreviewImage, SaveAnimatedWEBP, LoadImage (ComfyUI names and
 * inputs). Declared now; the writers arrive with issue #7, so execute is NULL for now.
 * LoadImage lists the files of ./input, as ComfyUI lists its input folder. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "loom/plugin.h"

static const char *const webp_methods[] = {"default", "fastest", "slowest", NULL};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_input_images(const char *models_dir, void *userdata)
{
    (void)models_dir;
    (void)userdata;
    size_t n = 0, cap = 16;
    char **out = calloc(cap, sizeof *out);
    DIR *d = opendir("input");
    struct dirent *e;
    while (out && d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n + 2 > cap) {
            char **grown = realloc(out, (cap *= 2) * sizeof *out);
            if (!grown)
                break;
            out = grown;
        }
        out[n] = strdup(e->d_name);
        if (out[n])
            out[++n] = NULL;
    }
    if (d)
        closedir(d);
    if (out)
        qsort(out, n, sizeof *out, cmp_str);
    return out;
}

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
    {.name = "image", .type = LOOM_T_COMBO, .choices_fn = list_input_images,
     .flags = LOOM_IN_UPLOAD_IMAGE}};
static const loom_output load_out[] = {{.type = "IMAGE"}, {.type = "MASK"}};

static const loom_node_type image_nodes[] = {
    {.name = "SaveImage", .display_name = "Save Image", .category = "image",
     .description = "Saves the input images to your output directory.", .inputs = save_in,
     .n_inputs = LOOM_COUNT(save_in), .flags = LOOM_NODE_OUTPUT},
    {.name = "PreviewImage", .display_name = "Preview Image", .category = "image",
     .inputs = preview_in, .n_inputs = LOOM_COUNT(preview_in), .flags = LOOM_NODE_OUTPUT},
    {.name = "SaveAnimatedWEBP", .category = "image/animation", .inputs = webp_in,
     .n_inputs = LOOM_COUNT(webp_in), .flags = LOOM_NODE_OUTPUT},
    {.name = "LoadImage", .display_name = "Load Image", .category = "image", .inputs = load_in,
     .n_inputs = LOOM_COUNT(load_in), .outputs = load_out, .n_outputs = LOOM_COUNT(load_out)},
};

static int register_image(loom_registrar *reg, loom_error *err)
{
    for (size_t i = 0; i < LOOM_COUNT(image_nodes); i++) {
        int rc = loom_register_node(reg, &image_nodes[i], err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom.image", "0.1.0", register_image);
