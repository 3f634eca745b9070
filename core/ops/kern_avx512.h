/* kern_avx512.h: the AVX-512 row kernels (kern_avx512.c, built with AVX-512 flags).
 * Callers check k512_available() first; each function does the rows it is given on the
 * calling thread. */
#ifndef LOOM_OPS_KERN_AVX512_H
#define LOOM_OPS_KERN_AVX512_H

#include "loom/ops.h"
#include "ops_internal.h"

/* True when this build has the kernels and the CPU runs them. */
static inline int k512_available(void)
{
#if defined(LOOM_X86_KERNELS)
    return (loom_cpu_features() & LOOM_CPU_AVX512) != 0;
#else
    return 0;
#endif
}

void k512_act(const float *x, int64_t n, float *y, loom_act act);
void k512_gated_gelu(const float *a, const float *b, int64_t n, float *y);
void k512_layernorm_rows(const float *x, int64_t m0, int64_t m1, int64_t D, const float *gamma, const float *beta,
                         float eps, float *y);
void k512_rmsnorm_rows(const float *x, int64_t m0, int64_t m1, int64_t D, const float *gamma, float eps, float *y);
void k512_adaln_rows(const float *x, int64_t m0, int64_t m1, int64_t D, const float *shift, const float *scale,
                     int64_t mod_stride, float eps, float *y);
void k512_residual_gate_rows(float *x, const float *y, int64_t m0, int64_t m1, int64_t D, int64_t ldy,
                             const float *gate, int64_t gate_stride);
void k512_channel_rmsnorm(const float *x, int64_t C, int64_t P, int64_t p0, int64_t p1, const float *gamma,
                          loom_act act, float *y);
/* rotate rows: x row r (stride) uses cos/sin row (tok0 + r) of tables [*, half] */
void k512_rope_rows(const float *cs, const float *sn, int64_t half, float *x, int64_t r0, int64_t r1, int64_t tok0,
                    int heads, int64_t stride);
#endif
