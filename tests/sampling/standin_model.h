/* standin_model.h: the closed-form MODEL the sampler fixtures were made with.
 *
 * v = A ⊙ x + B·sigma per element of one latent item [1, 16, 2, 4, 6] (other sizes reuse
 * the coefficients cyclically), with (A_c, B_c)
 * for a positive context and (A_u, B_u) for a negative one (tests/fixtures/README.md,
 * "Sampler stand-in model"). A context is told apart by the sign of its single value
 * (standin_conditioning). The model's multiplier is 1, so the timestep it receives is
 * sigma itself. Counters record begin/end/predict calls, batch sizes and context order,
 * so tests can see how the samplers use the model.
 */
#ifndef LOOM_TEST_STANDIN_MODEL_H
#define LOOM_TEST_STANDIN_MODEL_H

#include "loom/model.h"
#include "loom/safetensors.h"

#define STANDIN_ITEM 768   /* 16·2·4·6 elements per latent item */
#define STANDIN_MAX_CALLS 256

typedef struct standin_stats {
    int    begins, ends, predicts;
    size_t begin_contexts;                  /* contexts handed to the last begin */
    int    batch[STANDIN_MAX_CALLS];        /* batch size of each predict */
    float  first_ctx_sign[STANDIN_MAX_CALLS]; /* sign of batch item 0's context per call */
} standin_stats;

/* Load A/B from the trajectories fixture (once); false if it cannot be read. */
bool        standin_load(void);
void        standin_unload(void);
/* A MODEL with the given shift and latent format; stats may be NULL. */
loom_value *standin_model_value(double shift, const loom_latent_format *format,
                                standin_stats *stats);
/* A CONDITIONING whose one context value is sign (+1 positive, -1 negative). */
loom_value *standin_conditioning(float sign);

#endif
