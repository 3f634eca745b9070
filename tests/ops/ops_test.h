/* ops_test.h: what the ops tests share beyond tests/support/check.h: a fixed-seed
 * xorshift for reproducible random inputs, and error measures against a double-precision
 * reference. */
#ifndef LOOM_OPS_TEST_H
#define LOOM_OPS_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../support/check.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t rng_u64(void)
{
    uint64_t x = rng_state;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    return rng_state = x;
}
/* uniform in [-1, 1) */
static inline float rng_f(void) { return (float)((double)(rng_u64() >> 11) * (2.0 / 9007199254740992.0) - 1.0); }
/* approximately normal (sum of 4 uniforms, variance 1) */
static inline float rng_n(void) { return (rng_f() + rng_f() + rng_f() + rng_f()) * 0.8660254f; }
static inline void rng_fill(float *x, int64_t n, float scale)
{
    for (int64_t i = 0; i < n; i++) x[i] = rng_n() * scale;
}

/* max |a - b| / (atol + rtol * |b|) over n entries, b = double reference; <= 1 passes */
static inline double err_ratio(const float *a, const double *b, int64_t n, double atol, double rtol, int64_t *worst)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + rtol * fabs(b[i]));
        if (!(e <= m)) { m = e; if (worst) *worst = i; }   /* NaN wins */
    }
    return m;
}

/* Relative error in the Frobenius sense: ||a - b|| / ||b||. */
static inline double rel_l2(const float *a, const double *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) { double d = a[i] - b[i]; num += d * d; den += b[i] * b[i]; }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
#endif
