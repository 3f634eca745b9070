/* check.h: the few helpers the ops tests share (no framework: print, count, exit code).
 *
 * CHECK(cond, fmt, ...) prints a failure and counts it; every test prints one line per
 * property it verified and returns check_exit() (non-zero when anything failed). Random
 * inputs come from a fixed-seed xorshift so failures reproduce.
 */
#ifndef LOOM_TEST_CHECK_H
#define LOOM_TEST_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            check_failures++;                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                     \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
        }                                                                            \
    } while (0)

static int check_exit(const char *name)
{
    if (check_failures) fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
    else printf("%s: all checks passed\n", name);
    return check_failures ? 1 : 0;
}

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
