/* amx_gemm.c: bf16 matrix product on AMX tiles with pre-packed weights.
 *
 * The kernel computes a 32x32 block of C in four 16x16 f32 accumulator tiles (tmm0-3)
 * from two A tiles (tmm4-5: 16 rows x 32 bf16 of the activations, packed per call into
 * contiguous 1 KiB tiles so that no cache set or page is hot) and two B tiles
 * (tmm6-7: 32 k x 16 columns of the weights in VNNI pair order), i.e. four TDPBF16PS per
 * four tile loads. Weights are packed once so that the B tiles of a 32-column block are
 * contiguous along K. The loop nest keeps a block of weights (KB x NB, about 1 MiB) in L2
 * and sweeps all rows over it; K beyond 2048 is split into k blocks whose partial sums
 * are added in the output. Within a k block the 32-row A slice is consumed 512 deep at a
 * time so it stays in L1 while it meets every column block; the accumulators go through
 * a small per-thread buffer between those inner steps. An AVX-512 epilogue then adds bias
 * / previous partial sums, applies the activation and writes only the valid rows and
 * columns, so ragged M and N need no special cases; or it writes the block, rounded to
 * bf16, straight into the packed A layout of a following product (amx_out.packed), which
 * saves that product its f32 round trip.
 *
 * Two measured details of feeding the tiles (one thread, 1560x1536x1536): the weight tiles
 * are loaded with TILELOADDT1, which keeps them out of L1 so the A slice stays there
 * (+10 to 14 %); and the output lines of a block are prefetched for writing while its
 * last k slice runs, so the epilogue does not wait for them (+8 %).
 */
#include "ops_internal.h"
#include "vecmath.h"
#include "amx_tiles.h"
#include "loom/threads.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* Largest k block (elements) and the L2 budget (bytes) for one weight block. */
#define AMX_KB_MAX   2048
#define AMX_L2_BLOCK (1u << 20)
/* Inner k block: a 32 x 512 bf16 slice of A (32 KiB) stays in L1 while it meets every
 * column block; measured 1.3x over streaming A from L2 at full AMX rate. */
#define AMX_KI       512
/* Widest column block (its partial sums, 32 x NB f32, live in L1/L2 between k blocks). */
#define AMX_NB_MAX   512


typedef struct pack_ctx {
    amx_weights *w;
    loom_dtype   dt;
    const void  *src;
    int64_t      ld;
    int          failed;
} pack_ctx;

/* Column blocks [b, e): each weight row n becomes column n % 32 of its block's B tiles,
 * k pairs side by side (VNNI order). bf16 rows are copied, other types converted. */
static void pack_task(void *p, int64_t b, int64_t e, int tid)
{
    pack_ctx *c = p;
    amx_weights *w = c->w;
    (void)tid;
    const size_t es = loom_dtype_size(c->dt);
    const int64_t ks = w->Kp / 32;
    uint16_t *row = malloc((size_t)w->Kp * sizeof(uint16_t));
    float *row32 = c->dt == LOOM_BF16 ? NULL : malloc((size_t)w->Kp * sizeof(float));
    if (!row || (c->dt != LOOM_BF16 && !row32)) {
        c->failed = 1;
        free(row);
        free(row32);
        return;
    }
    for (int64_t n = b * 32; n < e * 32; n++) {
        memset(row, 0, (size_t)w->Kp * sizeof(uint16_t));
        if (n < w->N) {
            const char *sr = (const char *)c->src + (size_t)n * (size_t)c->ld * es;
            if (c->dt == LOOM_BF16) {
                memcpy(row, sr, (size_t)w->K * sizeof(uint16_t));
            } else {
                loom_convert_to_f32(c->dt, sr, row32, w->K);
                for (int64_t k = 0; k < w->K; k++) row[k] = loom_f32_to_bf16(row32[k]);
            }
        }
        const int64_t nb = n / 32, t = (n % 32) / 16, col = n % 16;
        for (int64_t s = 0; s < ks; s++) {
            uint16_t *tile = w->data + ((nb * ks + s) * 2 + t) * 512 + col * 2;
            for (int r = 0; r < 16; r++) {
                tile[r * 32] = row[s * 32 + 2 * r];
                tile[r * 32 + 1] = row[s * 32 + 2 * r + 1];
            }
        }
    }
    free(row);
    free(row32);
}

