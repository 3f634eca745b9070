/* vae_decoder.c: the Wan VAE decoder, one latent frame per chunk (spec wan.md 4.3, 4.4).
 *
 * Per chunk: post_quant conv (conv2), stem, middle, upsamples (two up3d double the frames
 * after the first chunk, three resamples double H and W), head. The first latent frame
 * gives one video frame (the up3d layers pass it through), every later one gives four.
 */
#include <string.h>

#include "vae_model.h"

int vae_decoder_build(vae_coder *d, vae_build *b, int64_t z_dim, loom_error *err)
{
    b->n_slots = 0;
    int rc = vae_conv_build(&d->conv_in, b, "decoder.conv1", VAE_CONV_CAUSAL, z_dim, err);
    if (rc)
        return rc;
    int64_t C = d->conv_in.cout;
    if ((rc = vae_coder_build_middle(d, b, "decoder", C, err)) ||
        (rc = vae_coder_build_blocks(d, b, "decoder", &C, err)) ||
        (rc = vae_coder_build_head(d, b, "decoder", C, 3, err)))
        return rc;
    d->n_slots = b->n_slots;
    return LOOM_OK;
}

static int decode_chunk(const wan_vae *v, vae_cache *cache, vae_act *x, loom_error *err)
{
    vae_act y = {0};
    int rc = vae_conv_forward(&v->post_quant, cache, x, &y, LOOM_ACT_NONE, err);
    *x = y;
    if (rc || (rc = vae_conv_forward(&v->decoder.conv_in, cache, x, &y, LOOM_ACT_NONE, err)))
        return rc;
    *x = y;
    if ((rc = vae_coder_middle(&v->decoder, cache, x, err)) ||
        (rc = vae_coder_blocks(&v->decoder, cache, x, err)))
        return rc;
    return vae_coder_head(&v->decoder, cache, x, err);
}

int wan_vae_decode(const wan_vae *v, const float *z, int64_t T, int64_t h, int64_t w,
                   vae_frames_sink sink, void *sink_ud, vae_progress_fn progress, void *progress_ud,
                   loom_error *err)
{
    vae_cache cache;
    int rc = vae_cache_init(&cache, v->decoder.n_slots, err);
    int64_t t0 = 0, hw = h * w;
    for (int64_t i = 0; i < T && !rc; i++) {
        if (progress && (rc = progress(progress_ud, i, T)))
            break;
        vae_act x;
        if ((rc = vae_act_alloc(&cache, &x, v->z_dim, 1, h, w, err)))
            break;
        for (int64_t c = 0; c < v->z_dim; c++)
            memcpy(x.d + c * hw, z + (c * T + i) * hw, (size_t)hw * sizeof(float));
        rc = decode_chunk(v, &cache, &x, err);
        if (!rc)
            rc = sink(sink_ud, x.d, t0, x.T, x.H, x.W);
        t0 += x.T;
        vae_act_free(&cache, &x);
    }
    if (!rc && progress)
        rc = progress(progress_ud, T, T);
    vae_cache_free(&cache);
    return rc;
}
