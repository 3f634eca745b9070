/* vae_nodes.c: VAELoader, VAEDecode, VAEDecodeTiled and VAEEncode (ComfyUI names, inputs
 * and semantics) over the Wan2.1 VAE of vae_model.h.
 *
 * Layouts follow ComfyUI: a video LATENT is [B, 16, T, h, w] in VAE space (no latent
 * normalisation here: the samplers apply the Wan21 mean/std on their way in and out); a
 * decode gives IMAGE frames [B*F, 8h, 8w, 3] = clamp((x + 1)/2, 0, 1); an encode treats the
 * N IMAGE frames as one video (ComfyUI's movedim + unsqueeze for 3-D latents), centre-crops
 * H and W to multiples of 8 and returns [1, 16, 1 + (N-1)/4, H/8, W/8]. The "VAE" value is
 * private to this plugin: a wan_vae, released when the last holder goes.
 *
 * Compute precision: the convolutions and attention use bf16 products with f32
 * accumulation where the CPU has AMX (as loom's DiT does; about 5x faster than f32 here,
 * at a mean error of a third of an 8-bit level, see docs/performance.md), everything else
 * is f32. LOOM_VAE_F32=1 in the environment keeps the products f32 too, which is what
 * ComfyUI and Wan do on a CPU and what the reference-parity tests check (ComfyUI's
 * --fp32-vae, process-wide like it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loom/plugin.h"
#include "loom/types.h"
#include "vae_model.h"
#include "vae_tiled.h"

#define VAE_TYPE "VAE"

static loom_precision vae_precision(void)
{
    const char *f32 = getenv("LOOM_VAE_F32");
    return f32 && strcmp(f32, "1") == 0 ? LOOM_PREC_F32 : LOOM_PREC_AUTO;
}

/* ---- VAELoader ---------------------------------------------------------------------- */

static void vae_destroy(void *v) { wan_vae_free(v); }

static int loader_execute(loom_node_ctx *ctx)
{
    char path[4096];
    int rc = loom_model_path(ctx, "vae", loom_in_str(ctx, "vae_name"), path, sizeof path);
    if (rc)
        return rc;
    wan_vae *v;
    loom_error err = {0};
    if ((rc = wan_vae_load(path, vae_precision(), &v, &err)))
        return loom_node_fail_err(ctx, &err);
    return loom_out(ctx, 0, loom_value_object(VAE_TYPE, v, vae_destroy, v->bytes));
}

/* The weight file's size and modification time: a replaced file reloads. */
static int loader_fingerprint(loom_node_ctx *ctx, char *buf, size_t cap)
{
    char path[4096], file[4096];
    loom_error err = {0};
    struct stat st;
    if (loom_model_path(ctx, "vae", loom_in_str(ctx, "vae_name"), path, sizeof path) ||
        vae_weights_resolve(path, file, sizeof file, &err) || stat(file, &st))
        return LOOM_ERR_NOT_FOUND;
    snprintf(buf, cap, "%lld:%lld.%09ld:%d", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec, (int)vae_precision());
    return LOOM_OK;
}

/* ---- decoding --------------------------------------------------------------------- */

typedef struct node_progress {
    loom_node_ctx *ctx;
    int64_t        item, items;   /* batch position: progress spans the whole batch */
} node_progress;

static int report(void *ud, int64_t done, int64_t total)
{
    node_progress *p = ud;
    return loom_progress(p->ctx, p->item * total + done, p->items * total);
}

/* The latent's samples as [B, C, T, h, w] extents (an image latent has T = 1). */
static int latent_extents(loom_node_ctx *ctx, const wan_vae *v, const loom_latent *lat, int64_t e[5])
{
    const loom_tensor *s = lat ? lat->samples : NULL;
    if (!v)
        return loom_node_fail_code(ctx, LOOM_ERR_INVALID, "no VAE");
    if (!s || s->dtype != LOOM_F32 || (s->ndim != 5 && s->ndim != 4))
        return loom_node_fail_code(ctx, LOOM_ERR_INVALID, "samples must be a f32 [B, C, T, H, W] latent");
    e[0] = s->shape[0], e[1] = s->shape[1];
    e[2] = s->ndim == 5 ? s->shape[2] : 1;
    e[3] = s->shape[s->ndim - 2], e[4] = s->shape[s->ndim - 1];
    if (e[1] != v->z_dim)
        return loom_node_fail_code(ctx, LOOM_ERR_INVALID, "the latent has %lld channels; this VAE expects %lld",
                                   (long long)e[1], (long long)v->z_dim);
    if (e[0] < 1 || e[2] < 1 || e[3] < 1 || e[4] < 1)
        return loom_node_fail_code(ctx, LOOM_ERR_INVALID, "the latent is empty");
    return LOOM_OK;
}

