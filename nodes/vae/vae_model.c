/* vae_model.c: loading a Wan2.1 VAE and freeing it (see vae_model.h).
 *
 * The latent width z_dim comes from conv2 (post_quant), every other width from the tensor
 * it belongs to; the builder checks that each layer's input channels match the previous
 * layer's output, so a truncated or foreign file fails with the offending tensor's name.
 */
#include <stdlib.h>
#include <string.h>

#include "vae_model.h"

/* The Wan2.1 VAE's latent width; Wan2.2's 48-channel VAE is a different network. */
#define WAN21_Z_DIM 16

static size_t weights_bytes(const vae_weights *w)
{
    size_t total = 0;
    for (size_t i = 0; i < loom_safetensors_count(w->st); i++) {
        loom_dtype dt;
        int ndim;
        int64_t shape[LOOM_MAX_DIMS], n = 1;
        if (loom_safetensors_info(w->st, loom_safetensors_name(w->st, i), &dt, &ndim, shape))
            continue;
        for (int d = 0; d < ndim; d++)
            n *= shape[d];
        total += (size_t)n * loom_dtype_size(dt);
    }
    return total;
}

static int build(wan_vae *v, const vae_weights *w, loom_error *err)
{
    if (vae_weights_has(w, "decoder.upsamples.0.upsamples.0.residual.2.weight"))
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "VAE file '%s' is a Wan2.2 VAE (48 latent channels); "
                           "only the Wan2.1 VAE is supported", loom_safetensors_path(w->st));
    vae_build b = {.w = w, .precision = v->precision};
    int64_t want[5] = {-1, -1, 1, 1, 1};
    loom_tensor *t = vae_weights_get(w, "conv2.weight", 5, want, err);
    if (!t)
        return err->code;
    v->z_dim = t->shape[0];
    loom_tensor_unref(t);
    if (v->z_dim != WAN21_Z_DIM)
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "VAE file '%s' has %lld latent channels; the Wan2.1 "
                           "VAE has %d", loom_safetensors_path(w->st), (long long)v->z_dim, WAN21_Z_DIM);
    int rc;
    if ((rc = vae_conv_build(&v->post_quant, &b, "conv2", VAE_CONV_POINT, v->z_dim, err)) ||
        (rc = vae_conv_build(&v->quant, &b, "conv1", VAE_CONV_POINT, 2 * v->z_dim, err)) ||
        (rc = vae_decoder_build(&v->decoder, &b, v->z_dim, err)) ||
        (rc = vae_encoder_build(&v->encoder, &b, v->z_dim, err)))
        return rc;
    if (v->post_quant.cout != v->z_dim || v->quant.cout != 2 * v->z_dim)
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE file '%s': conv1/conv2 widths disagree with %lld "
                           "latent channels", loom_safetensors_path(w->st), (long long)v->z_dim);
    v->bytes = weights_bytes(w);
    return LOOM_OK;
}

int wan_vae_load(const char *path, loom_precision precision, wan_vae **out, loom_error *err)
{
    *out = NULL;
    vae_weights w;
    int rc = vae_weights_open(path, &w, err);
    if (rc)
        return rc;
    wan_vae *v = calloc(1, sizeof *v);
    if (!v) {
        vae_weights_close(&w);
        return loom_errorf(err, LOOM_ERR_NOMEM, "VAE: out of memory");
    }
    v->precision = precision;
    rc = build(v, &w, err);
    vae_weights_close(&w);
    if (rc) {
        wan_vae_free(v);
        return rc;
    }
    *out = v;
    return LOOM_OK;
}

void wan_vae_free(wan_vae *v)
{
    if (!v)
        return;
    vae_coder_free(&v->encoder);
    vae_coder_free(&v->decoder);
    vae_conv_free(&v->quant);
    vae_conv_free(&v->post_quant);
    free(v);
}
