/* rope.c: Wan's 3-D rotary embedding (spec 2.3): interleaved pairs, frequencies split
 * between the frame, height and width axes.
 *
 * The table holds cos and sin of every pair angle for every token of the (F, H, W) grid,
 * computed in double and stored as f32 ([tokens, d/2] each), so applying it is a pair of
 * multiply-adds per element. Pair p < d_t/2 rotates with the frame index, the next d_h/2
 * pairs with the row, the last d_w/2 pairs with the column; d_h = d_w = 2*(d/6) and
 * d_t = d - 2*d_h.
 */
#include "ops_internal.h"
#include "kern_avx512.h"
#include "loom/threads.h"

#include <math.h>
#include <stdlib.h>

struct loom_rope3d {
    int      head_dim;
    int64_t  F, H, W, tokens, half;
    float   *cs, *sn;      /* [tokens, half] */
};

loom_rope3d *loom_rope3d_new(int head_dim, int64_t F, int64_t H, int64_t W, double theta, loom_error *err)
{
    if (head_dim <= 0 || head_dim % 2 || F <= 0 || H <= 0 || W <= 0) {
        loom_errorf(err, LOOM_ERR_INVALID, "rope3d: head_dim %d must be even and grid %lldx%lldx%lld non-empty",
                    head_dim, (long long)F, (long long)H, (long long)W);
        return NULL;
    }
    loom_rope3d *r = calloc(1, sizeof *r);
    if (!r) { loom_errorf(err, LOOM_ERR_NOMEM, "rope3d: out of memory"); return NULL; }
    r->head_dim = head_dim;
    r->F = F; r->H = H; r->W = W;
    r->tokens = F * H * W;
    r->half = head_dim / 2;
    size_t n = (size_t)r->tokens * (size_t)r->half;
    r->cs = loom_aligned_alloc(n * sizeof(float));
    r->sn = loom_aligned_alloc(n * sizeof(float));
    double *inv = malloc((size_t)r->half * sizeof(double));
    int *axis = malloc((size_t)r->half * sizeof(int));
    if (!r->cs || !r->sn || !inv || !axis) {
        free(inv); free(axis);
        loom_rope3d_free(r);
        loom_errorf(err, LOOM_ERR_NOMEM, "rope3d: out of memory for %lld tokens", (long long)F * H * W);
        return NULL;
    }
    int dh = 2 * (head_dim / 6), dt = head_dim - 2 * dh;
    int pt = dt / 2, ph = dh / 2;
    for (int p = 0; p < r->half; p++) {
        int j, dim;
        if (p < pt) { j = p; dim = dt; axis[p] = 0; }
        else if (p < pt + ph) { j = p - pt; dim = dh; axis[p] = 1; }
        else { j = p - pt - ph; dim = dh; axis[p] = 2; }
        inv[p] = pow(theta, -2.0 * j / dim);
    }
    for (int64_t f = 0; f < F; f++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++) {
                int64_t tok = (f * H + h) * W + w;
                double pos[3] = {(double)f, (double)h, (double)w};
                for (int p = 0; p < r->half; p++) {
                    double a = pos[axis[p]] * inv[p];
                    r->cs[tok * r->half + p] = (float)cos(a);
                    r->sn[tok * r->half + p] = (float)sin(a);
                }
            }
    free(inv);
    free(axis);
    return r;
}

void loom_rope3d_free(loom_rope3d *r)
{
    if (!r) return;
    loom_aligned_free(r->cs);
    loom_aligned_free(r->sn);
    free(r);
}

int64_t loom_rope3d_tokens(const loom_rope3d *r) { return r->tokens; }

typedef struct rope_ctx {
    const loom_rope3d *r;
    float             *x;
    int64_t            tok0, stride;
    int                heads;
} rope_ctx;

static void rope_task(void *p, int64_t r0, int64_t r1, int tid)
{
    rope_ctx *c = p;
    (void)tid;
    const loom_rope3d *r = c->r;
#if defined(LOOM_X86_KERNELS)
    if (loom_cpu_features() & LOOM_CPU_AVX512) {
        k512_rope_rows(r->cs, r->sn, r->half, c->x, r0, r1, c->tok0, c->heads, c->stride);
        return;
    }
#endif
    for (int64_t i = r0; i < r1; i++) {
        const float *cr = r->cs + (c->tok0 + i) * r->half, *sr = r->sn + (c->tok0 + i) * r->half;
        float *xr = c->x + i * c->stride;
        for (int h = 0; h < c->heads; h++) {
            float *xh = xr + (int64_t)h * r->head_dim;
            for (int64_t q = 0; q < r->half; q++) {
                float a = xh[2 * q], b = xh[2 * q + 1];
                xh[2 * q] = a * cr[q] - b * sr[q];
                xh[2 * q + 1] = a * sr[q] + b * cr[q];
            }
        }
    }
}

int loom_rope3d_apply(const loom_rope3d *r, float *x, int64_t tok0, int64_t n, int heads, int64_t stride)
{
    if (n < 0 || tok0 < 0 || tok0 + n > r->tokens || heads <= 0) return LOOM_ERR_INVALID;
    if (n == 0) return 0;
    rope_ctx c = {r, x, tok0, stride ? stride : (int64_t)heads * r->head_dim, heads};
    int64_t per_row = (int64_t)heads * r->head_dim;
    int64_t grain = (16384 + per_row - 1) / per_row;
    if (n <= grain) rope_task(&c, 0, n, 0);
    else loom_parallel_for_grain(n, grain, rope_task, &c);
    return 0;
}