/* ComfyUI's process_output on [3, n, H, W] into IMAGE frames [n, H, W, 3]. */
static void to_image(const float *x, int64_t n, int64_t H, int64_t W, float *frames)
{
    int64_t plane = H * W;
    for (int64_t t = 0; t < n; t++)
        for (int64_t p = 0; p < plane; p++)
            for (int64_t c = 0; c < 3; c++) {
                float v = (x[(c * n + t) * plane + p] + 1.0f) * 0.5f;
                frames[(t * plane + p) * 3 + c] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            }
}

typedef struct image_sink {
    float  *frames;      /* the IMAGE data of this batch item's first frame */
} image_sink;

static int write_frames(void *ud, const float *x, int64_t t0, int64_t n, int64_t H, int64_t W)
{
    image_sink *s = ud;
    to_image(x, n, H, W, s->frames + t0 * H * W * 3);
    return LOOM_OK;
}

/* NaN or Inf would reach the writers as black frames: name where they came from. The
 * latent is checked before decoding, the frames after. */
static int check_latent_finite(loom_node_ctx *ctx, const loom_tensor *latent)
{
    int64_t bad = loom_tensor_first_nonfinite(latent);
    if (bad >= 0)
        return loom_node_fail(ctx, "the input latent holds NaN or Inf (first at element %lld): "
                              "the node that made it went wrong", (long long)bad);
    return LOOM_OK;
}

static int check_frames_finite(loom_node_ctx *ctx, const loom_tensor *img)
{
    int64_t bad = loom_tensor_first_nonfinite(img);
    if (bad >= 0)
        return loom_node_fail(ctx, "the decoded frames hold NaN or Inf (first in frame %lld): "
                              "the VAE's weights are broken",
                              (long long)(bad / (img->shape[1] * img->shape[2] * 3)));
    return LOOM_OK;
}

static loom_tensor *new_image(int64_t N, int64_t H, int64_t W, loom_node_ctx *ctx)
{
    loom_error err = {0};
    int64_t shape[4] = {N, H, W, 3};
    loom_tensor *t = loom_tensor_new(LOOM_F32, 4, shape, &err);
    if (!t)
        loom_node_fail_err(ctx, &err);
    return t;
}

static int decode_execute(loom_node_ctx *ctx)
{
    const wan_vae *v = loom_in_object(ctx, "vae", VAE_TYPE);
    const loom_latent *lat = loom_in_latent(ctx, "samples");
    int64_t e[5];
    int rc = latent_extents(ctx, v, lat, e);
    if (!rc)
        rc = check_latent_finite(ctx, lat->samples);
    if (rc)
        return rc;
    int64_t F = wan_vae_video_frames(e[2]), H = e[3] * WAN_VAE_SPATIAL, W = e[4] * WAN_VAE_SPATIAL;
    loom_tensor *img = new_image(e[0] * F, H, W, ctx);
    if (!img)
        return LOOM_ERR_NOMEM;
    loom_error err = {0};
    const float *z = lat->samples->data;
    for (int64_t b = 0; b < e[0] && !rc; b++) {
        image_sink sink = {(float *)img->data + b * F * H * W * 3};
        node_progress p = {ctx, b, e[0]};
        rc = wan_vae_decode(v, z + b * e[1] * e[2] * e[3] * e[4], e[2], e[3], e[4], write_frames, &sink,
                            report, &p, &err);
    }
    if (rc) {
        loom_tensor_unref(img);
        return rc == LOOM_ERR_INTERRUPTED ? rc : loom_node_fail_err(ctx, &err);
    }
    if ((rc = check_frames_finite(ctx, img))) {
        loom_tensor_unref(img);
        return rc;
    }
    return loom_out(ctx, 0, loom_image_value(img));
}