int amx_weights_pack(amx_weights *w, loom_dtype dt, const void *src, int64_t N, int64_t K, int64_t ld,
                     loom_error *err)
{
    w->N = N;
    w->K = K;
    w->Np = ops_round_up(N, 32);
    w->Kp = ops_round_up(K, 32);
    size_t bytes = (size_t)w->Np * (size_t)w->Kp * 2;
    w->data = loom_aligned_alloc(bytes ? bytes : 64);
    if (!w->data) return loom_errorf(err, LOOM_ERR_NOMEM, "linear: cannot allocate %zu bytes for packed weights", bytes);
    pack_ctx c = {w, dt, src, ld, 0};
    loom_parallel_for(w->Np / 32, pack_task, &c);
    if (c.failed) {
        amx_weights_free(w);
        return loom_errorf(err, LOOM_ERR_NOMEM, "linear: out of memory while packing weights");
    }
    return 0;
}

void amx_weights_free(amx_weights *w)
{
    loom_aligned_free(w->data);
    w->data = NULL;
}

void amx_pack_rows(const float *x, int64_t r0, int64_t r1, int64_t M, int64_t K, int64_t ldx, uint16_t *a, int64_t Kp)
{
    const int64_t ks = Kp / 32;
    for (int64_t m = r0; m < r1; m++) {
        /* row m of the blocked layout: 32 values per k step, 1 KiB apart per 32-row block */
        uint16_t *ar = a + ((m / 32) * ks) * 1024 + (m % 32) * 32;
        if (m >= M) {
            for (int64_t s = 0; s < ks; s++) memset(ar + s * 1024, 0, 64);
            continue;
        }
        const float *xr = x + m * ldx;
        for (int64_t s = 0; s < ks; s++) {
            int64_t k = s * 32;
            if (k + 32 <= K) {
                vm_store_bf16x32(ar + s * 1024, _mm512_loadu_ps(xr + k), _mm512_loadu_ps(xr + k + 16));
            } else {
                __m512 lo = _mm512_maskz_loadu_ps(vm_tail(K - k), xr + k);
                __m512 hi = _mm512_maskz_loadu_ps(vm_tail(K - k - 16), xr + k + 16);
                vm_store_bf16x32(ar + s * 1024, lo, hi);
            }
        }
    }
}

int amx_gemm_k_blocks(const amx_weights *w)
{
    return w->Kp <= AMX_KB_MAX ? 1 : (int)((w->Kp + AMX_KB_MAX - 1) / AMX_KB_MAX);
}

/* One 32x32 block over `ksteps` 32-deep steps. C starts from zero (first) or from the
 * partial sums at c (row stride 32 floats) and is stored back to c. While it runs, the
 * pf_rows rows of 128 bytes at pf (pf_stride apart; NULL: none) are prefetched for writing. */
static inline void kernel_32x32(const uint16_t *a, const uint16_t *b, int64_t ksteps, float *c, int first,
                                char *pf, int64_t pf_stride, int pf_rows)
{
    if (first) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    } else {
        _tile_loadd(0, c, 128);
        _tile_loadd(1, c + 16, 128);
        _tile_loadd(2, c + 512, 128);
        _tile_loadd(3, c + 528, 128);
    }
    const int64_t pf_per_step = pf ? (pf_rows + ksteps - 1) / ksteps : 0;
    for (int64_t s = 0; s < ksteps; s++) {
        _tile_loadd(4, a + s * 1024, 64);
        _tile_stream_loadd(6, b + s * 1024, 64);
        _tile_stream_loadd(7, b + s * 1024 + 512, 64);
        _tile_loadd(5, a + s * 1024 + 512, 64);
        for (int64_t j = s * pf_per_step; j < (s + 1) * pf_per_step && j < pf_rows; j++) {
            __builtin_prefetch(pf + j * pf_stride, 1, 3);
            __builtin_prefetch(pf + j * pf_stride + 64, 1, 3);
        }
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, 128);
    _tile_stored(1, c + 16, 128);
    _tile_stored(2, c + 512, 128);
    _tile_stored(3, c + 528, 128);
}

static inline __m512 act_vec(__m512 v, loom_act act)
{
    if (act == LOOM_ACT_GELU_TANH) return vm_gelu_tanh(v);
    if (act == LOOM_ACT_SILU) return vm_silu(v);
    return v;
}

static void epilogue(const float *tmp, int rows, int cols, float *y, int64_t ldy, const float *bias, int first,
                     int last, loom_act act, int accumulate)
{
    for (int h = 0; h < 2; h++) {
        int c0 = h * 16;
        if (c0 >= cols) break;
        __mmask16 m = vm_tail(cols - c0);
        __m512 b = first && bias ? _mm512_maskz_loadu_ps(m, bias + c0) : _mm512_setzero_ps();
        loom_act fa = last ? act : LOOM_ACT_NONE;
        for (int r = 0; r < rows; r++) {
            __m512 v = _mm512_load_ps(tmp + r * 32 + c0);
            float *yr = y + r * ldy + c0;
            if (first) {
                v = act_vec(_mm512_add_ps(v, b), fa);
                if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yr));
            } else {
                v = act_vec(_mm512_add_ps(v, _mm512_maskz_loadu_ps(m, yr)), fa);
            }
            _mm512_mask_storeu_ps(yr, m, v);
        }
    }
}

