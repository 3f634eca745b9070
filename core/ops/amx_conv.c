/* amx_conv.c: 3-D / 2-D convolution as an implicit GEMM on AMX tiles.
 *
 * The input is converted once to a zero-padded, channels-last bf16 copy
 * xcl[Tp][Hp][Wp][Ip] (Ip = channels rounded up to 32). For an output row (to, ho) and a
 * kernel offset (dt, dh, dw), the 32 consecutive output positions wo0..wo0+31 then read
 * 32 rows of xcl that are sw*Ip elements apart: exactly an A operand of the tile kernel,
 * with no im2col buffer. The K loop of one 32x32 output block runs over every offset and
 * every 32-channel step (kt*kh*kw*Ip/32 steps) with the accumulators in tiles; weights are
 * packed [O][offset][Ip] so their B tiles follow the same order. Work is split over
 * 32-channel output blocks (each thread keeps its weights in L2) or, for narrow outputs,
 * over output rows; the epilogue transposes the 32x32 block into the channel-first y.
 */
#include "ops_internal.h"
#include "loom/threads.h"
#include "vecmath.h"
#include "amx_tiles.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>


int amx_conv_pack(amx_weights *w, loom_dtype dt, const void *src, const conv_geom *g, loom_error *err)
{
    const int64_t offs = g->kt * g->kh * g->kw, Ip = ops_round_up(g->I, 32), K = offs * Ip;
    float *tmp = malloc(sizeof(float) * (size_t)(g->O * K));
    float *row = malloc(sizeof(float) * (size_t)(g->I * offs));
    if (!tmp || !row) {
        free(tmp); free(row);
        return loom_errorf(err, LOOM_ERR_NOMEM, "conv: out of memory packing weights");
    }
    const size_t es = loom_dtype_size(dt);
    for (int64_t o = 0; o < g->O; o++) {
        loom_convert_to_f32(dt, (const char *)src + (size_t)(o * g->I * offs) * es, row, g->I * offs);
        float *t = tmp + o * K;
        for (int64_t off = 0; off < offs; off++)
            for (int64_t c = 0; c < Ip; c++) t[off * Ip + c] = c < g->I ? row[c * offs + off] : 0.0f;
    }
    free(row);
    int rc = amx_weights_pack(w, LOOM_F32, tmp, g->O, K, K, err);
    free(tmp);
    return rc;
}

typedef struct conv_ctx {
    const amx_weights *w;
    const conv_geom   *g;
    const float       *x, *bias;
    float             *y;
    uint16_t          *xcl;
    int64_t            Ip, P;
    loom_act           act;
    int                split_n;
} conv_ctx;

/* x [I][T][H][W] f32 -> xcl rows (tp, hp) of [Wp][Ip] bf16, zero outside the input. */
static void to_cl_task(void *p, int64_t r0, int64_t r1, int tid)
{
    conv_ctx *c = p;
    const conv_geom *g = c->g;
    (void)tid;
    const int64_t Ip = c->Ip, HW = g->H * g->W, THW = g->T * HW;
    for (int64_t r = r0; r < r1; r++) {
        int64_t tp = r / g->Hp, hp = r % g->Hp;
        int64_t t = tp - g->pf, h = hp - g->ptop;
        uint16_t *dst = c->xcl + r * g->Wp * Ip;
        if (t < 0 || t >= g->T || h < 0 || h >= g->H) {
            memset(dst, 0, sizeof(uint16_t) * (size_t)(g->Wp * Ip));
            continue;
        }
        memset(dst, 0, sizeof(uint16_t) * (size_t)(g->pl * Ip));
        memset(dst + (g->pl + g->W) * Ip, 0, sizeof(uint16_t) * (size_t)(g->pr * Ip));
        const float *src = c->x + t * HW + h * g->W;
        /* 16 channels x 16 positions at a time: gather along channels with a stride */
        for (int64_t w0 = 0; w0 < g->W; w0 += 16) {
            int64_t nw = g->W - w0 < 16 ? g->W - w0 : 16;
            for (int64_t c0 = 0; c0 < Ip; c0 += 16) {
                _Alignas(64) float blk[16][16];
                for (int64_t ci = 0; ci < 16; ci++) {
                    int64_t ch = c0 + ci;
                    __m512 v = ch < g->I ? _mm512_maskz_loadu_ps(vm_tail(nw), src + ch * THW + w0) : _mm512_setzero_ps();
                    _mm512_store_ps(blk[ci], v);
                }
                for (int64_t wi = 0; wi < nw; wi++) {
                    __m512i idx = _mm512_set_epi32(15 * 16, 14 * 16, 13 * 16, 12 * 16, 11 * 16, 10 * 16, 9 * 16, 8 * 16,
                                                   7 * 16, 6 * 16, 5 * 16, 4 * 16, 3 * 16, 2 * 16, 16, 0);
                    __m512 col = _mm512_i32gather_ps(idx, &blk[0][wi], 4);
                    vm_store_bf16x16(dst + (g->pl + w0 + wi) * Ip + c0, col, 0xffff);
                }
            }
        }
    }
}

