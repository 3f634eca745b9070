/* wan_config.c: a Wan DiT's hyper-parameters, read from its tensor shapes.
 *
 * Every size but one is recorded by some tensor's shape (ComfyUI's detect_unet_config,
 * comfyui.md 6.3): dim by head.modulation, in_dim and the patch by the patch embedding,
 * text and frequency dims by the first layers of their MLPs, ffn_dim by the first FFN,
 * out_dim by the head, the layer count by the highest block. The head count is the
 * exception: it comes from the files' own config (diffusers config.json, safetensors
 * metadata), else ComfyUI's rule dim / 128. The weight loader then checks every tensor
 * against this config, so an inconsistent file is rejected by the tensor that disagrees.
 */
#include <stdio.h>

#include "wan_dit.h"

/* Upper bound on blocks probed; the largest Wan has 40. */
#define WAN_MAX_LAYERS 1000

static int shape_of(wan_source *s, const char *name, int want_ndim, int64_t *shape, loom_error *err)
{
    loom_tensor *t = wan_source_require(s, name, err);
    if (!t)
        return err->code;
    int ndim = t->ndim;
    for (int i = 0; i < ndim; i++)
        shape[i] = t->shape[i];
    loom_tensor_unref(t);
    if (ndim != want_ndim) {
        char buf[512];
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s': tensor '%s' has %d dimensions, expected %d",
                           wan_source_path(s), wan_source_file_name(s, name, buf, sizeof buf), ndim, want_ndim);
    }
    return LOOM_OK;
}

static int count_layers(wan_source *s)
{
    int n = 0;
    char name[64];
    for (; n < WAN_MAX_LAYERS; n++) {
        snprintf(name, sizeof name, "blocks.%d.modulation", n);
        loom_tensor *t = wan_source_get(s, name);
        if (!t)
            break;
        loom_tensor_unref(t);
    }
    return n;
}

int wan_config_detect(wan_source *s, wan_config *c, loom_error *err)
{
    int64_t sh[LOOM_MAX_DIMS];
    int rc;
    *c = (wan_config){0};
    if ((rc = shape_of(s, "head.modulation", 3, sh, err)))
        return rc;
    c->dim = sh[2];
    if ((rc = shape_of(s, "patch_embedding.weight", 5, sh, err)))
        return rc;
    c->in_dim = sh[1];
    c->patch[0] = (int)sh[2];
    c->patch[1] = (int)sh[3];
    c->patch[2] = (int)sh[4];
    if ((rc = shape_of(s, "text_embedding.0.weight", 2, sh, err)))
        return rc;
    c->text_dim = sh[1];
    if ((rc = shape_of(s, "time_embedding.0.weight", 2, sh, err)))
        return rc;
    c->freq_dim = sh[1];
    if ((rc = shape_of(s, "blocks.0.ffn.0.weight", 2, sh, err)))
        return rc;
    c->ffn_dim = sh[0];
    if ((rc = shape_of(s, "head.head.weight", 2, sh, err)))
        return rc;
    int64_t patch_volume = (int64_t)c->patch[0] * c->patch[1] * c->patch[2];
    if (patch_volume <= 0 || sh[0] % patch_volume)
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s': head output %lld is not a multiple of the patch volume %lld",
                           wan_source_path(s), (long long)sh[0], (long long)patch_volume);
    c->out_dim = sh[0] / patch_volume;
    if ((c->num_layers = count_layers(s)) == 0)
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s' is not a complete Wan2.1 DiT: it has no blocks",
                           wan_source_path(s));
    if (c->freq_dim % 2)
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s': odd time-embedding width %lld", wan_source_path(s),
                           (long long)c->freq_dim);

    c->num_heads = wan_source_num_heads(s);
    if (c->num_heads <= 0)
        c->num_heads = (int)(c->dim / WAN_DEFAULT_HEAD_DIM);
    if (c->num_heads <= 0 || c->dim % c->num_heads || (c->dim / c->num_heads) % 2)
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "'%s': cannot split dim %lld into heads (head count %d); record num_heads in the "
                           "file's metadata", wan_source_path(s), (long long)c->dim, c->num_heads);
    c->head_dim = (int)(c->dim / c->num_heads);
    return LOOM_OK;
}
