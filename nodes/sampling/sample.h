/* sample.h: one sampling run from a VAE-space latent to a VAE-space latent, as ComfyUI's
 * CFGGuider.sample does it, shared by KSampler, KSamplerAdvanced and SamplerCustomAdvanced.
 *
 *   1. an all-zero latent with the wrong channel count becomes zeros with the model's
 *      channels, and an image latent [B, C, H, W] given to a video model becomes one
 *      frame [B, C, 1, H, W] (fix_empty_latent_channels);
 *   2. noise = torch.randn(latent.shape) after manual_seed(noise_seed), or zeros;
 *   3. latent_in = process_latent_in(latent) unless the latent is all zero;
 *   4. x = sigma_0·noise + (1 - sigma_0)·latent_in (CONST noise_scaling), or the noise
 *      itself for an empty latent on a schedule of a reference pipeline that starts so;
 *   5. the sampler walks the schedule (model begin/end around it, also on failure);
 *   6. x / (1 - sigma_last) (inverse_noise_scaling), then process_latent_out.
 * An empty schedule returns the (channel-fixed) latent unchanged. A latent's noise_mask
 * makes the run inpaint as ComfyUI's KSamplerX0Inpaint does (see sample_run in
 * samplers.h); the mask must already have the latent's size (batch and channels repeat).
 */
#ifndef LOOM_SAMPLING_SAMPLE_H
#define LOOM_SAMPLING_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "samplers.h"

typedef struct sample_request {
    const guider         *guider;
    const sampler_def    *sampler;
    const sigma_schedule *sigmas;
    const loom_latent    *latent;
    bool                  add_noise;
    uint64_t              seed;        /* initial noise, and the base of ancestral noise */
    const loom_tensor    *noise;       /* optional explicit initial noise (parity tests):
                                          f32, as many values as the latent; overrides seed */
    loom_node_ctx        *node;        /* progress and interrupt; NULL = none */
} sample_request;

/* *samples: the result (VAE space); *denoised (optional): the last x0-prediction
 * (VAE space), or a new reference to *samples when no step ran. */
int sample_latent(const sample_request *req, loom_tensor **samples, loom_tensor **denoised,
                  loom_error *err);

#endif
