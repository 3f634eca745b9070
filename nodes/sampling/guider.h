/* guider.h: GUIDER values and the denoiser they drive (ComfyUI's CFGGuider / BasicGuider).
 *
 * A guider holds a model, positive and (optionally) negative conditioning, and a CFG
 * scale. During a sampling run it turns the model's velocity into ComfyUI's guided
 * x0-prediction: denoised = x - sigma·v per conditioning entry (averaged over entries),
 * then uncond + (cond - uncond)·cfg, all in float32. Cond and uncond go to the model in
 * ONE predict call, batch order [uncond, cond] as ComfyUI batches them; when cfg == 1 (or
 * there is no negative) the uncond half is skipped and never reaches the model. The
 * model's begin/end bracket the run, with the contexts the run actually uses.
 */
#ifndef LOOM_SAMPLING_GUIDER_H
#define LOOM_SAMPLING_GUIDER_H

#include <stdbool.h>

#include "loom/model.h"

#define GUIDER_TYPE "GUIDER"

typedef struct guider {
    loom_value *model;      /* MODEL (held) */
    loom_value *positive;   /* CONDITIONING (held) */
    loom_value *negative;   /* CONDITIONING (held), NULL for BasicGuider */
    double      cfg;
} guider;

/* A GUIDER value holding new references to the given values (negative may be NULL). */
loom_value       *guider_value(const loom_value *model, const loom_value *positive,
                               const loom_value *negative, double cfg);
const loom_model *guider_model(const guider *g);

typedef struct guider_run guider_run;

/* Start a run for latents shaped like x; checks the conditioning and calls model begin. */
int  guider_begin(const guider *g, const loom_tensor *x, guider_run **out, loom_error *err);
/* denoised = guided D(x, sigma); the model sees `timestep` for every batch item. */
int  guider_denoise(guider_run *r, const loom_tensor *x, float sigma, float timestep,
                    loom_tensor *denoised, loom_error *err);
/* Calls model end and frees the run (NULL ok). */
void guider_end(guider_run *r);

#endif
