/* attention_amx.c: fused flash attention on AMX tiles (bf16 products, f32 softmax).
 *
 * For each head and each block of 32 query rows the kernel walks the keys in blocks of
 * ATT_BK, keeping the running row maximum m, the running sum l and the un-normalised
 * output O (32 x Dp, f32) in L1; the Sq x Sk score matrix never exists:
 *   S  = Q K^T          two A tiles (32 query rows) x two B tiles (32 keys), tmm0-3
 *   m' = max(m, rowmax(scale*S + bias)),  P = 2^(scale*log2e*S + bias - m') (bf16),
 *   l  = l * 2^(m - m') + rowsum(P),      O = O * 2^(m - m') + P V
 * and finally out = O / l. Scores live in the log2 domain so each exponential is one
 * exp2. P V adds into O by loading O into the accumulator tiles, so O is rescaled in
 * AVX-512 only when a row maximum actually moved. K and V are packed once per call into
 * the B-tile layouts (K^T: d pairs x 16 keys; V: key pairs x 16 dims), zero padded to
 * multiples of 32, and padded keys are masked to -inf. The row sum l adds the bf16-rounded
 * probabilities, the same values the P V product uses, so rows stay exact convex
 * combinations of V.
 */
#include "ops_internal.h"
#include "loom/threads.h"
#include "vecmath.h"
#include "amx_tiles.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define ATT_BQ 32          /* query rows per task: two A tiles */
#define ATT_LAZY_MAX 32.0f   /* log2 headroom for P above 1 before a row is redone */
#define ATT_BK 512         /* keys per softmax step: S block 64 KiB, P 32 KiB (7-12 % faster than 256, same as 1024) */


typedef struct att_ctx {
    const loom_attention_params *p;
    int64_t   D, Dp, Skp, qs, ks, vs, os;
    uint16_t *kpack, *vpack;     /* [H][Skp/16][Dp/32][512], [H][Skp/32][Dp/16][512] */
    uint16_t *qpack;             /* [H][qblocks * 32][Dp] */
    int64_t   qblocks;
    int       failed;            /* a task found no memory (set atomically: tasks run concurrently) */
    float     c;                 /* scale * log2(e) */
} att_ctx;

/* ---- packing ---------------------------------------------------------------------- */

/* Rows [r0, r1) of one projection (all heads side by side, `stride` floats apart) rounded
 * to bf16 as dst[h][r - r0][Dp], zero past D and past `valid` rows. Reading whole rows in
 * order lets the hardware prefetchers follow; a per-head pass would read 2 * D bytes out
 * of every row and miss on nearly each one. */
static void round_rows(const att_ctx *a, const float *src, int64_t stride, int64_t valid, int64_t r0, int64_t r1,
                       uint16_t *dst, int64_t head_pitch)
{
    const int64_t D = a->D, Dp = a->Dp;
    for (int64_t r = r0; r < r1; r++) {
        const float *row = src + r * stride;
        for (int64_t h = 0; h < a->p->heads; h++) {
            uint16_t *out = dst + h * head_pitch + (r - r0) * Dp;
            for (int64_t d = 0; d < Dp; d += 16) {
                __m512 v = r < valid && d < D ? _mm512_maskz_loadu_ps(vm_tail(D - d), row + h * D + d) : _mm512_setzero_ps();
                vm_store_bf16x16(out + d, v, 0xffff);
            }
        }
    }
}

/* Key groups [g0, g1) of 32 keys, every head: K^T tiles (key group of 16, d step s; row r
 * = d pair, column = key) gather one d pair from each of 16 rounded key rows; V tiles
 * (key step, d group e; row r = key pair, column = d) interleave two rounded rows. */