/* The whole 32x32 block (K in one k block) into one 2 KiB step of the packed A layout:
 * bias and activation, then bf16 exactly as amx_pack_rows rounds. Columns past N become
 * zeros (they meet the zero padding of the next weights, and must not be NaN); rows past
 * M are written too, since the next product discards them. */
static void epilogue_packed(const float *tmp, int cols, uint16_t *dst, const float *bias, loom_act act)
{
    const __mmask16 m0 = vm_tail(cols), m1 = vm_tail(cols - 16);
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    for (int r = 0; r < 32; r++) {
        __m512 v0 = act_vec(_mm512_add_ps(_mm512_load_ps(tmp + r * 32), b0), act);
        __m512 v1 = act_vec(_mm512_add_ps(_mm512_load_ps(tmp + r * 32 + 16), b1), act);
        vm_store_bf16x32(dst + r * 32, _mm512_maskz_mov_ps(m0, v0), _mm512_maskz_mov_ps(m1, v1));
    }
}

void amx_gemm_block(const amx_weights *w, const uint16_t *a, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                    const amx_out *out)
{
    if (m1 <= m0 || n1 <= n0) return;
    const int64_t Kp = w->Kp, ks_total = Kp / 32;
    const int nkb = amx_gemm_k_blocks(w);
    const int64_t KB = ops_round_up((Kp + nkb - 1) / nkb, 32);
    int64_t NB = (int64_t)(AMX_L2_BLOCK / (2 * (size_t)KB)) / 32 * 32;
    if (NB < 64) NB = 64;
    if (NB > AMX_NB_MAX) NB = AMX_NB_MAX;
    /* partial sums of one 32-row stripe of the current column block: NB/32 blocks of 32x32 */
    float *cacc = ops_scratch(2, sizeof(float) * 32 * (size_t)NB);
    if (!cacc) return;
    amx_tiles_configure();
    for (int64_t kc = 0; kc < Kp; kc += KB) {
        const int64_t kl = kc + KB < Kp ? KB : Kp - kc;
        const int first = kc == 0, last = kc + kl >= Kp;
        for (int64_t nc = n0; nc < n1; nc += NB) {
            const int64_t nc1 = nc + NB < n1 ? nc + NB : n1;
            for (int64_t mb = m0; mb < m1; mb += 32) {
                const int rows = (int)(m1 - mb < 32 ? m1 - mb : 32);
                /* inner k blocks: the 32 x AMX_KI slice of A stays in L1 across all columns */
                for (int64_t ki = kc; ki < kc + kl; ki += AMX_KI) {
                    const int64_t kil = ki + AMX_KI < kc + kl ? AMX_KI : kc + kl - ki;
                    const int last_slice = ki + kil >= kc + kl;
                    const uint16_t *ab = a + ((mb / 32) * ks_total + ki / 32) * 1024;
                    for (int64_t nb = nc; nb < nc1; nb += 32) {
                        const uint16_t *bb = w->data + ((nb / 32) * ks_total + ki / 32) * 1024;
                        char *pf = NULL;
                        int64_t pf_stride = 128;
                        int pf_rows = 16;
                        if (last_slice && out->packed) {
                            pf = (char *)(out->packed + ((mb / 32) * out->packed_ks + nb / 32) * 1024);
                        } else if (last_slice) {
                            pf = (char *)(out->y + mb * out->ldy + nb);
                            pf_stride = out->ldy * (int64_t)sizeof(float);
                            pf_rows = rows;
                        }
                        kernel_32x32(ab, bb, kil / 32, cacc + (nb - nc) * 32, ki == kc, pf, pf_stride, pf_rows);
                    }
                }
                for (int64_t nb = nc; nb < nc1; nb += 32) {
                    const int cols = (int)(nc1 - nb < 32 ? nc1 - nb : 32);
                    const float *bias = out->bias ? out->bias + nb : NULL;
                    if (out->packed)
                        epilogue_packed(cacc + (nb - nc) * 32, cols,
                                        out->packed + ((mb / 32) * out->packed_ks + nb / 32) * 1024, bias, out->act);
                    else
                        epilogue(cacc + (nb - nc) * 32, rows, cols, out->y + mb * out->ldy + nb, out->ldy, bias,
                                 first, last, out->act, out->accumulate);
                }
            }
        }
    }
    _tile_release();
}
