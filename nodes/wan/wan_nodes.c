/* wan_nodes.c: the Wan model family's loader and model-patch nodes (ComfyUI names and
 * inputs): UNETLoader, ModelSamplingSD3, LoraLoaderModelOnly.
 *
 * UNETLoader loads a Wan2.1 DiT (wan_dit.h) into a MODEL value; its cache key includes the
 * file's size and mtime, so a changed file reloads. ModelSamplingSD3 is a model patch:
 * a new MODEL sharing the same weights with another flow shift. LoraLoaderModelOnly
 * loads the base model again with the LoRA merged into its linear weights (wan_lora.c).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "loom/model.h"
#include "loom/plugin.h"
#include "wan_dit.h"

#define UNET_FOLDERS "diffusion_models;unet"

static const char *const weight_dtypes[] = {"default", "fp8_e4m3fn", "fp8_e4m3fn_fast",
                                            "fp8_e5m2", NULL};

static const loom_input unet_loader_in[] = {
    {.name = "unet_name", .type = LOOM_T_COMBO, .model_folder = UNET_FOLDERS},
    {.name = "weight_dtype", .type = LOOM_T_COMBO, .choices = weight_dtypes, .def_str = "default"}};
static const loom_output model_out[] = {{.type = "MODEL"}};

/* weight_dtype: "default" keeps the file's weights; the fp8 choices round every linear
 * weight through that type, as ComfyUI stores them (loom computes in bf16/f32 either way). */
static loom_dtype weight_round_of(const char *weight_dtype)
{
    if (!strncmp(weight_dtype, "fp8_e4m3fn", 10))
        return LOOM_F8_E4M3;
    return strcmp(weight_dtype, "fp8_e5m2") ? LOOM_F32 : LOOM_F8_E5M2;
}

static int unet_loader(loom_node_ctx *ctx)
{
    char path[4096];
    int rc = loom_model_path(ctx, UNET_FOLDERS, loom_in_str(ctx, "unet_name"), path, sizeof path);
    if (rc)
        return rc;
    wan_load_opts opts = {LOOM_PREC_AUTO, weight_round_of(loom_in_str(ctx, "weight_dtype"))};
    wan_dit *m;
    loom_error err = {0};
    if (wan_dit_load(path, &opts, &m, &err))
        return loom_node_fail_err(ctx, &err);
    if (m->cfg.in_dim != 16 || m->cfg.out_dim != 16) {
        loom_node_fail_code(ctx, LOOM_ERR_UNSUPPORTED,
                            "'%s': %lld latent channels in, %lld out; only Wan2.1-style text-to-video "
                            "DiTs (16 / 16) are supported", path, (long long)m->cfg.in_dim,
                            (long long)m->cfg.out_dim);
        wan_dit_free(m);
        return LOOM_ERR_UNSUPPORTED;
    }
    loom_node_log(ctx, "Wan DiT: dim %lld, %d layers, %d heads, ffn %lld, %.1f MB resident",
                  (long long)m->cfg.dim, m->cfg.num_layers, m->cfg.num_heads, (long long)m->cfg.ffn_dim,
                  (double)m->bytes / 1e6);
    loom_value *v = wan_model_value(m, NULL);
    if (!v)
        return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory");
    return loom_out(ctx, 0, v);
}

/* Size and mtime of a model file; for a diffusers folder, the file count, total size and
 * newest mtime of its files, so rewriting any shard reloads. */
