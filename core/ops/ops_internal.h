/* ops_internal.h: declarations shared between the kernel files of core/ops (not public). */
#ifndef LOOM_OPS_INTERNAL_H
#define LOOM_OPS_INTERNAL_H

#include "loom/ops.h"

#include <stdint.h>

loom_backend ops_resolve_backend(loom_backend b);

/* Thread-local grow-only scratch: slot 0..OPS_SCRATCH_SLOTS-1, 64-byte aligned, contents
 * undefined. Valid until the same thread asks for the same slot again. NULL on OOM. */
#define OPS_SCRATCH_SLOTS 4
void *ops_scratch(int slot, size_t bytes);

static inline int64_t ops_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* ---- AMX bf16 GEMM (amx_gemm.c; only call when LOOM_CPU_AMX_BF16) -------------------- */
/* Weights [N, K] packed for the tile kernel: per 32-column block and 32-deep k step, two
 * 16x32 B tiles in VNNI order (k pairs interleaved), padded with zeros to Np x Kp. */
typedef struct amx_weights {
    int64_t   N, K, Np, Kp;
    uint16_t *data;
} amx_weights;

int  amx_weights_pack(amx_weights *w, loom_dtype dt, const void *src, int64_t N, int64_t K, int64_t ld,
                      loom_error *err);
void amx_weights_free(amx_weights *w);
/* Rows [r0, r1) of x (f32, rows ldx apart, K wide) into the blocked bf16 A layout:
 * per 32-row block and 32-deep k step one 32x32 tile pair (1 KiB each half), zero padded
 * from K to Kp; rows >= M are zeroed. a holds round_up(M, 32) x Kp values. */
void amx_pack_rows(const float *x, int64_t r0, int64_t r1, int64_t M, int64_t K, int64_t ldx, uint16_t *a,
                   int64_t Kp);
/* Where amx_gemm_block puts act(a . W^T + bias): f32 rows y (=, or += with accumulate), or,
 * when packed is set, the bf16 A layout of a following product whose Kp is W's Np
 * (packed_ks = Np / 32 steps per 32-row block), all 32 rows of every row block. */
typedef struct amx_out {
    float       *y;
    int64_t      ldy;
    uint16_t    *packed;
    int64_t      packed_ks;
    const float *bias;
    loom_act     act;
    int          accumulate;
} amx_out;
/* Single-threaded: rows [m0, m1) x columns [n0, n1) of the product into out. m0 is a
 * multiple of 32 and a holds rows up to round_up(m1, 32); n0 a multiple of 32; n1 <= N.
 * With act and accumulate together, or with packed, K must fit one k block (the driver
 * checks amx_gemm_k_blocks). */
void amx_gemm_block(const amx_weights *w, const uint16_t *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                    const amx_out *out);
int  amx_gemm_k_blocks(const amx_weights *w);   /* how many k blocks the kernel uses for W */

/* ---- AMX implicit-GEMM convolution (amx_conv.c) ------------------------------------- */
/* Geometry shared by conv.c and amx_conv.c. */
typedef struct conv_geom {
    int64_t I, O, kt, kh, kw, st, sh, sw;
    int64_t pf, pb, ptop, pbot, pl, pr;
    int64_t T, H, W, Tp, Hp, Wp, To, Ho, Wo;
} conv_geom;
/* Pack weight [O, I, kt, kh, kw] (any float dtype) as [O, offsets, Ip] for the tile kernel. */
int  amx_conv_pack(amx_weights *w, loom_dtype dt, const void *src, const conv_geom *g, loom_error *err);
int  amx_conv_forward(const amx_weights *w, const conv_geom *g, const float *x, const float *bias, float *y,
                      loom_act act, loom_error *err);

/* ---- AMX fused attention (attention_amx.c) ------------------------------------------ */
int  amx_attention(const loom_attention_params *p, loom_error *err);

/* ---- f32 BLAS (blas.c): OpenBLAS loaded at run time, portable loops otherwise ----- */
/* Row-major C = alpha op(A) op(B) + beta C on the calling thread (single-threaded). */
void        ops_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
int         ops_have_blas(void);
const char *ops_blas_name(void);

/* ---- portable pieces ---------------------------------------------------------------- */
int  ref_attention(const loom_attention_params *p, int use_blas, loom_error *err);

/* activation on n floats in place (activation.c) */
void ops_apply_act(float *y, int64_t n, loom_act act);

#endif
