/* loom/ops.h: the kernel vocabulary models are written in.
 *
 * Models call these ops and never a library. Behind them sit backends picked at run time
 * from the CPU's features: loom's own AMX bf16 kernels (matrix products and fused
 * attention, fp32 accumulation), oneDNN (bf16 matmul with pre-packed weights), OpenBLAS
 * (fp32) and a portable reference. LOOM_BACKEND=amx|onednn|openblas|ref overrides the
 * choice for the whole process (useful for A/B checks); unknown values are ignored.
 * LOOM_CPU=baseline|avx2|avx512 caps the instruction sets loom uses (tests run the
 * portable and AVX-512 paths on an AMX machine this way).
 *
 * Conventions. Activations are f32, row-major, token-major [rows, features] unless an op
 * says otherwise (the VAE ops take channel-first [C, T, H, W] like PyTorch NCTHW with
 * batch 1). Pointers are not required to be aligned. In-place use (y == x) is allowed
 * wherever the op reads each element before writing it, which every elementwise and
 * row-wise op here does. Ops parallelise over loom's pool (loom/threads.h); call them from
 * outside a parallel region to use every core. A loom_linear / loom_conv object may be
 * used by one thread at a time (it owns scratch buffers); create one per thread
 * otherwise.
 *
 * Precision. "bf16" paths round the inputs of a matrix product to bfloat16 and accumulate
 * in f32, as the reference implementations do (Wan runs its GEMMs and attention in bf16):
 * expect relative errors around 2^-8 * sqrt(K) on individual dot products. Norms, softmax,
 * RoPE, modulation and residual updates are always f32.
 */
#ifndef LOOM_OPS_H
#define LOOM_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "loom/error.h"
#include "loom/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- backends and CPU features ---------------------------------------------------- */

typedef enum loom_backend {
    LOOM_BACKEND_AUTO = 0,      /* AMX kernels when the CPU has AMX-BF16, else OpenBLAS */
    LOOM_BACKEND_REF,           /* portable C loops, f32 (slow; for checks) */
    LOOM_BACKEND_OPENBLAS,      /* f32 via OpenBLAS */
    LOOM_BACKEND_ONEDNN,        /* bf16 via oneDNN matmul (AMX when present); falls back to OpenBLAS */
    LOOM_BACKEND_AMX            /* loom's own AMX-BF16 tile kernels */
} loom_backend;

enum {                          /* CPU feature bits */
    LOOM_CPU_AVX2      = 1 << 0,
    LOOM_CPU_AVX512    = 1 << 1,   /* F + BW + VL + DQ */
    LOOM_CPU_AVX512BF16 = 1 << 2,
    LOOM_CPU_AMX_BF16  = 1 << 3,   /* AMX-TILE + AMX-BF16 and the OS granted tile state */
    LOOM_CPU_AMX_INT8  = 1 << 4,
    LOOM_CPU_AVX512FP16 = 1 << 5
};

unsigned     loom_cpu_features(void);              /* LOOM_CPU_* bits, detected once */
loom_backend loom_ops_backend(void);               /* effective default backend (env applied) */
void         loom_ops_set_backend(loom_backend b); /* process-wide override (AUTO = detect) */
const char  *loom_backend_name(loom_backend b);    /* "auto","ref","openblas","onednn","amx" */
/* One line describing the CPU features and backend, for logs and benchmarks. */
const char  *loom_ops_describe(char *buf, size_t cap);

/* ---- activation arena --------------------------------------------------------------- */
/* A bump allocator for the temporaries of a forward pass: allocate freely, then reset to a
 * mark (or 0) once the pass is done. Blocks are 64-byte aligned. When a pass needs more than
 * the current chunk a new chunk is added; the next reset to 0 merges them into one chunk of
 * the peak size, so steady-state passes make no system allocation at all. */
typedef struct loom_arena loom_arena;

loom_arena  *loom_arena_new(size_t initial_bytes, loom_error *err);
void         loom_arena_free(loom_arena *a);
void        *loom_arena_alloc(loom_arena *a, size_t bytes);        /* NULL only when out of memory */
float       *loom_arena_f32(loom_arena *a, int64_t n);             /* n floats, uninitialised */
size_t       loom_arena_mark(const loom_arena *a);
void         loom_arena_reset(loom_arena *a, size_t mark);
size_t       loom_arena_peak(const loom_arena *a);                 /* high-water mark, bytes */

/* ---- matrix products ---------------------------------------------------------------- */

typedef enum loom_precision {
    LOOM_PREC_AUTO = 0,         /* bf16 where the backend has a bf16 path (AMX, oneDNN), else f32 */
    LOOM_PREC_F32,              /* f32 inputs and accumulation (OpenBLAS / ref) */
    LOOM_PREC_BF16              /* bf16 inputs, f32 accumulation (emulated if no AMX) */
} loom_precision;

typedef enum loom_act {         /* elementwise epilogue fused into an op's output */
    LOOM_ACT_NONE = 0,
    LOOM_ACT_GELU_TANH,
    LOOM_ACT_SILU
} loom_act;

