/* vae_coder.c: what the encoder and decoder share: their block list, middle and head.
 *
 * Both halves are a stem conv, a list of modules found by index (`<side>.downsamples.N` /
 * `<side>.upsamples.N`, until an index has no tensors), a middle (residual, attention,
 * residual) and a head (RMS norm, SiLU, causal conv). Only the order differs: the encoder
 * runs blocks then middle, the decoder middle then blocks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vae_model.h"

int vae_coder_build_blocks(vae_coder *c, vae_build *b, const char *side, int64_t *C, loom_error *err)
{
    bool decoder = strcmp(side, "decoder") == 0;
    const char *list = decoder ? "upsamples" : "downsamples";
    for (int n = 0;; n++) {
        char prefix[96], res[128], resample[128];
        snprintf(prefix, sizeof prefix, "%s.%s.%d", side, list, n);
        snprintf(res, sizeof res, "%s.residual.0.gamma", prefix);
        snprintf(resample, sizeof resample, "%s.resample.1.weight", prefix);
        if (!vae_weights_has(b->w, res) && !vae_weights_has(b->w, resample))
            break;
        vae_block *grown = realloc(c->blocks, (size_t)(n + 1) * sizeof *grown);
        if (!grown)
            return loom_errorf(err, LOOM_ERR_NOMEM, "VAE: out of memory building %s", side);
        c->blocks = grown;
        c->n_blocks = n + 1;
        int rc = vae_block_build(&c->blocks[n], b, prefix, *C, decoder, err);
        if (rc)
            return rc;
        *C = c->blocks[n].cout;
    }
    if (c->n_blocks == 0) {
        char key[256], name[96];
        snprintf(name, sizeof name, "%s.%s.0.residual.0.gamma", side, list);
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE file '%s' lacks tensor '%s' (is it a Wan2.1 VAE?)",
                           loom_safetensors_path(b->w->st), vae_weights_key(b->w, name, key, sizeof key));
    }
    return LOOM_OK;
}

int vae_coder_build_middle(vae_coder *c, vae_build *b, const char *side, int64_t C, loom_error *err)
{
    char prefix[96];
    for (int i = 0; i < 3; i++) {
        snprintf(prefix, sizeof prefix, "%s.middle.%d", side, i);
        int rc = i == 1 ? vae_attention_build(&c->middle[i], b, prefix, C, err)
                        : vae_block_build(&c->middle[i], b, prefix, C, false, err);
        if (rc)
            return rc;
        if (c->middle[i].kind != (i == 1 ? VAE_BLOCK_ATTENTION : VAE_BLOCK_RESIDUAL) ||
            c->middle[i].cout != C)
            return loom_errorf(err, LOOM_ERR_INVALID, "VAE: '%s' is not a %lld-channel %s block", prefix,
                               (long long)C, i == 1 ? "attention" : "residual");
    }
    return LOOM_OK;
}

int vae_coder_build_head(vae_coder *c, vae_build *b, const char *side, int64_t C, int64_t cout,
                         loom_error *err)
{
    char name[96];
    snprintf(name, sizeof name, "%s.head.0.gamma", side);
    if (!(c->head_gamma = vae_gamma_load(b, name, C, 4, err)))
        return err->code;
    snprintf(name, sizeof name, "%s.head.2", side);
    int rc = vae_conv_build(&c->head, b, name, VAE_CONV_CAUSAL, C, err);
    if (!rc && c->head.cout != cout)
        rc = loom_errorf(err, LOOM_ERR_INVALID, "VAE: '%s' has %lld output channels, expected %lld", name,
                         (long long)c->head.cout, (long long)cout);
    return rc;
}

void vae_coder_free(vae_coder *c)
{
    vae_conv_free(&c->conv_in);
    for (int i = 0; i < c->n_blocks; i++)
        vae_block_free(&c->blocks[i]);
    free(c->blocks);
    for (int i = 0; i < 3; i++)
        vae_block_free(&c->middle[i]);
    free(c->head_gamma);
    vae_conv_free(&c->head);
    *c = (vae_coder){0};
}

int vae_coder_middle(const vae_coder *c, vae_cache *cache, vae_act *x, loom_error *err)
{
    for (int i = 0; i < 3; i++) {
        int rc = vae_block_forward(&c->middle[i], cache, x, err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

int vae_coder_blocks(const vae_coder *c, vae_cache *cache, vae_act *x, loom_error *err)
{
    for (int i = 0; i < c->n_blocks; i++) {
        int rc = vae_block_forward(&c->blocks[i], cache, x, err);
        if (rc)
            return rc;
    }
    return LOOM_OK;
}

int vae_coder_head(const vae_coder *c, vae_cache *cache, vae_act *x, loom_error *err)
{
    loom_channel_rmsnorm(x->d, x->C, x->T * x->H * x->W, c->head_gamma, LOOM_ACT_SILU, x->d);
    vae_act y = {0};
    int rc = vae_conv_forward(&c->head, cache, x, &y, LOOM_ACT_NONE, err);
    *x = y;
    return rc;
}
