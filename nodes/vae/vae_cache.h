/* vae_cache.h: activations and the causal time cache that lets the Wan VAE stream a video.
 *
 * A vae_act is one chunk's activation, channel-first [C, T, H, W] f32 (batch 1), in a
 * buffer it owns. Blocks consume their input act and hand back a new one, so a chunk never
 * holds more than the few buffers the current block needs.
 *
 * Every temporal convolution keeps the last frames of its input in a vae_frames slot
 * (spec wan.md 4.4): running it on concat(slot, x) with no time padding equals the causal
 * whole-video convolution, because a slot that has not yet seen `keep` frames is padded at
 * the front with zero frames, exactly the causal zero padding. Memory is therefore bounded
 * by one chunk plus two frames per temporal conv, whatever the video length. A vae_cache is
 * the per-video state of every slot; the model itself stays immutable and shareable.
 *
 * The cache also recycles activation buffers: chunk activations are tens to hundreds of
 * MB, so the allocator maps fresh pages for each, and faulting them in again for every
 * layer cost about a fifth of a decode. Freed buffers wait in a few pool slots and the
 * next allocation takes the smallest one that fits (chunks after the first repeat the
 * same shapes); a pool buffer too small for a request is released rather than kept, so
 * the pool never holds more than a few of the largest activations.
 */
#ifndef VAE_CACHE_H
#define VAE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"

typedef struct vae_act {
    float  *d;
    int64_t C, T, H, W;
    size_t  cap;         /* bytes of d (a recycled buffer may be larger than C*T*H*W) */
} vae_act;

typedef struct vae_cache vae_cache;

/* Buffers come from and go back to the cache's pool. */
int     vae_act_alloc(vae_cache *c, vae_act *a, int64_t C, int64_t T, int64_t H, int64_t W,
                      loom_error *err);
void    vae_act_free(vae_cache *c, vae_act *a);   /* NULL data ok; leaves a zeroed act */
int64_t vae_act_numel(const vae_act *a);

typedef struct vae_frames {
    float  *d;           /* [C, n, H*W] */
    int64_t C, HW;
    int     n;           /* frames held */
    bool    started;     /* a resample has passed its first chunk through */
} vae_frames;

/* Recycled buffers: two are enough for a block (its input, cache concatenation and output
 * take turns) and bound the pool to two of the largest activations. */
#define VAE_POOL_SLOTS 2

struct vae_cache {
    vae_frames *slot;
    int         n_slots;
    float      *pool[VAE_POOL_SLOTS];
    size_t      pool_cap[VAE_POOL_SLOTS];
};

int  vae_cache_init(vae_cache *c, int n_slots, loom_error *err);
void vae_cache_free(vae_cache *c);

/* y = [zero frames up to `keep`, held frames, x] along time; the slot then holds the last
 * `keep` frames of y. x is consumed, also on failure. */
int  vae_frames_concat(vae_cache *c, int slot, vae_act *x, int keep, vae_act *y, loom_error *err);
/* For every channel c < C of two channel-first buffers with dst_T and src_T frames:
 * frames [dst_t0, dst_t0 + n) of dst = frames [src_t0, src_t0 + n) of src (zeros when src is
 * NULL). Parallel over channels: these copies move whole activations at every layer. */
void vae_copy_frames(float *dst, int64_t dst_T, int64_t dst_t0, const float *src, int64_t src_T,
                     int64_t src_t0, int64_t n, int64_t C, int64_t HW);
/* The slot holds the last `keep` frames of x (x is left alone). */
int  vae_frames_remember(vae_frames *s, const vae_act *x, int keep, loom_error *err);

#endif