typedef struct loom_linear_opts {
    loom_backend   backend;     /* AUTO: loom_ops_backend() */
    loom_precision precision;
} loom_linear_opts;

/* y[M, N] = x[M, K] . W[N, K]^T + b, the nn.Linear convention. The weight (any float dtype,
 * e.g. a safetensors view; not retained) is converted and packed once here, for the
 * backend's preferred layout; bias is [N] or NULL. */
typedef struct loom_linear loom_linear;

loom_linear *loom_linear_new(const loom_tensor *weight, const loom_tensor *bias, loom_error *err);
loom_linear *loom_linear_new_ex(const loom_tensor *weight, const loom_tensor *bias,
                                const loom_linear_opts *opts, loom_error *err);
/* 2-D weight given as raw f32 [N, K] (row stride K) and bias [N] or NULL. */
loom_linear *loom_linear_new_f32(const float *w, const float *b, int64_t N, int64_t K,
                                 const loom_linear_opts *opts, loom_error *err);
int          loom_linear_forward(loom_linear *l, const float *x, int64_t M, float *y /*[M,N]*/);

enum {                          /* loom_linear_forward_ex flags */
    LOOM_LINEAR_ACCUMULATE = 1  /* y += x.W^T + b (the activation, if any, applies to the product only) */
};
/* Strided form: x rows ldx floats apart, y rows ldy apart; act applied after the bias. */
int          loom_linear_forward_ex(loom_linear *l, const float *x, int64_t M, int64_t ldx,
                                    float *y, int64_t ldy, loom_act act, unsigned flags);
/* Several products of one input, ys[i][M, N_i] = x . W_i^T + b_i (rows N_i apart). All
 * share K; the input is converted for the kernels once instead of once per product (the
 * q, k and v projections of attention). */
int          loom_linear_forward_group(loom_linear *const *ls, int n, const float *x, int64_t M, int64_t ldx,
                                       float *const *ys);
/* Two products in a row, y (=|+=) act(x . W1^T + b1) . W2^T + b2, where W2's K is W1's N:
 * a feed-forward block. On AMX the hidden rows go from the first product's tiles straight
 * into the second's bf16 input layout, never existing in f32; the result is the same as
 * two loom_linear_forward_ex calls. flags: LOOM_LINEAR_ACCUMULATE (applies to y). */
int          loom_linear_forward_pair(loom_linear *l1, loom_act act, loom_linear *l2, const float *x, int64_t M,
                                      int64_t ldx, float *y, int64_t ldy, unsigned flags);
int64_t      loom_linear_in(const loom_linear *l);          /* K */
int64_t      loom_linear_out(const loom_linear *l);         /* N */
loom_backend loom_linear_backend(const loom_linear *l);     /* what forward actually uses */
void         loom_linear_free(loom_linear *l);

/* C[M,N] = alpha * op(A) . op(B) + beta * C for activations x activations, row-major f32;
 * op(X) = X or X^T. Parallel over loom's pool, OpenBLAS single-threaded inside. */
void         loom_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc);

/* ---- fused attention ------------------------------------------------------------------ */
/* out[i, h*D + d] = sum_j softmax_j(scale * q_i.k_j + bias) v_j for every head h, computed
 * in tiles with an online softmax so the Sq x Sk score matrix never exists. */
typedef struct loom_attention_params {
    int64_t      sq, sk;        /* query and key lengths (cross-attention: sq != sk) */
    int          heads, head_dim;
    const float *q;  int64_t q_stride;   /* row strides in floats; 0 = heads*head_dim, */
    const float *k;  int64_t k_stride;   /* so q/k/v may be slices of one fused qkv    */
    const float *v;  int64_t v_stride;   /* buffer (stride 3*heads*head_dim)           */
    float       *out; int64_t out_stride;
    float        scale;         /* 0 = 1/sqrt(head_dim); umT5 passes 1.0 */
    /* optional additive biases (added after scaling, before the mask): */
    const float *bias;          /* [heads, sq, sk] dense, or NULL */
    const float *rel_bias;      /* [heads, sq + sk - 1]: bias of (i, j) is
                                   rel_bias[h*(sq+sk-1) + (j - i) + sq - 1] (umT5 buckets
                                   expanded per offset), or NULL */
    const uint8_t *key_mask;    /* [sk]: 0 = key ignored (padding), or NULL. A query whose
                                   keys are all masked gets a zero output row. */
    loom_precision precision;   /* AUTO: bf16 tiles on AMX, else f32 */
    loom_arena  *scratch;       /* optional: packed K/V go here instead of the heap */
} loom_attention_params;

int          loom_attention(const loom_attention_params *p, loom_error *err);

/* ---- norms (row-wise over the last dimension of [M, D]) -------------------------------- */

/* y = (x - mean) / sqrt(var + eps) [* gamma] [+ beta]; biased variance; gamma/beta NULL = no affine. */
void loom_layernorm(const float *x, int64_t M, int64_t D, const float *gamma, const float *beta,
                    float eps, float *y);
