/* text_nodes.c: the text-encoder nodes (ComfyUI names and inputs): CLIPLoader and
 * CLIPTextEncode. Declared now; the umT5 tokenizer and encoder arrive with issue #5, so
 * execute is NULL and validation reports them as not runnable in this build. Only the
 * text-encoder types loom implements are offered ("wan"). */
#include "loom/plugin.h"

static const char *const clip_types[] = {"wan", NULL};
static const char *const clip_devices[] = {"default", "cpu", NULL};

static const loom_input clip_loader_in[] = {
    {.name = "clip_name", .type = LOOM_T_COMBO, .model_folder = "text_encoders;clip"},
    {.name = "type", .type = LOOM_T_COMBO, .choices = clip_types, .def_str = "wan"},
    {.name = "device", .type = LOOM_T_COMBO, .choices = clip_devices, .def_str = "default",
     .flags = LOOM_IN_OPTIONAL | LOOM_IN_ADVANCED}};
static const loom_output clip_out[] = {{.type = "CLIP"}};

static const loom_input encode_in[] = {
    {.name = "text", .type = LOOM_T_STRING, .flags = LOOM_IN_MULTILINE | LOOM_IN_DYNAMIC_PROMPTS,
     .tooltip = "The text to be encoded."},
    {.name = "clip", .type = "CLIP", .tooltip = "The CLIP model used for encoding the text."}};
static const loom_output cond_out[] = {
    {.type = "CONDITIONING",
     .tooltip = "A conditioning containing the embedded text used to guide the diffusion model."}};

static const loom_node_type text_nodes[] = {
    {.name = "CLIPLoader", .display_name = "Load CLIP", .category = "advanced/loaders",
     .inputs = clip_loader_in, .n_inputs = LOOM_COUNT(clip_loader_in), .outputs = clip_out,
     .n_outputs = 1},
    {.name = "CLIPTextEncode", .display_name = "CLIP Text Encode (Prompt)", .category = "conditioning",
     .description = "Encodes a text prompt using a CLIP model into an embedding that can be "
                    "used to guide the diffusion model towards generating specific images.",
     .inputs = encode_in, .n_inputs = LOOM_COUNT(encode_in), .outputs = cond_out, .n_outputs = 1},
};

static int register_text(loom_registrar *reg, loom_error *err)
{
    for (size_t i = 0; i < LOOM_COUNT(text_nodes); i++) {
        int rc = loom_register_node(reg, &text_nodes[i], err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom.text", "0.1.0", register_text);
