/* latent_files.c: SaveLatent and LoadLatent in ComfyUI's .latent format.
 *
 * A .latent file is a safetensors file with the tensor "latent_tensor" (the LATENT's
 * samples, f32, in VAE space) and an empty "latent_format_version_0" tensor that marks the
 * current format; files without that marker predate it and are scaled by 1/0.18215 on
 * load, as ComfyUI does. Metadata carries the prompt (API JSON) and, when there is one,
 * the UI workflow. SaveLatent follows ComfyUI's naming, "<prefix>_<counter:05>_.latent"
 * under the output folder (default prefix "latents/ComfyUI"), through the writers' shared
 * output_file helpers: written to a hidden temporary, published with a no-replace rename,
 * so a file is never partial and never overwritten. LoadLatent lists the .latent files of ./input,
 * as ComfyUI lists its input folder.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "latent_nodes.h"
#include "loom/safetensors.h"
#include "loom/types.h"
#include "output_file.h"

#define LATENT_INPUT_DIR "input"
#define LATENT_EXT       ".latent"
/* Latents saved before the format marker were scaled by the SD1 VAE factor. */
#define LEGACY_LATENT_SCALE (1.0f / 0.18215f)

static int save_latent_execute(loom_node_ctx *ctx)
{
    const loom_latent *latent = loom_in_latent(ctx, "samples");
    if (!latent || !latent->samples || latent->samples->dtype != LOOM_F32)
        return loom_node_fail(ctx, "samples must be an f32 LATENT");
    loom_error err = {0};
    output_target target;
    output_tmp tmp;
    if (output_target_open(&target, loom_output_dir(ctx), loom_in_str(ctx, "filename_prefix"), 0,
                           0, &err) ||
        output_tmp_create(&target, &tmp, &err))
        return loom_node_fail_err(ctx, &err);
    /* safetensors_write replaces the (empty) temporary by path; commit then publishes it. */
    if (output_tmp_close(&tmp, &err)) {
        output_tmp_discard(&tmp);
        return loom_node_fail_err(ctx, &err);
    }

    int64_t empty_shape[1] = {0};
    loom_tensor *marker = loom_tensor_new(LOOM_F32, 1, empty_shape, &err);
    const char *names[2] = {"latent_tensor", "latent_format_version_0"};
    loom_tensor *tensors[2] = {latent->samples, marker};
    const char *workflow = loom_in_str(ctx, "extra_pnginfo");
    const char *meta[5] = {"prompt", loom_in_str(ctx, "prompt"), NULL, NULL, NULL};
    if (workflow && strcmp(workflow, "{}") != 0) {
        meta[2] = "workflow";
        meta[3] = workflow;
    }
    char filename[NAME_MAX + 1];
    int rc = marker ? loom_safetensors_write(tmp.path, 2, names, tensors, meta, &err)
                    : LOOM_ERR_NOMEM;
    loom_tensor_unref(marker);
    if (rc) {
        output_tmp_discard(&tmp);
        return loom_node_fail_err(ctx, &err);
    }
    if (output_tmp_commit(&target, &tmp, "latent", filename, sizeof filename, &err))
        return loom_node_fail_err(ctx, &err);
    return loom_ui_file(ctx, "latents", filename, target.subfolder, "output");
}

static int latent_path(loom_node_ctx *ctx, char *path, size_t cap)
{
    const char *name = loom_in_str(ctx, "latent");
    if (!name || !*name || strchr(name, '/') || !strcmp(name, "..") ||
        (size_t)snprintf(path, cap, "%s/%s", LATENT_INPUT_DIR, name) >= cap)
        return loom_node_fail(ctx, "'%s' is not a file name in %s/", name ? name : "",
                              LATENT_INPUT_DIR);
    return LOOM_OK;
}

static int load_latent_execute(loom_node_ctx *ctx)
{
    char path[4096];
    int rc = latent_path(ctx, path, sizeof path);
    if (rc)
        return rc;
    loom_error err = {0};
    loom_safetensors *st = NULL;
    if (loom_safetensors_open(path, &st, &err))
        return loom_node_fail_err(ctx, &err);
    loom_tensor *stored = loom_safetensors_require(st, "latent_tensor", &err);
    bool current = loom_safetensors_info(st, "latent_format_version_0", NULL, NULL, NULL) == LOOM_OK;
    loom_tensor *samples = stored ? loom_tensor_to_f32(stored, &err) : NULL;
    loom_tensor_unref(stored);
    loom_safetensors_close(st);
    if (!samples)
        return loom_node_fail_err(ctx, &err);
    if (!current) {
        float *p = samples->data;
        for (int64_t i = 0, n = loom_tensor_numel(samples); i < n; i++)
            p[i] *= LEGACY_LATENT_SCALE;
    }
    return loom_out(ctx, 0, loom_latent_value(samples, NULL));
}

/* A changed file must not come from the cache: its size and mtime join the key. */
static int load_latent_fingerprint(loom_node_ctx *ctx, char *buf, size_t cap)
{
    char path[4096];
    struct stat sb;
    const char *name = loom_in_str(ctx, "latent");
    snprintf(path, sizeof path, "%s/%s", LATENT_INPUT_DIR, name ? name : "");
    if (stat(path, &sb) != 0)
        return LOOM_ERR_NOT_FOUND;
    snprintf(buf, cap, "%lld:%lld.%09ld", (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
             sb.st_mtim.tv_nsec);
    return LOOM_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_input_latents(const char *models_dir, void *userdata)
{
    (void)models_dir;
    (void)userdata;
    size_t n = 0, cap = 16, ext = strlen(LATENT_EXT);
    char **out = calloc(cap, sizeof *out);
    DIR *d = opendir(LATENT_INPUT_DIR);
    struct dirent *e;
    while (out && d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= ext || strcmp(e->d_name + len - ext, LATENT_EXT))
            continue;
        if (n + 2 > cap) {
            char **grown = realloc(out, (cap *= 2) * sizeof *out);
            if (!grown)
                break;
            out = grown;
        }
        if ((out[n] = strdup(e->d_name)))
            out[++n] = NULL;
    }
    if (d)
        closedir(d);
    if (out)
        qsort(out, n, sizeof *out, cmp_str);
    return out;
}

static const loom_input save_in[] = {
    {.name = "samples", .type = "LATENT"},
    {.name = "filename_prefix", .type = LOOM_T_STRING, .def_str = "latents/ComfyUI"},
    {.name = "prompt", .type = LOOM_T_PROMPT, .flags = LOOM_IN_HIDDEN},
    {.name = "extra_pnginfo", .type = LOOM_T_EXTRA_PNGINFO, .flags = LOOM_IN_HIDDEN}};
static const loom_input load_in[] = {
    {.name = "latent", .type = LOOM_T_COMBO, .choices_fn = list_input_latents}};
static const loom_output latent_out[] = {{.type = "LATENT"}};

static const loom_node_type latent_file_nodes[] = {
    {.name = "SaveLatent", .category = "_for_testing", .inputs = save_in,
     .n_inputs = LOOM_COUNT(save_in), .flags = LOOM_NODE_OUTPUT, .execute = save_latent_execute},
    {.name = "LoadLatent", .category = "_for_testing", .inputs = load_in,
     .n_inputs = LOOM_COUNT(load_in), .outputs = latent_out, .n_outputs = 1,
     .execute = load_latent_execute, .fingerprint = load_latent_fingerprint},
};

int register_latent_file_nodes(loom_registrar *reg, loom_error *err)
{
    return loom_register_nodes(reg, latent_file_nodes, LOOM_COUNT(latent_file_nodes), err);
}