/* y = x / sqrt(mean(x^2) + eps) * gamma (T5 style; gamma NULL = 1). Wan's q/k norm is this
 * over the full width D = heads*head_dim. */
void loom_rmsnorm(const float *x, int64_t M, int64_t D, const float *gamma, float eps, float *y);
/* Fused AdaLN: y = LN(x; no affine) * (1 + scale) + shift. scale/shift are [D] when
 * mod_stride is 0 (one modulation for every row) or rows mod_stride floats apart. */
void loom_adaln(const float *x, int64_t M, int64_t D, const float *shift, const float *scale,
                int64_t mod_stride, float eps, float *y);

/* VAE channel RMS norm on channel-first x[C, P] (P = T*H*W positions):
 * y[c,p] = x[c,p] / max(||x[:,p]||_2, 1e-12) * sqrt(C) * gamma[c], then optional act
 * (SiLU in the residual blocks). */
void loom_channel_rmsnorm(const float *x, int64_t C, int64_t P, const float *gamma, loom_act act, float *y);

/* ---- rotary embedding (Wan 3-D RoPE, spec 2.3) ----------------------------------------- */
typedef struct loom_rope3d loom_rope3d;
/* cos/sin table for an (F, H, W) token grid, computed in double: head_dim d (even) splits
 * into d - 4*(d/6) temporal and 2*(d/6) height and width dims; theta 10000 for Wan. */
loom_rope3d *loom_rope3d_new(int head_dim, int64_t F, int64_t H, int64_t W, double theta, loom_error *err);
void         loom_rope3d_free(loom_rope3d *r);
int64_t      loom_rope3d_tokens(const loom_rope3d *r);
/* Rotate interleaved pairs (x[2p], x[2p+1]) of every head of rows [tok0, tok0 + n) in
 * place: x is [n, heads*head_dim] with row stride `stride` floats (0 = heads*head_dim).
 * tok0 lets a sequence-parallel rank rotate its slice with the global positions. */
int          loom_rope3d_apply(const loom_rope3d *r, float *x, int64_t tok0, int64_t n, int heads,
                               int64_t stride);  /* LOOM_ERR_INVALID if rows fall outside the grid */

/* ---- elementwise ---------------------------------------------------------------------- */
void loom_gelu_tanh(const float *x, int64_t n, float *y);       /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
void loom_silu(const float *x, int64_t n, float *y);            /* x * sigmoid(x) */
/* y = gelu_tanh(a) * b (umT5 gated-GELU FFN). */
void loom_gated_gelu(const float *a, const float *b, int64_t n, float *y);
/* x[M, D] += y[M, D] * gate: gate [D] broadcast (gate_stride 0), per-row gate (rows
 * gate_stride apart) or NULL (plain residual add). y rows are ldy floats apart (0 = D). */
void loom_residual_gate(float *x, const float *y, int64_t M, int64_t D, int64_t ldy, const float *gate,
                        int64_t gate_stride);
/* x[M, D] += b[D] (bias broadcast over rows). */
void loom_add_bias(float *x, int64_t M, int64_t D, const float *b);

/* ---- convolution and resampling (channel-first, batch 1) ------------------------------- */
typedef struct loom_conv_params {
    int stride[3];              /* t, h, w; 0 = 1 */
    int pad_t_front, pad_t_back;   /* causal conv: front = 2*pt, back = 0 */
    int pad_top, pad_bottom, pad_left, pad_right;
    loom_backend   backend;     /* AUTO: loom_ops_backend() */
    loom_precision precision;
} loom_conv_params;

typedef struct loom_conv loom_conv;
/* weight [O, I, kt, kh, kw] (Conv3d) or [O, I, kh, kw] (Conv2d = kt 1; applied to every
 * frame independently when the input has T > 1); bias [O] or NULL. Zero padding. */
loom_conv   *loom_conv_new(const loom_tensor *weight, const loom_tensor *bias, const loom_conv_params *p,
                           loom_error *err);
/* Output extents for an input of T x H x W (-1 in *To when the input is too small). */
void         loom_conv_out_shape(const loom_conv *c, int64_t T, int64_t H, int64_t W,
                                 int64_t *To, int64_t *Ho, int64_t *Wo);
/* x [I, T, H, W] -> y [O, To, Ho, Wo]; act fused after the bias. */
int          loom_conv_forward(loom_conv *c, const float *x, int64_t T, int64_t H, int64_t W, float *y,
                               loom_act act, loom_error *err);
int64_t      loom_conv_in_channels(const loom_conv *c);
int64_t      loom_conv_out_channels(const loom_conv *c);
void         loom_conv_free(loom_conv *c);

/* Nearest-neighbour x2 in H and W: x [C*T, H, W] -> y [C*T, 2H, 2W] (planes = C*T). */
void loom_upsample_nearest2x(const float *x, int64_t planes, int64_t H, int64_t W, float *y);

#ifdef __cplusplus
}
#endif
#endif
