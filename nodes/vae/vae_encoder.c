/* vae_encoder.c: the Wan VAE encoder, frame 0 alone then 4 frames per chunk (spec wan.md
 * 4.3, 4.4).
 *
 * Per chunk: pixels 0..1 -> 2p - 1 as [3, n, H, W], stem, downsamples (two down3d halve
 * the frames, with the first frame bypassing them), middle, head, quant conv (conv1). Each
 * chunk yields one latent frame; its first z_dim channels are mu, the latent (log-variance
 * is dropped, as at inference in Wan, diffusers and ComfyUI).
 */
#include <string.h>

#include "vae_model.h"

int vae_encoder_build(vae_coder *e, vae_build *b, int64_t z_dim, loom_error *err)
{
    b->n_slots = 0;
    int rc = vae_conv_build(&e->conv_in, b, "encoder.conv1", VAE_CONV_CAUSAL, 3, err);
    if (rc)
        return rc;
    int64_t C = e->conv_in.cout;
    if ((rc = vae_coder_build_blocks(e, b, "encoder", &C, err)) ||
        (rc = vae_coder_build_middle(e, b, "encoder", C, err)) ||
        (rc = vae_coder_build_head(e, b, "encoder", C, 2 * z_dim, err)))
        return rc;
    e->n_slots = b->n_slots;
    return LOOM_OK;
}

/* Frames [f0, f0 + n) of the window as the encoder's input [3, n, H, W] in -1..1. */
static int gather_pixels(vae_cache *cache, const float *frames, int64_t Hs, int64_t Ws, int64_t y0, int64_t x0,
                         int64_t f0, int64_t n, int64_t H, int64_t W, vae_act *x, loom_error *err)
{
    int rc = vae_act_alloc(cache, x, 3, n, H, W, err);
    if (rc)
        return rc;
    for (int64_t t = 0; t < n; t++)
        for (int64_t i = 0; i < H; i++) {
            const float *row = frames + (((f0 + t) * Hs + y0 + i) * Ws + x0) * 3;
            for (int64_t c = 0; c < 3; c++) {
                float *dst = x->d + ((c * n + t) * H + i) * W;
                for (int64_t j = 0; j < W; j++)
                    dst[j] = row[j * 3 + c] * 2.0f - 1.0f;
            }
        }
    return LOOM_OK;
}

static int encode_chunk(const wan_vae *v, vae_cache *cache, vae_act *x, loom_error *err)
{
    vae_act y = {0};
    int rc = vae_conv_forward(&v->encoder.conv_in, cache, x, &y, LOOM_ACT_NONE, err);
    *x = y;
    if (rc || (rc = vae_coder_blocks(&v->encoder, cache, x, err)) ||
        (rc = vae_coder_middle(&v->encoder, cache, x, err)) ||
        (rc = vae_coder_head(&v->encoder, cache, x, err)))
        return rc;
    rc = vae_conv_forward(&v->quant, cache, x, &y, LOOM_ACT_NONE, err);
    *x = y;
    return rc;
}

int wan_vae_encode(const wan_vae *v, const float *frames, int64_t F, int64_t Hs, int64_t Ws,
                   int64_t y0, int64_t x0, int64_t H, int64_t W, float *mu,
                   vae_progress_fn progress, void *progress_ud, loom_error *err)
{
    if (H % WAN_VAE_SPATIAL || W % WAN_VAE_SPATIAL || H <= 0 || W <= 0)
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE encode: %lldx%lld is not a multiple of %d",
                           (long long)W, (long long)H, WAN_VAE_SPATIAL);
    int64_t T = wan_vae_latent_frames(F), hw = (H / WAN_VAE_SPATIAL) * (W / WAN_VAE_SPATIAL);
    vae_cache cache;
    int rc = vae_cache_init(&cache, v->encoder.n_slots, err);
    for (int64_t i = 0; i < T && !rc; i++) {
        if (progress && (rc = progress(progress_ud, i, T)))
            break;
        int64_t f0 = i ? 1 + WAN_VAE_TEMPORAL * (i - 1) : 0, n = i ? WAN_VAE_TEMPORAL : 1;
        vae_act x = {0};
        if (!(rc = gather_pixels(&cache, frames, Hs, Ws, y0, x0, f0, n, H, W, &x, err)))
            rc = encode_chunk(v, &cache, &x, err);
        if (!rc && (x.T != 1 || x.H * x.W != hw))
            rc = loom_errorf(err, LOOM_ERR_RUNTIME, "VAE encode: a chunk gave %lld latent frames of %lldx%lld",
                             (long long)x.T, (long long)x.W, (long long)x.H);
        for (int64_t c = 0; c < v->z_dim && !rc; c++)
            memcpy(mu + (c * T + i) * hw, x.d + c * hw, (size_t)hw * sizeof(float));
        vae_act_free(&cache, &x);
    }
    if (!rc && progress)
        rc = progress(progress_ud, T, T);
    vae_cache_free(&cache);
    return rc;
}
