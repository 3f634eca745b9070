/* vae_weights.h: the Wan VAE's tensors, found by their original (ComfyUI) names whichever
 * naming the file uses.
 *
 * Wan VAE files come in two namings: the original / ComfyUI one (`encoder.downsamples.3.
 * residual.2.weight`, spec wan.md 4.3) and the diffusers `vae/` folder one (`encoder.
 * down_blocks.3.conv1.weight`). The model builder always asks for original names; this
 * module translates them when the file is a diffusers one, so the structure is written
 * once. Every error names the tensor as the file spells it.
 */
#ifndef VAE_WEIGHTS_H
#define VAE_WEIGHTS_H

#include <stdbool.h>

#include "loom/safetensors.h"

typedef struct vae_weights {
    loom_safetensors *st;
    bool diffusers;            /* names follow AutoencoderKLWan's state dict */
    int  up_block_modules;     /* diffusers: decoder modules per up block (resnets + upsampler) */
} vae_weights;

/* Open a VAE: a .safetensors file in either naming, or a diffusers folder (the `vae/`
 * folder itself or a pipeline folder holding one). */
int          vae_weights_open(const char *path, vae_weights *w, loom_error *err);
/* The .safetensors file vae_weights_open would read for `path`. */
int          vae_weights_resolve(const char *path, char *file, size_t cap, loom_error *err);
void         vae_weights_close(vae_weights *w);
/* The file's spelling of an original name (buf is filled and returned). */
const char  *vae_weights_key(const vae_weights *w, const char *orig, char *buf, size_t cap);
bool         vae_weights_has(const vae_weights *w, const char *orig);
/* The tensor `orig` with the given rank and, where want[i] >= 0, that extent in dim i;
 * a new reference, or NULL with an error naming the tensor. */
loom_tensor *vae_weights_get(const vae_weights *w, const char *orig, int ndim,
                             const int64_t *want, loom_error *err);

#endif