static void pack_kv_task(void *ctx, int64_t g0, int64_t g1, int tid)
{
    att_ctx *a = ctx;
    const loom_attention_params *p = a->p;
    (void)tid;
    const int64_t Dp = a->Dp, Skp = a->Skp, ds = Dp / 32, dg = Dp / 16, H = p->heads;
    uint16_t *kr = ops_scratch(2, (size_t)2 * 32 * (size_t)(H * Dp) * 2);
    if (!kr) {
        __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    uint16_t *vr = kr + 32 * H * Dp;
    const __m512i key_pitch = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                 _mm512_set1_epi32((int)(Dp / 2)));
    for (int64_t g = g0; g < g1; g++) {
        round_rows(a, p->k, a->ks, p->sk, g * 32, g * 32 + 32, kr, 32 * Dp);
        round_rows(a, p->v, a->vs, p->sk, g * 32, g * 32 + 32, vr, 32 * Dp);
        for (int64_t h = 0; h < H; h++) {
            uint16_t *kp = a->kpack + h * Skp * Dp, *vp = a->vpack + h * Skp * Dp;
            const uint16_t *kh = kr + h * 32 * Dp, *vh = vr + h * 32 * Dp;
            for (int64_t half = 0; half < 2; half++) {
                for (int64_t st = 0; st < ds; st++) {
                    uint32_t *tile = (uint32_t *)(kp + ((g * 2 + half) * ds + st) * 512);
                    for (int r = 0; r < 16; r++) {
                        __m512i idx = _mm512_add_epi32(key_pitch, _mm512_set1_epi32((int)(half * 16 * (Dp / 2) + st * 16 + r)));
                        _mm512_store_si512((void *)(tile + r * 16), _mm512_i32gather_epi32(idx, kh, 4));
                    }
                }
            }
            for (int64_t e = 0; e < dg; e++) {
                uint16_t *tile = vp + (g * dg + e) * 512;
                for (int r = 0; r < 16; r++) {
                    __m512i w0 = _mm512_cvtepu16_epi32(_mm256_load_si256((const __m256i *)(vh + (2 * r) * Dp + e * 16)));
                    __m512i w1 = _mm512_cvtepu16_epi32(_mm256_load_si256((const __m256i *)(vh + (2 * r + 1) * Dp + e * 16)));
                    _mm512_store_si512((void *)(tile + r * 32), _mm512_or_si512(w0, _mm512_slli_epi32(w1, 16)));
                }
            }
        }
    }
}

/* Query rows in 32-row blocks [b0, b1), every head, into qpack[h][row][Dp]. */
static void pack_q_task(void *ctx, int64_t b0, int64_t b1, int tid)
{
    att_ctx *a = ctx;
    (void)tid;
    for (int64_t b = b0; b < b1; b++)
        round_rows(a, a->p->q, a->qs, a->p->sq, b * ATT_BQ, b * ATT_BQ + ATT_BQ, a->qpack + b * ATT_BQ * a->Dp,
                   a->qblocks * ATT_BQ * a->Dp);
}

/* ---- the per-block kernel --------------------------------------------------------- */

/* S[32 rows][32 keys] = Q K^T for one group of 32 keys (kb0: its first K^T tile). */
static inline void qk_group(const uint16_t *qb, int64_t Dp, int64_t ds, const uint16_t *kb0, float *sg)
{
    const uint16_t *kb1 = kb0 + ds * 512;
    const size_t qstride = (size_t)Dp * 2, sstride = ATT_BK * 4;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int64_t s = 0; s < ds; s++) {
        _tile_loadd(4, qb + s * 32, qstride);
        _tile_loadd(5, qb + 16 * Dp + s * 32, qstride);
        _tile_loadd(6, kb0 + s * 512, 64);
        _tile_loadd(7, kb1 + s * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, sg, sstride);
    _tile_stored(1, sg + 16, sstride);
    _tile_stored(2, sg + 16 * ATT_BK, sstride);
    _tile_stored(3, sg + 16 * ATT_BK + 16, sstride);
}

/* One row of P = bf16(2^(cm s - m)) over nvec vectors of scores; returns the sum of the
 * rounded values (what P V will use, so rows stay convex combinations of V) and puts the
 * largest score read into *smax. */
static inline float exp_row(const float *sr, uint16_t *pr, int64_t nvec, __m512 cm, float m, float *smax)
{
    const __m512 mv = _mm512_set1_ps(m);
    const __m512i hi_mask = _mm512_set1_epi32((int)0xffff0000u);
    __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
    __m512 mx0 = _mm512_set1_ps(-INFINITY), mx1 = mx0;
    for (int64_t v = 0; v < nvec; v += 2) {
        __m512 s0 = _mm512_load_ps(sr + v * 16), s1 = _mm512_load_ps(sr + v * 16 + 16);
        mx0 = _mm512_max_ps(mx0, s0);
        mx1 = _mm512_max_ps(mx1, s1);
        __m512bh pbh = _mm512_cvtne2ps_pbh(vm_exp2_bf(_mm512_fmsub_ps(s1, cm, mv)), vm_exp2_bf(_mm512_fmsub_ps(s0, cm, mv)));
        _mm512_store_si512((void *)(pr + v * 16), (__m512i)pbh);
        /* widen the rounded bf16 values back to f32 by shifting */
        __m512i bi = (__m512i)pbh;
        sum0 = _mm512_add_ps(sum0, _mm512_castsi512_ps(_mm512_slli_epi32(bi, 16)));
        sum1 = _mm512_add_ps(sum1, _mm512_castsi512_ps(_mm512_and_si512(bi, hi_mask)));
    }
    *smax = vm_hmax(_mm512_max_ps(mx0, mx1));
    return vm_hsum(_mm512_add_ps(sum0, sum1));
}

