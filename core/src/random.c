/* random.c: MT19937 and torch's CPU randn layout (see loom/random.h and wan.md A.2).
 *
 * For n >= 16 torch first fills all n slots with 24-bit uniforms, then turns each block
 * of 16 into normals pairwise (j with j+8) with float Box-Muller; a tail that is not a
 * whole block is redone by drawing 16 fresh uniforms into the last 16 slots. Below 16
 * it draws doubles from 53-bit uniforms and keeps the sine half for the next value.
 */
#include "loom/random.h"

#include <math.h>

void loom_mt19937_seed(loom_mt19937 *g, uint64_t seed)
{
    g->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (int j = 1; j < 624; j++)
        g->state[j] = 1812433253u * (g->state[j - 1] ^ (g->state[j - 1] >> 30)) + (uint32_t)j;
    g->index = 624;   /* the first draw twists */
}

static void twist(loom_mt19937 *g)
{
    for (int i = 0; i < 624; i++) {
        uint32_t y = (g->state[i] & 0x80000000u) | (g->state[(i + 1) % 624] & 0x7fffffffu);
        g->state[i] = g->state[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    g->index = 0;
}

uint32_t loom_mt19937_next(loom_mt19937 *g)
{
    if (g->index >= 624)
        twist(g);
    uint32_t y = g->state[g->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static float uniform24(loom_mt19937 *g)
{
    return (float)(loom_mt19937_next(g) & 0xffffffu) * (1.0f / 16777216.0f);
}

static void normal_block16(float *a)
{
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - a[j], u2 = a[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * M_PI * (double)u2);
        a[j] = radius * cosf(theta);
        a[j + 8] = radius * sinf(theta);
    }
}

static double uniform53(loom_mt19937 *g)
{
    uint64_t hi = loom_mt19937_next(g), lo = loom_mt19937_next(g);
    uint64_t x = (hi << 32) | lo;
    return (double)(x & ((1ull << 53) - 1)) * ldexp(1.0, -53);
}

void loom_torch_generator_seed(loom_torch_generator *g, uint64_t seed)
{
    loom_mt19937_seed(&g->mt, seed);
    g->have_cached = false;
    g->cached = 0.0;
}

void loom_randn_next(loom_torch_generator *g, float *out, int64_t n)
{
    if (n >= 16) {
        for (int64_t i = 0; i < n; i++)
            out[i] = uniform24(&g->mt);
        for (int64_t o = 0; o + 16 <= n; o += 16)
            normal_block16(out + o);
        if (n % 16 != 0) {
            for (int64_t i = n - 16; i < n; i++)
                out[i] = uniform24(&g->mt);
            normal_block16(out + n - 16);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        if (g->have_cached) {
            out[i] = (float)g->cached;
            g->have_cached = false;
            continue;
        }
        double u1 = uniform53(&g->mt), u2 = uniform53(&g->mt);
        double r = sqrt(-2.0 * log1p(-u2)), theta = 2.0 * M_PI * u1;
        g->cached = r * sin(theta);
        g->have_cached = true;
        out[i] = (float)(r * cos(theta));
    }
}

void loom_randn(uint64_t seed, float *out, int64_t n)
{
    loom_torch_generator g;
    loom_torch_generator_seed(&g, seed);
    loom_randn_next(&g, out, n);
}