static void conv_block_out(const conv_ctx *c, const float *tmp, int64_t p0, int rows, int64_t n0, int cols)
{
    /* tmp[r][n] -> y[(n0 + n) * P + p0 + r], with bias and activation */
    for (int n = 0; n < cols; n++) {
        float b = c->bias ? c->bias[n0 + n] : 0.0f;
        float *yc = c->y + (n0 + n) * c->P + p0;
        for (int r0 = 0; r0 < rows; r0 += 16) {
            __m512i idx = _mm512_set_epi32(15 * 32, 14 * 32, 13 * 32, 12 * 32, 11 * 32, 10 * 32, 9 * 32, 8 * 32, 7 * 32,
                                           6 * 32, 5 * 32, 4 * 32, 3 * 32, 2 * 32, 32, 0);
            __mmask16 m = vm_tail(rows - r0);
            __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, tmp + r0 * 32 + n, 4);
            v = _mm512_add_ps(v, _mm512_set1_ps(b));
            if (c->act == LOOM_ACT_SILU) v = vm_silu(v);
            else if (c->act == LOOM_ACT_GELU_TANH) v = vm_gelu_tanh(v);
            _mm512_mask_storeu_ps(yc + r0, m, v);
        }
    }
}

/* All output positions of rows [row0, row1) (row = to*Ho + ho) for channel blocks [nb0, nb1). */
static void conv_rows(const conv_ctx *c, int64_t row0, int64_t row1, int64_t nb0, int64_t nb1)
{
    const conv_geom *g = c->g;
    const amx_weights *w = c->w;
    const int64_t Ip = c->Ip, cs = Ip / 32, ks = w->Kp / 32;
    const size_t lda = (size_t)(g->sw * Ip) * 2;
    _Alignas(64) float tmp[32 * 32];
    for (int64_t nb = nb0; nb < nb1; nb++) {
        const uint16_t *wb = w->data + nb * ks * 1024;
        int cols = (int)(g->O - nb * 32 < 32 ? g->O - nb * 32 : 32);
        for (int64_t row = row0; row < row1; row++) {
            int64_t to = row / g->Ho, ho = row % g->Ho;
            for (int64_t wo0 = 0; wo0 < g->Wo; wo0 += 32) {
                int rows = (int)(g->Wo - wo0 < 32 ? g->Wo - wo0 : 32);
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                int64_t s = 0;
                for (int64_t dt = 0; dt < g->kt; dt++)
                    for (int64_t dh = 0; dh < g->kh; dh++)
                        for (int64_t dw = 0; dw < g->kw; dw++) {
                            const uint16_t *a = c->xcl + (((to * g->st + dt) * g->Hp + ho * g->sh + dh) * g->Wp +
                                                          wo0 * g->sw + dw) * Ip;
                            const uint16_t *a1 = a + 16 * g->sw * Ip;
                            for (int64_t k = 0; k < cs; k++, s++) {
                                _tile_loadd(4, a + k * 32, lda);
                                _tile_loadd(6, wb + s * 1024, 64);
                                _tile_loadd(7, wb + s * 1024 + 512, 64);
                                _tile_loadd(5, a1 + k * 32, lda);
                                _tile_dpbf16ps(0, 4, 6);
                                _tile_dpbf16ps(1, 4, 7);
                                _tile_dpbf16ps(2, 5, 6);
                                _tile_dpbf16ps(3, 5, 7);
                            }
                        }
                _tile_stored(0, tmp, 128);
                _tile_stored(1, tmp + 16, 128);
                _tile_stored(2, tmp + 512, 128);
                _tile_stored(3, tmp + 528, 128);
                conv_block_out(c, tmp, (to * g->Ho + ho) * g->Wo + wo0, rows, nb * 32, cols);
            }
        }
    }
}

static void conv_task(void *p, int64_t b, int64_t e, int tid)
{
    conv_ctx *c = p;
    (void)tid;
    amx_tiles_configure();
    int64_t rows = c->g->To * c->g->Ho, nbs = c->w->Np / 32;
    if (c->split_n) conv_rows(c, 0, rows, b, e);
    else conv_rows(c, b, e, 0, nbs);
    _tile_release();
}

int amx_conv_forward(const amx_weights *w, const conv_geom *g, const float *x, const float *bias, float *y,
                     loom_act act, loom_error *err)
{
    conv_ctx c;
    memset(&c, 0, sizeof c);
    c.w = w; c.g = g; c.x = x; c.bias = bias; c.y = y; c.act = act;
    c.Ip = ops_round_up(g->I, 32);
    c.P = g->To * g->Ho * g->Wo;
    /* slack: a 32-row block may read up to 32*sw rows past the end of the last image row */
    size_t elems = (size_t)(g->Tp * g->Hp * g->Wp + 32 * g->sw + g->kw) * (size_t)c.Ip;
    c.xcl = ops_scratch(1, elems * 2);
    if (!c.xcl) return loom_errorf(err, LOOM_ERR_NOMEM, "conv: cannot allocate %zu bytes for the input copy", elems * 2);
    memset(c.xcl + (size_t)(g->Tp * g->Hp * g->Wp) * (size_t)c.Ip, 0,
           (elems - (size_t)(g->Tp * g->Hp * g->Wp) * (size_t)c.Ip) * 2);
    loom_parallel_for(g->Tp * g->Hp, to_cl_task, &c);
    int T = loom_threads_count();
    int64_t nbs = w->Np / 32, rows = g->To * g->Ho;
    c.split_n = nbs >= 2 * T || nbs >= rows;
    loom_parallel_for(c.split_n ? nbs : rows, conv_task, &c);
    return 0;
}