static void attend_block(const att_ctx *a, int64_t h, int64_t i0, float *sbuf, uint16_t *pb, float *ob)
{
    const loom_attention_params *p = a->p;
    const int64_t D = a->D, Dp = a->Dp, ds = Dp / 32, dg = Dp / 16, Skp = a->Skp;
    const int64_t rows = p->sq - i0 < ATT_BQ ? p->sq - i0 : ATT_BQ;
    const uint16_t *kp = a->kpack + h * Skp * Dp, *vp = a->vpack + h * Skp * Dp;
    _Alignas(64) float mrow[ATT_BQ], lrow[ATT_BQ], alpha[ATT_BQ];
    const __m512 ninf = _mm512_set1_ps(-INFINITY), cv = _mm512_set1_ps(a->c);
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);

    const uint16_t *qb = a->qpack + (h * a->qblocks * ATT_BQ + i0) * Dp;   /* 32 rounded rows */
    for (int64_t r = 0; r < ATT_BQ; r++) {
        mrow[r] = -INFINITY;
        lrow[r] = 0.0f;
    }
    memset(ob, 0, sizeof(float) * ATT_BQ * (size_t)Dp);
    const size_t pstride = ATT_BK * 2, ostride = (size_t)Dp * 4;
    const int64_t nblk = (p->sk + ATT_BK - 1) / ATT_BK;

    /* Software pipeline: the tile unit computes S of the next key block (into the other S
     * buffer) while the vector unit runs the softmax of this one; the tile instructions are
     * spread between softmax rows so both streams stay in the out-of-order window. */
    {
        const int64_t g0 = (p->sk < ATT_BK ? p->sk + 31 : ATT_BK + 31) / 32;
        for (int64_t g = 0; g < g0; g++) qk_group(qb, Dp, ds, kp + (2 * g * ds) * 512, sbuf + g * 32);
    }
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t k0 = b * ATT_BK;
        const int64_t kn = p->sk - k0 < ATT_BK ? p->sk - k0 : ATT_BK;   /* valid keys here */
        const int64_t kgroups = (kn + 31) / 32;
        float *sb = sbuf + (b & 1) * ATT_BQ * ATT_BK;
        float *sn = sbuf + ((b + 1) & 1) * ATT_BQ * ATT_BK;
        const int64_t k0n = k0 + ATT_BK;
        const int64_t gn = b + 1 < nblk ? ((p->sk - k0n < ATT_BK ? p->sk - k0n : ATT_BK) + 31) / 32 : 0;
        const int64_t every = gn ? (rows + gn - 1) / gn : 1;   /* softmax rows per next-block group */
        int64_t issued = 0;
        /* online softmax over this block, row by row (scores in the log2 domain) */
        const int64_t nvec = kgroups * 2;
        const int plain = !p->bias && !p->rel_bias && !p->key_mask && kn == kgroups * 32 && a->c > 0;
        int moved = 0;
        for (int64_t r = 0; r < rows; r++) {
            float *sr = sb + r * ATT_BK;
            uint16_t *pr = pb + r * ATT_BK;
            const int64_t i = i0 + r;
            float bmax, smax;
            alpha[r] = 1.0f;
            if (plain && mrow[r] != -INFINITY) {
                /* Lazy maximum: one pass against the running maximum m. P may exceed 1, which
                 * bf16 and the f32 sums hold without losing relative precision; only when this
                 * block's maximum is far above m (P near overflow) is the row redone below. */
                float sum = exp_row(sr, pr, nvec, cv, mrow[r], &smax);
                if (a->c * smax <= mrow[r] + ATT_LAZY_MAX) {
                    lrow[r] += sum;
                    goto next_row;
                }
                bmax = a->c * smax;
            } else if (plain) {
                /* max(c * s) = c * max(s) for c > 0: no need to scale every score first */
                __m512 mx0 = _mm512_load_ps(sr), mx1 = _mm512_load_ps(sr + 16);
                for (int64_t v = 2; v < nvec; v += 2) {
                    mx0 = _mm512_max_ps(mx0, _mm512_load_ps(sr + v * 16));
                    mx1 = _mm512_max_ps(mx1, _mm512_load_ps(sr + v * 16 + 16));
                }
                bmax = a->c * vm_hmax(_mm512_max_ps(mx0, mx1));
            } else {
                __m512 mx = ninf;
                for (int64_t v = 0; v < nvec; v++) {
                    const int64_t j = k0 + v * 16;
                    __mmask16 valid = vm_tail(p->sk - j);
                    if (p->key_mask) {
                        __m128i km = _mm_maskz_loadu_epi8(valid, p->key_mask + j);
                        valid &= _mm_test_epi8_mask(km, km);
                    }
                    __m512 x = _mm512_mul_ps(_mm512_load_ps(sr + v * 16), cv);
                    if (p->bias)
                        x = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(valid, p->bias + (h * p->sq + i) * p->sk + j), log2e, x);
                    if (p->rel_bias)
                        x = _mm512_fmadd_ps(
                            _mm512_maskz_loadu_ps(valid, p->rel_bias + h * (p->sq + p->sk - 1) + (j - i) + p->sq - 1),
                            log2e, x);
                    x = _mm512_mask_mov_ps(ninf, valid, x);
                    _mm512_store_ps(sr + v * 16, x);
                    mx = _mm512_max_ps(mx, x);
                }
                bmax = vm_hmax(mx);
            }
            {
                float mold = mrow[r], mnew = fmaxf(mold, bmax);
                float mref = mnew == -INFINITY ? 0.0f : mnew;       /* all masked so far: P = 0 */
                float al = mold == mnew ? 1.0f : mold == -INFINITY ? 0.0f : exp2f(mold - mnew);
                alpha[r] = al;
                moved |= al != 1.0f;
                mrow[r] = mnew;
                /* plain: p = 2^(c s - m) as one FMA; else the stored scores are already scaled */
                float sum = exp_row(sr, pr, nvec, plain ? cv : _mm512_set1_ps(1.0f), mref, &smax);
                lrow[r] = lrow[r] * al + sum;
            }
        next_row:
            if (issued < gn && (r + 1) % every == 0) {
                qk_group(qb, Dp, ds, kp + ((k0n / 16 + 2 * issued) * ds) * 512, sn + issued * 32);
                issued++;
            }
        }
        for (; issued < gn; issued++) qk_group(qb, Dp, ds, kp + ((k0n / 16 + 2 * issued) * ds) * 512, sn + issued * 32);
        for (int64_t r = rows; r < ATT_BQ; r++) memset(pb + r * ATT_BK, 0, ATT_BK * 2);
        if (kgroups * 32 < ATT_BK)       /* keys past the last group: P must be 0 there */
            for (int64_t r = 0; r < rows; r++) memset(pb + r * ATT_BK + kgroups * 32, 0, (size_t)(ATT_BK - kgroups * 32) * 2);
        if (moved) {
            for (int64_t r = 0; r < rows; r++) {
                if (alpha[r] == 1.0f) continue;
                __m512 al = _mm512_set1_ps(alpha[r]);
                float *orow = ob + r * Dp;
                for (int64_t d = 0; d < Dp; d += 16) _mm512_store_ps(orow + d, _mm512_mul_ps(_mm512_load_ps(orow + d), al));
            }
        }
        /* O += P V, 32 output dims at a time */
        for (int64_t e = 0; e < dg; e += 2) {
            float *o0 = ob + e * 16;
            _tile_loadd(0, o0, ostride);
            _tile_loadd(1, o0 + 16, ostride);
            _tile_loadd(2, o0 + 16 * Dp, ostride);
            _tile_loadd(3, o0 + 16 * Dp + 16, ostride);
            for (int64_t t = 0; t < kgroups; t++) {
                const uint16_t *vb = vp + ((k0 / 32 + t) * dg + e) * 512;
                _tile_loadd(4, pb + t * 32, pstride);
                _tile_loadd(5, pb + 16 * ATT_BK + t * 32, pstride);
                _tile_loadd(6, vb, 64);
                _tile_loadd(7, vb + 512, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(0, o0, ostride);
            _tile_stored(1, o0 + 16, ostride);
            _tile_stored(2, o0 + 16 * Dp, ostride);
            _tile_stored(3, o0 + 16 * Dp + 16, ostride);
        }
    }
    /* out = O / l */
    for (int64_t r = 0; r < rows; r++) {
        float inv = lrow[r] > 0.0f ? 1.0f / lrow[r] : 0.0f;
        __m512 iv = _mm512_set1_ps(inv);
        float *orow = p->out + (i0 + r) * a->os + h * D;
        for (int64_t d = 0; d < D; d += 16) {
            __mmask16 m = vm_tail(D - d);
            _mm512_mask_storeu_ps(orow + d, m, _mm512_mul_ps(_mm512_load_ps(ob + r * Dp + d), iv));
        }
    }
}

