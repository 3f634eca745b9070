/* vae_blocks.h: the Wan VAE's building blocks (spec wan.md 4.2) over streamed chunks.
 *
 * A vae_conv is one convolution of the model with its role: a causal 3x3x3 conv, a
 * pointwise 1x1x1 conv, a per-frame 3x3 conv (resample), or a temporal 3x1x1 conv
 * (resample time_conv). Temporal convs own a slot of the per-video vae_cache.
 *
 * A vae_block is a residual block, the middle attention block, or a resample (down2d,
 * down3d, up2d, up3d). Its forward consumes the chunk activation and replaces it with the
 * block's output, so callers just chain blocks. Weights are read through vae_weights by
 * their original names; channel counts come from the tensor shapes and are checked to
 * chain, so a narrower test model and the real one load through the same code.
 */
#ifndef VAE_BLOCKS_H
#define VAE_BLOCKS_H

#include <stdbool.h>

#include "loom/ops.h"
#include "vae_cache.h"
#include "vae_weights.h"

typedef enum vae_conv_role {
    VAE_CONV_CAUSAL,      /* [O, I, 3, 3, 3], space padded by 1, time from a 2-frame cache */
    VAE_CONV_POINT,       /* [O, I, 1, 1, 1] */
    VAE_CONV_UP_SPATIAL,  /* [O, I, 3, 3] per frame, padded by 1 */
    VAE_CONV_DOWN_SPATIAL,/* [O, I, 3, 3] per frame, stride 2, zero pad right and bottom by 1 */
    VAE_CONV_UP_TIME,     /* [2C, C, 3, 1, 1], time from a 2-frame cache */
    VAE_CONV_DOWN_TIME    /* [C, C, 3, 1, 1], stride 2 in time, 1 cached frame in front */
} vae_conv_role;

typedef struct vae_conv {
    loom_conv    *op;
    vae_conv_role role;
    int64_t       cin, cout;
    int           slot;         /* vae_cache slot of a temporal conv, else -1 */
} vae_conv;

/* What building a coder needs: the weights, the compute precision, the slot counter. */
typedef struct vae_build {
    const vae_weights *w;
    loom_precision     precision;
    int                n_slots;
} vae_build;

typedef enum vae_block_kind {
    VAE_BLOCK_RESIDUAL, VAE_BLOCK_ATTENTION, VAE_BLOCK_DOWN2D, VAE_BLOCK_DOWN3D,
    VAE_BLOCK_UP2D, VAE_BLOCK_UP3D
} vae_block_kind;

typedef struct vae_block {
    vae_block_kind kind;
    int64_t        cin, cout;
    float         *gamma1, *gamma2;    /* residual: the two RMS norms; attention: gamma1 */
    vae_conv       conv1, conv2;       /* residual convs */
    vae_conv       shortcut;           /* residual when cin != cout (op NULL otherwise) */
    loom_linear   *qkv, *proj;         /* attention */
    vae_conv       spatial, time;      /* resample (time.op NULL for the 2-D ones) */
    loom_precision precision;          /* of the attention's matrix products */
} vae_block;

int  vae_conv_build(vae_conv *c, vae_build *b, const char *prefix, vae_conv_role role, int64_t cin,
                    loom_error *err);
void vae_conv_free(vae_conv *c);
/* Run a conv on *x (consumed) into *y; act is fused after the bias. */
int  vae_conv_forward(const vae_conv *c, vae_cache *cache, vae_act *x, vae_act *y, loom_act act,
                      loom_error *err);

/* A channel RMS norm's gamma [C, 1, 1(, 1)] as f32 (malloc'd). */
float *vae_gamma_load(vae_build *b, const char *name, int64_t C, int ndim, loom_error *err);

/* The module at `prefix` (original naming): a residual block or a resample (up ones in
 * the decoder), told apart by which tensors exist. Fails when neither exists. */
int  vae_block_build(vae_block *blk, vae_build *b, const char *prefix, int64_t cin, bool decoder,
                     loom_error *err);
int  vae_attention_build(vae_block *blk, vae_build *b, const char *prefix, int64_t C, loom_error *err);
void vae_block_free(vae_block *blk);
/* *x (consumed) -> *x (the block's output). */
int  vae_block_forward(const vae_block *blk, vae_cache *cache, vae_act *x, loom_error *err);

#endif