/* ComfyUI's VAEDecodeTiled: pixel and frame sizes to latent cells, with its clamps. */
static vae_tiling tiling_from_inputs(loom_node_ctx *ctx)
{
    int64_t tile = loom_in_int(ctx, "tile_size"), overlap = loom_in_int(ctx, "overlap");
    int64_t tsize = loom_in_int(ctx, "temporal_size"), toverlap = loom_in_int(ctx, "temporal_overlap");
    if (tile < overlap * 4)
        overlap = tile / 4;
    if (tsize < toverlap * 2)
        toverlap = tsize / 2;
    tsize = tsize / WAN_VAE_TEMPORAL > 2 ? tsize / WAN_VAE_TEMPORAL : 2;
    toverlap = toverlap / WAN_VAE_TEMPORAL < tsize / 2 ? toverlap / WAN_VAE_TEMPORAL : tsize / 2;
    toverlap = toverlap > 1 ? toverlap : 1;
    int64_t cells = tile / WAN_VAE_SPATIAL > 1 ? tile / WAN_VAE_SPATIAL : 1;
    return (vae_tiling){tsize, cells, cells, toverlap, overlap / WAN_VAE_SPATIAL, overlap / WAN_VAE_SPATIAL};
}

static int decode_tiled_execute(loom_node_ctx *ctx)
{
    const wan_vae *v = loom_in_object(ctx, "vae", VAE_TYPE);
    const loom_latent *lat = loom_in_latent(ctx, "samples");
    int64_t e[5];
    int rc = latent_extents(ctx, v, lat, e);
    if (!rc)
        rc = check_latent_finite(ctx, lat->samples);
    if (rc)
        return rc;
    vae_tiling tiling = tiling_from_inputs(ctx);
    int64_t F = wan_vae_video_frames(e[2]), H = e[3] * WAN_VAE_SPATIAL, W = e[4] * WAN_VAE_SPATIAL;
    loom_tensor *img = new_image(e[0] * F, H, W, ctx);
    float *raw = loom_aligned_alloc((size_t)(3 * F * H * W) * sizeof *raw);
    if (!img || !raw) {
        loom_tensor_unref(img);
        loom_aligned_free(raw);
        return img ? loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory for the decoded video")
                   : LOOM_ERR_NOMEM;
    }
    loom_error err = {0};
    const float *z = lat->samples->data;
    for (int64_t b = 0; b < e[0] && !rc; b++) {
        node_progress p = {ctx, b, e[0]};
        rc = wan_vae_decode_tiled(v, z + b * e[1] * e[2] * e[3] * e[4], e[2], e[3], e[4], &tiling, raw,
                                  report, &p, &err);
        if (!rc)
            to_image(raw, F, H, W, (float *)img->data + b * F * H * W * 3);
    }
    loom_aligned_free(raw);
    if (rc) {
        loom_tensor_unref(img);
        return rc == LOOM_ERR_INTERRUPTED ? rc : loom_node_fail_err(ctx, &err);
    }
    if ((rc = check_frames_finite(ctx, img))) {
        loom_tensor_unref(img);
        return rc;
    }
    return loom_out(ctx, 0, loom_image_value(img));
}

/* ---- encoding --------------------------------------------------------------------- */