static void attend_task(void *ctx, int64_t t0, int64_t t1, int tid)
{
    att_ctx *a = ctx;
    (void)tid;
    const int64_t Dp = a->Dp;
    /* per-thread tiles: S (f32, two buffers), P (bf16), O (f32) */
    size_t need = 2 * (size_t)ATT_BQ * ATT_BK * 4 + (size_t)ATT_BQ * ATT_BK * 2 + (size_t)ATT_BQ * Dp * 4 + 256;
    unsigned char *buf = ops_scratch(2, need);
    if (!buf) {
        __atomic_store_n(&a->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    float *sb = (float *)buf;
    uint16_t *pb = (uint16_t *)((unsigned char *)sb + 2 * (size_t)ATT_BQ * ATT_BK * 4);
    float *ob = (float *)((unsigned char *)pb + (size_t)ATT_BQ * ATT_BK * 2);
    amx_tiles_configure();
    for (int64_t t = t0; t < t1; t++) {
        int64_t h = t / a->qblocks, qb_i = t % a->qblocks;
        attend_block(a, h, qb_i * ATT_BQ, sb, pb, ob);
    }
    _tile_release();
}

int amx_attention(const loom_attention_params *p, loom_error *err)
{
    att_ctx a;
    memset(&a, 0, sizeof a);
    a.p = p;
    a.D = p->head_dim;
    a.Dp = ops_round_up(a.D, 32);
    a.Skp = ops_round_up(p->sk, ATT_BK);
    int64_t HD = (int64_t)p->heads * a.D;
    a.qs = p->q_stride ? p->q_stride : HD;
    a.ks = p->k_stride ? p->k_stride : HD;
    a.vs = p->v_stride ? p->v_stride : HD;
    a.os = p->out_stride ? p->out_stride : HD;
    float scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)a.D);
    a.c = scale * 1.44269504088896341f;
    if (a.Dp > 4096)
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "attention: head_dim %lld above the AMX kernel's 4096", (long long)a.D);
    a.qblocks = (p->sq + ATT_BQ - 1) / ATT_BQ;
    size_t per = (size_t)a.Skp * (size_t)a.Dp * 2;
    size_t qbytes = (size_t)(a.qblocks * ATT_BQ) * (size_t)a.Dp * 2 * (size_t)p->heads;
    size_t bytes = 2 * per * (size_t)p->heads + qbytes;
    size_t mark = p->scratch ? loom_arena_mark(p->scratch) : 0;
    unsigned char *buf = p->scratch ? loom_arena_alloc(p->scratch, bytes) : ops_scratch(1, bytes);
    if (!buf) return loom_errorf(err, LOOM_ERR_NOMEM, "attention: cannot allocate %zu bytes for packed Q/K/V", bytes);
    a.kpack = (uint16_t *)buf;
    a.vpack = (uint16_t *)(buf + per * (size_t)p->heads);
    a.qpack = (uint16_t *)(buf + 2 * per * (size_t)p->heads);
    loom_parallel_for(a.Skp / 32, pack_kv_task, &a);
    loom_parallel_for(a.qblocks, pack_q_task, &a);
    if (!a.failed) loom_parallel_for(a.qblocks * p->heads, attend_task, &a);
    if (p->scratch) loom_arena_reset(p->scratch, mark);
    if (a.failed) return loom_errorf(err, LOOM_ERR_NOMEM, "attention: out of memory for per-thread buffers");
    return 0;
}
