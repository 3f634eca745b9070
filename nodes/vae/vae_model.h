/* vae_model.h: the Wan2.1 VAE (spec wan.md 4): loading, and streamed encode and decode.
 *
 * The encoder and decoder are a vae_coder each: a causal stem conv, a list of residual and
 * resample blocks, the middle (residual, attention, residual) and an RMS-SiLU-conv head.
 * Decoding feeds one latent frame per chunk (the first yields 1 video frame, every later
 * one 4); encoding feeds video frame 0 alone, then 4 frames per chunk, each chunk giving
 * one latent frame. Between chunks only the time caches live on (vae_cache.h), so memory is
 * one chunk's activations whatever the video length, and results equal the whole-video
 * causal definition (spec 4.4).
 *
 * Latents here are in "VAE space", un-normalised, as ComfyUI's VAE nodes exchange them: the
 * Wan21 mean/std normalisation belongs to the samplers (process_latent_in/out), not here.
 * A wan_vae is immutable after loading; every call brings its own cache, so one model may
 * serve several videos (one call at a time: the convs own scratch buffers).
 */
#ifndef VAE_MODEL_H
#define VAE_MODEL_H

#include "vae_blocks.h"

/* Spatial and temporal compression of the Wan2.1 VAE. */
#define WAN_VAE_SPATIAL  8
#define WAN_VAE_TEMPORAL 4

typedef struct vae_coder {
    vae_conv   conv_in;       /* encoder.conv1 / decoder.conv1 */
    vae_block *blocks;        /* encoder.downsamples.* / decoder.upsamples.*, in order */
    int        n_blocks;
    vae_block  middle[3];     /* residual, attention, residual */
    float     *head_gamma;    /* head.0 */
    vae_conv   head;          /* head.2 */
    int        n_slots;       /* time-cache slots one video needs */
} vae_coder;

typedef struct wan_vae {
    vae_coder      encoder, decoder;
    vae_conv       quant;       /* conv1 [2z, 2z, 1, 1, 1]: mean and log-variance */
    vae_conv       post_quant;  /* conv2 [z, z, 1, 1, 1] */
    int64_t        z_dim;       /* latent channels (16) */
    loom_precision precision;
    size_t         bytes;       /* size of the weights, for the cache budget */
} wan_vae;

/* Load from a .safetensors file (original / ComfyUI naming, f32/f16/bf16) or a diffusers
 * folder. precision: F32 for reference parity, AUTO for bf16 matrix products where the
 * CPU has them. */
int  wan_vae_load(const char *path, loom_precision precision, wan_vae **out, loom_error *err);
void wan_vae_free(wan_vae *v);

/* Video frames made from T latent frames, and latent frames made from F video frames
 * (trailing frames past the last 4k+1 are dropped, as Wan does). */
static inline int64_t wan_vae_video_frames(int64_t T) { return T > 0 ? 1 + WAN_VAE_TEMPORAL * (T - 1) : 0; }
static inline int64_t wan_vae_latent_frames(int64_t F) { return F > 0 ? 1 + (F - 1) / WAN_VAE_TEMPORAL : 0; }

/* Called before each chunk (done of total); a non-zero return stops the call with it. */
typedef int (*vae_progress_fn)(void *ud, int64_t done, int64_t total);
/* Receives n decoded frames [3, n, H, W] (about -1..1, unclamped) starting at frame t0. */
typedef int (*vae_frames_sink)(void *ud, const float *frames, int64_t t0, int64_t n, int64_t H,
                               int64_t W);

/* Decode z [z_dim, T, h, w] into wan_vae_video_frames(T) frames of 8h x 8w, chunk by chunk. */
int  wan_vae_decode(const wan_vae *v, const float *z, int64_t T, int64_t h, int64_t w,
                    vae_frames_sink sink, void *sink_ud, vae_progress_fn progress, void *progress_ud,
                    loom_error *err);

/* Encode the H x W window at (y0, x0) of frames [F, Hs, Ws, 3] in 0..1 (ComfyUI IMAGE
 * layout; H and W multiples of 8) into mu [z_dim, T, H/8, W/8], T = wan_vae_latent_frames(F). */
int  wan_vae_encode(const wan_vae *v, const float *frames, int64_t F, int64_t Hs, int64_t Ws,
                    int64_t y0, int64_t x0, int64_t H, int64_t W, float *mu,
                    vae_progress_fn progress, void *progress_ud, loom_error *err);

/* The building of each half (vae_encoder.c, vae_decoder.c). */
int  vae_encoder_build(vae_coder *e, vae_build *b, int64_t z_dim, loom_error *err);
int  vae_decoder_build(vae_coder *d, vae_build *b, int64_t z_dim, loom_error *err);
/* Build middle[] and the head of a coder at "encoder" / "decoder" (shared by both). */
int  vae_coder_build_middle(vae_coder *c, vae_build *b, const char *side, int64_t C, loom_error *err);
int  vae_coder_build_blocks(vae_coder *c, vae_build *b, const char *side, int64_t *C, loom_error *err);
int  vae_coder_build_head(vae_coder *c, vae_build *b, const char *side, int64_t C, int64_t cout,
                          loom_error *err);
void vae_coder_free(vae_coder *c);
/* Run middle[] / blocks / head on a chunk. */
int  vae_coder_middle(const vae_coder *c, vae_cache *cache, vae_act *x, loom_error *err);
int  vae_coder_blocks(const vae_coder *c, vae_cache *cache, vae_act *x, loom_error *err);
int  vae_coder_head(const vae_coder *c, vae_cache *cache, vae_act *x, loom_error *err);

#endif