static int encode_execute(loom_node_ctx *ctx)
{
    const wan_vae *v = loom_in_object(ctx, "vae", VAE_TYPE);
    const loom_tensor *px = loom_in_image(ctx, "pixels");
    if (!px || px->dtype != LOOM_F32 || px->ndim != 4 || px->shape[3] < 3 || px->shape[0] < 1)
        return loom_node_fail_code(ctx, LOOM_ERR_INVALID, "pixels must be a f32 [N, H, W, 3] IMAGE");
    int64_t N = px->shape[0], Hs = px->shape[1], Ws = px->shape[2], C = px->shape[3];
    int64_t H = Hs / WAN_VAE_SPATIAL * WAN_VAE_SPATIAL, W = Ws / WAN_VAE_SPATIAL * WAN_VAE_SPATIAL;
    if (H == 0 || W == 0)
        return loom_node_fail_code(ctx, LOOM_ERR_INVALID, "a %lldx%lld image is smaller than one %d-pixel latent cell",
                                   (long long)Ws, (long long)Hs, WAN_VAE_SPATIAL);
    /* Only RGB is encoded (ComfyUI drops alpha): repack when there are more channels. */
    float *rgb = NULL;
    const float *src = px->data;
    if (C != 3) {
        if (!(rgb = malloc((size_t)(N * Hs * Ws * 3) * sizeof *rgb)))
            return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory");
        for (int64_t p = 0; p < N * Hs * Ws; p++)
            memcpy(rgb + p * 3, src + p * C, 3 * sizeof *rgb);
        src = rgb;
    }
    int64_t T = wan_vae_latent_frames(N), shape[5] = {1, v->z_dim, T, H / WAN_VAE_SPATIAL, W / WAN_VAE_SPATIAL};
    loom_error err = {0};
    loom_tensor *mu = loom_tensor_new(LOOM_F32, 5, shape, &err);
    node_progress p = {ctx, 0, 1};
    int rc = mu ? wan_vae_encode(v, src, N, Hs, Ws, (Hs % WAN_VAE_SPATIAL) / 2, (Ws % WAN_VAE_SPATIAL) / 2, H, W,
                                 mu->data, report, &p, &err)
                : (int)err.code;
    free(rgb);
    if (rc) {
        loom_tensor_unref(mu);
        return rc == LOOM_ERR_INTERRUPTED ? rc : loom_node_fail_err(ctx, &err);
    }
    return loom_out(ctx, 0, loom_latent_value(mu, NULL));
}

/* ---- declarations ------------------------------------------------------------------- */

static const loom_input loader_in[] = {
    {.name = "vae_name", .type = LOOM_T_COMBO, .model_folder = "vae"}};
static const loom_output vae_out[] = {{.type = VAE_TYPE}};
static const loom_input decode_in[] = {
    {.name = "samples", .type = "LATENT", .tooltip = "The latent to be decoded."},
    {.name = "vae", .type = VAE_TYPE, .tooltip = "The VAE model used for decoding the latent."}};
static const loom_input decode_tiled_in[] = {
    {.name = "samples", .type = "LATENT"},
    {.name = "vae", .type = VAE_TYPE},
    {.name = "tile_size", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 512, .min = 64, .max = 4096, .step = 32},
    {.name = "overlap", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 64, .min = 0, .max = 4096, .step = 32},
    {.name = "temporal_size", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 64, .min = 8, .max = 4096, .step = 4,
     .tooltip = "Only used for video VAEs: Amount of frames to decode at a time."},
    {.name = "temporal_overlap", .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 8, .min = 4, .max = 4096, .step = 4,
     .tooltip = "Only used for video VAEs: Amount of frames to overlap."}};
static const loom_output image_out[] = {{.type = "IMAGE", .tooltip = "The decoded image."}};
static const loom_input encode_in[] = {{.name = "pixels", .type = "IMAGE"},
                                       {.name = "vae", .type = VAE_TYPE}};
static const loom_output latent_out[] = {{.type = "LATENT"}};

static const loom_node_type vae_nodes[] = {
    {.name = "VAELoader", .display_name = "Load VAE", .category = "loaders", .inputs = loader_in,
     .n_inputs = LOOM_COUNT(loader_in), .outputs = vae_out, .n_outputs = 1,
     .execute = loader_execute, .fingerprint = loader_fingerprint},
    {.name = "VAEDecode", .display_name = "VAE Decode", .category = "latent",
     .description = "Decodes latent images back into pixel space images.", .inputs = decode_in,
     .n_inputs = LOOM_COUNT(decode_in), .outputs = image_out, .n_outputs = 1, .execute = decode_execute},
    {.name = "VAEDecodeTiled", .display_name = "VAE Decode (Tiled)", .category = "_for_testing",
     .inputs = decode_tiled_in, .n_inputs = LOOM_COUNT(decode_tiled_in), .outputs = image_out,
     .n_outputs = 1, .execute = decode_tiled_execute},
    {.name = "VAEEncode", .display_name = "VAE Encode", .category = "latent", .inputs = encode_in,
     .n_inputs = LOOM_COUNT(encode_in), .outputs = latent_out, .n_outputs = 1, .execute = encode_execute},
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
