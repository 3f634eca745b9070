/* loom/random.h: PyTorch-compatible CPU random numbers, so a seed gives ComfyUI's noise.
 *
 * ComfyUI draws its initial noise with torch.manual_seed(seed) and one float32 CPU
 * torch.randn over the whole latent. loom_randn reproduces that stream: an MT19937
 * seeded with the low 32 bits of the seed, and torch's Box-Muller layout (blocks of 16
 * for n >= 16, a double-precision path with a cached second sample below 16).
 */
#ifndef LOOM_RANDOM_H
#define LOOM_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_mt19937 {
    uint32_t state[624];
    int      index;
} loom_mt19937;

void     loom_mt19937_seed(loom_mt19937 *g, uint64_t seed);   /* low 32 bits, like torch */
uint32_t loom_mt19937_next(loom_mt19937 *g);

/* A torch CPU generator: the MT19937 plus torch's cached second normal (used by draws
 * of fewer than 16 values). Samplers that draw fresh noise every step keep one. */
typedef struct loom_torch_generator {
    loom_mt19937 mt;
    bool         have_cached;
    double       cached;
} loom_torch_generator;

void     loom_torch_generator_seed(loom_torch_generator *g, uint64_t seed);
/* out[0..n) = torch.randn(n, generator=g), advancing g. */
void     loom_randn_next(loom_torch_generator *g, float *out, int64_t n);
/* out[0..n) = torch.randn(n) after torch.manual_seed(seed), float32 on the CPU. */
void     loom_randn(uint64_t seed, float *out, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
