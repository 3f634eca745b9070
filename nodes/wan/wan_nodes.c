/* wan_nodes.c: the Wan model family's loader and model-patch nodes (ComfyUI names and
 * inputs): UNETLoader, ModelSamplingSD3, LoraLoaderModelOnly.
 *
 * The declarations are complete (validation, /object_info and UI conversion use them);
 * execution arrives with the Wan DiT (issue #6), so execute is NULL for now and
 * validation reports these nodes as not runnable in this build.
 */
#include "loom/plugin.h"

static const char *const weight_dtypes[] = {"default", "fp8_e4m3fn", "fp8_e4m3fn_fast",
                                            "fp8_e5m2", NULL};

static const loom_input unet_loader_in[] = {
    {.name = "unet_name", .type = LOOM_T_COMBO, .model_folder = "diffusion_models;unet"},
    {.name = "weight_dtype", .type = LOOM_T_COMBO, .choices = weight_dtypes, .def_str = "default"}};
static const loom_output model_out[] = {{.type = "MODEL"}};

static const loom_input sd3_in[] = {
    {.name = "model", .type = "MODEL"},
    {.name = "shift", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 3.0, .min = 0.0, .max = 100.0, .step = 0.01}};

static const loom_input lora_in[] = {
    {.name = "model", .type = "MODEL", .tooltip = "The diffusion model the LoRA will be applied to."},
    {.name = "lora_name", .type = LOOM_T_COMBO, .model_folder = "loras",
     .tooltip = "The name of the LoRA."},
    {.name = "strength_model", .type = LOOM_T_FLOAT,
     .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP, .def = 1.0, .min = -100.0, .max = 100.0,
     .step = 0.01, .tooltip = "How strongly to modify the diffusion model."}};

static const loom_node_type wan_nodes[] = {
    {.name = "UNETLoader", .display_name = "Load Diffusion Model", .category = "advanced/loaders",
     .inputs = unet_loader_in, .n_inputs = LOOM_COUNT(unet_loader_in), .outputs = model_out,
     .n_outputs = 1},
    {.name = "ModelSamplingSD3", .category = "advanced/model", .inputs = sd3_in,
     .n_inputs = LOOM_COUNT(sd3_in), .outputs = model_out, .n_outputs = 1},
    {.name = "LoraLoaderModelOnly", .category = "loaders", .inputs = lora_in,
     .n_inputs = LOOM_COUNT(lora_in), .outputs = model_out, .n_outputs = 1},
};

static int register_wan(loom_registrar *reg, loom_error *err)
{
    for (size_t i = 0; i < LOOM_COUNT(wan_nodes); i++) {
        int rc = loom_register_node(reg, &wan_nodes[i], err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

LOOM_PLUGIN_DEFINE("loom.wan", "0.1.0", register_wan);