static int file_fingerprint(loom_node_ctx *ctx, const char *folders, const char *input, char *buf, size_t cap)
{
    char path[4096];
    struct stat st;
    if (loom_model_path(ctx, folders, loom_in_str(ctx, input), path, sizeof path) || stat(path, &st) != 0)
        return LOOM_ERR_NOT_FOUND;
    long long files = 1, bytes = (long long)st.st_size;
    struct timespec newest = st.st_mtim;
    DIR *d = S_ISDIR(st.st_mode) ? opendir(path) : NULL;
    for (struct dirent *e; d && (e = readdir(d));) {
        struct stat fs;
        if (fstatat(dirfd(d), e->d_name, &fs, 0) != 0 || !S_ISREG(fs.st_mode))
            continue;
        files++;
        bytes += (long long)fs.st_size;
        if (fs.st_mtim.tv_sec > newest.tv_sec ||
            (fs.st_mtim.tv_sec == newest.tv_sec && fs.st_mtim.tv_nsec > newest.tv_nsec))
            newest = fs.st_mtim;
    }
    if (d)
        closedir(d);
    snprintf(buf, cap, "%lld:%lld:%lld.%09ld", files, bytes, (long long)newest.tv_sec, newest.tv_nsec);
    return LOOM_OK;
}

static int unet_fingerprint(loom_node_ctx *ctx, char *buf, size_t cap)
{
    return file_fingerprint(ctx, UNET_FOLDERS, "unet_name", buf, cap);
}

static int lora_fingerprint(loom_node_ctx *ctx, char *buf, size_t cap)
{
    return file_fingerprint(ctx, "loras", "lora_name", buf, cap);
}

/* A new Wan DiT: the base model's file loaded again with the LoRA chain applied to its
 * linear weights (loaded weights are prepacked, so there is nothing to patch in place).
 * The base's sampling settings (ModelSamplingSD3 before the LoRA) carry over. */
static int lora_loader(loom_node_ctx *ctx)
{
    const loom_model *base = loom_in_model(ctx, "model");
    wan_dit *d = wan_model_dit(base);
    if (!d)
        return loom_node_fail_code(ctx, LOOM_ERR_UNSUPPORTED, "LoraLoaderModelOnly: the model is not a Wan DiT");
    double strength = loom_in_float(ctx, "strength_model");
    if (strength == 0.0)        /* ComfyUI hands the model through unchanged */
        return loom_out(ctx, 0, loom_value_ref(loom_in(ctx, "model")));
    char path[4096], first[256];
    int rc = loom_model_path(ctx, "loras", loom_in_str(ctx, "lora_name"), path, sizeof path);
    if (rc)
        return rc;
    loom_error err = {0};
    wan_lora *lora;
    size_t unmatched;
    if (wan_lora_open(path, d, (float)strength, &lora, &unmatched, first, sizeof first, &err))
        return loom_node_fail_err(ctx, &err);
    if (unmatched)
        loom_node_log(ctx, "LoRA '%s': %zu keys match no layer of this model and were skipped (first: '%s')",
                      path, unmatched, first);
    wan_weight_patch patch = wan_lora_patch(lora);
    wan_load_opts opts = d->opts;
    opts.patch = &patch;
    wan_dit *m;
    if (wan_dit_load(d->path, &opts, &m, &err)) {
        wan_lora_unref(lora);
        return loom_node_fail_err(ctx, &err);
    }
    m->lora = lora;
    loom_value *v = wan_model_value(m, &base->sampling);
    if (!v)
        return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory");
    return loom_out(ctx, 0, v);
}

static int model_sampling_sd3(loom_node_ctx *ctx)
{
    const loom_model *base = loom_in_model(ctx, "model");
    loom_model_sampling sampling = base->sampling;
    sampling.shift = loom_in_float(ctx, "shift");
    sampling.multiplier = 1000.0;
    loom_value *v = loom_model_patch(base, &sampling);
    if (!v)
        return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory");
    return loom_out(ctx, 0, v);
}

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
     .n_outputs = 1, .execute = unet_loader, .fingerprint = unet_fingerprint},
    {.name = "ModelSamplingSD3", .category = "advanced/model", .inputs = sd3_in,
     .n_inputs = LOOM_COUNT(sd3_in), .outputs = model_out, .n_outputs = 1,
     .execute = model_sampling_sd3},
    {.name = "LoraLoaderModelOnly", .category = "loaders", .inputs = lora_in,
     .n_inputs = LOOM_COUNT(lora_in), .outputs = model_out, .n_outputs = 1, .execute = lora_loader,
     .fingerprint = lora_fingerprint},
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
