/* loom/model.h: MODEL, the contract between a diffusion model plugin (e.g. the Wan DiT)
 * and the samplers.
 *
 * A loom_model is a cheap, immutable view of shared weights: the weights (the "core")
 * are refcounted and shared by every patch of the model, so ModelSamplingSD3 and friends
 * make a new loom_model with different settings without copying anything, as ComfyUI's
 * model patches do.
 *
 * The sampler sees three things:
 *   sampling  the flow sigma schedule (shift) and the timestep scale (multiplier):
 *             sigma(t) = shift*t / (1 + (shift-1)*t), the model gets t = sigma*multiplier;
 *             prediction is velocity ("CONST"): denoised = x - sigma * v.
 *   format    the latent format: the sampler maps VAE-space latents in with
 *             (x - mean) / std * scale per channel, and back out with the inverse.
 *   predict   v = model(x, timestep, context) for a batch, inside a begin/end pair that
 *             names the contexts of the whole sampling run, so the model can precompute
 *             what depends only on the context (cross-attention K/V) once per run.
 */
#ifndef LOOM_MODEL_H
#define LOOM_MODEL_H

#include "loom/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Wan2.2's TI2V VAE has 48 latent channels; 64 leaves room for newer families. */
#define LOOM_LATENT_MAX_CHANNELS 64

typedef struct loom_model_sampling {
    double shift;        /* flow shift (Wan: 8.0 in ComfyUI's model config by default) */
    double multiplier;   /* timestep = sigma * multiplier (1000) */
} loom_model_sampling;

typedef struct loom_latent_format {
    int   channels;
    float mean[LOOM_LATENT_MAX_CHANNELS];
    float std[LOOM_LATENT_MAX_CHANNELS];
    float scale;                 /* 1.0 for Wan */
    int   temporal_compression;  /* latent frame = 4 video frames (first frame alone) */
    int   spatial_compression;   /* 8 */
} loom_latent_format;

typedef struct loom_model_vtbl {
    const char *family;          /* "wan2.1" */
    /* Start a sampling run over contexts[0..n). *run is handed to predict and end. */
    int  (*begin)  (void *impl, const loom_cond_entry *const *contexts, size_t n, void **run,
                    loom_error *err);
    /* v[b] = model(x[b], timesteps[b], contexts[ctx_index[b]]) for every b < B, where x and
     * v are [B, C, T, H, W] f32 in the model's latent space. */
    int  (*predict)(void *run, const loom_tensor *x, const float *timesteps,
                    const size_t *ctx_index, loom_tensor *v, loom_error *err);
    void (*end)    (void *run);
    /* The last model sharing impl is gone. */
    void (*release)(void *impl);
} loom_model_vtbl;

typedef struct loom_model_core loom_model_core;  /* shared weights, refcounted */

typedef struct loom_model {
    loom_model_core    *core;
    loom_model_sampling sampling;
    loom_latent_format  format;
} loom_model;

/* A MODEL value over new weights (impl is released through vtbl->release). bytes feeds
 * the cache budget. */
loom_value       *loom_model_value(const loom_model_vtbl *vtbl, void *impl, size_t bytes,
                                   const loom_model_sampling *sampling,
                                   const loom_latent_format *format);
/* A MODEL value sharing base's weights with new sampling settings. */
loom_value       *loom_model_patch(const loom_model *base, const loom_model_sampling *sampling);
const loom_model *loom_in_model(loom_node_ctx *ctx, const char *name);

const loom_model_vtbl *loom_model_vtbl_of(const loom_model *m);
void                  *loom_model_impl(const loom_model *m);

int  loom_model_begin  (const loom_model *m, const loom_cond_entry *const *contexts, size_t n,
                        void **run, loom_error *err);
int  loom_model_predict(const loom_model *m, void *run, const loom_tensor *x,
                        const float *timesteps, const size_t *ctx_index, loom_tensor *v,
                        loom_error *err);
void loom_model_end    (const loom_model *m, void *run);

/* sigma for t in (0, 1] under the model's shift (ComfyUI's time_snr_shift). */
double loom_model_sigma(const loom_model *m, double t);

#ifdef __cplusplus
}
#endif
#endif
