/* linear.c: loom_linear, y = x.W^T + b with the weights prepared once per backend.
 *
 * At creation the weight is converted once into the layout its backend wants: AMX tile
 * packing (bf16, VNNI pairs), oneDNN's blocked bf16 layout, or a plain f32 copy for
 * OpenBLAS and the reference loops. forward() then only converts the activations. Work is
 * split over loom's pool by 32-column blocks of the output when there are enough of them
 * (each thread then streams only its own share of the weights) and by rows otherwise;
 * libraries are always called single-threaded inside the pool (loom/threads.h).
 */
#include "ops_internal.h"
#include "loom/threads.h"

#include <stdlib.h>
#include <string.h>

#if defined(LOOM_HAVE_DNNL)
void *onednn_linear_new(const float *w, int64_t N, int64_t K, loom_error *err);
int   onednn_linear_forward(void *st, const float *x, int64_t M, int64_t ldx, float *y, int64_t ldy, int accumulate);
void  onednn_linear_free(void *st);
#endif

/* Products smaller than this (about 10-40 us of work) run on the calling thread. */
#define LINEAR_SERIAL_FLOPS 8e6

struct loom_linear {
    int64_t        N, K;
    loom_backend   backend;
    loom_precision precision;   /* resolved: F32 or BF16 */
    float         *bias;        /* [N] or NULL */
    amx_weights    amx;         /* AMX */
    float         *w32;         /* OpenBLAS / ref: [N, K] f32 (bf16-rounded for emulated BF16) */
    void          *dnnl;        /* oneDNN state */
};

int64_t      loom_linear_in(const loom_linear *l) { return l->K; }
int64_t      loom_linear_out(const loom_linear *l) { return l->N; }
loom_backend loom_linear_backend(const loom_linear *l) { return l->backend; }

void loom_linear_free(loom_linear *l)
{
    if (!l) return;
    if (l->amx.data) amx_weights_free(&l->amx);
#if defined(LOOM_HAVE_DNNL)
    if (l->dnnl) onednn_linear_free(l->dnnl);
#endif
    loom_aligned_free(l->w32);
    free(l->bias);
    free(l);
}

static loom_linear *linear_create(loom_dtype dt, const void *w, int64_t N, int64_t K, const float *bias,
                                  const loom_linear_opts *opts, loom_error *err)
{
    if (N <= 0 || K <= 0) {
        loom_errorf(err, LOOM_ERR_INVALID, "linear: weight shape [%lld, %lld] is empty", (long long)N, (long long)K);
        return NULL;
    }
    loom_linear *l = calloc(1, sizeof *l);
    if (!l) { loom_errorf(err, LOOM_ERR_NOMEM, "linear: out of memory"); return NULL; }
    l->N = N;
    l->K = K;
    loom_backend want = opts && opts->backend != LOOM_BACKEND_AUTO ? opts->backend : loom_ops_backend();
    loom_precision prec = opts ? opts->precision : LOOM_PREC_AUTO;
    l->backend = ops_resolve_backend(want);
    if (prec == LOOM_PREC_F32 && (l->backend == LOOM_BACKEND_AMX || l->backend == LOOM_BACKEND_ONEDNN))
        l->backend = LOOM_BACKEND_OPENBLAS;
    if (prec == LOOM_PREC_AUTO)
        prec = (l->backend == LOOM_BACKEND_AMX || l->backend == LOOM_BACKEND_ONEDNN) ? LOOM_PREC_BF16 : LOOM_PREC_F32;
    l->precision = prec;
    if (bias) {
        l->bias = malloc((size_t)N * sizeof(float));
        if (!l->bias) goto oom;
        memcpy(l->bias, bias, (size_t)N * sizeof(float));
    }
    if (l->backend == LOOM_BACKEND_AMX) {
        if (amx_weights_pack(&l->amx, dt, w, N, K, K, err)) { loom_linear_free(l); return NULL; }
        return l;
    }
    l->w32 = loom_aligned_alloc((size_t)N * (size_t)K * sizeof(float));
    if (!l->w32) goto oom;
    loom_convert_to_f32(dt, w, l->w32, N * K);
    if (prec == LOOM_PREC_BF16)
        for (int64_t i = 0; i < N * K; i++) l->w32[i] = loom_bf16_to_f32(loom_f32_to_bf16(l->w32[i]));
#if defined(LOOM_HAVE_DNNL)
    if (l->backend == LOOM_BACKEND_ONEDNN) {
        l->dnnl = onednn_linear_new(l->w32, N, K, err);
        loom_aligned_free(l->w32);
        l->w32 = NULL;
        if (!l->dnnl) { loom_linear_free(l); return NULL; }
    }
#endif
    return l;
oom:
    loom_errorf(err, LOOM_ERR_NOMEM, "linear: out of memory for a [%lld, %lld] weight", (long long)N, (long long)K);
    loom_linear_free(l);
    return NULL;
}

loom_linear *loom_linear_new_ex(const loom_tensor *weight, const loom_tensor *bias, const loom_linear_opts *opts,
                                loom_error *err)
{
    char d[128];
    if (!weight || weight->ndim != 2 || !loom_dtype_is_float(weight->dtype)) {
        loom_errorf(err, LOOM_ERR_INVALID, "linear: weight must be a 2-D float tensor [N, K], got %s",
                    weight ? loom_tensor_describe(weight, d, sizeof d) : "NULL");
        return NULL;
    }
    int64_t N = weight->shape[0], K = weight->shape[1];
    float *b = NULL;
    if (bias) {
        if (loom_tensor_numel(bias) != N || !loom_dtype_is_float(bias->dtype)) {
            loom_errorf(err, LOOM_ERR_INVALID, "linear: bias %s does not match %lld outputs",
                        loom_tensor_describe(bias, d, sizeof d), (long long)N);
            return NULL;
        }
        b = malloc((size_t)N * sizeof(float));
        if (!b) { loom_errorf(err, LOOM_ERR_NOMEM, "linear: out of memory"); return NULL; }
        loom_convert_to_f32(bias->dtype, bias->data, b, N);
    }
    loom_linear *l = linear_create(weight->dtype, weight->data, N, K, b, opts, err);
    free(b);
    return l;
}

loom_linear *loom_linear_new(const loom_tensor *weight, const loom_tensor *bias, loom_error *err)
{
    return loom_linear_new_ex(weight, bias, NULL, err);
}

loom_linear *loom_linear_new_f32(const float *w, const float *b, int64_t N, int64_t K, const loom_linear_opts *opts,
                                 loom_error *err)
{
    return linear_create(LOOM_F32, w, N, K, b, opts, err);
}

/* ---- forward ------------------------------------------------------------------------ */

typedef struct fwd_ctx {
    loom_linear *l;
    const float *x;
    int64_t      M, ldx, ldy;
    float       *y;
    const float *xin;           /* x as the library sees it (bf16-rounded copy or x) */
    int64_t      ldxin;
    loom_act     act;
    int          accumulate;
    int          split_n;       /* 1: ranges are 32-column blocks; 0: 32-row blocks */
} fwd_ctx;

/* Whether to split a product over 32-column blocks (else 32-row blocks). */
static int split_by_columns(int64_t N, int64_t M)
{
    int64_t nblocks = (N + 31) / 32, mblocks = (M + 31) / 32;
    return nblocks >= 2 * loom_threads_count() || nblocks >= mblocks;
}

/* Below this many flops, waking the pool costs more than it saves (on a busy machine
 * a sleeping worker can take a millisecond to be scheduled). */
static int run_serial(int64_t M, int64_t N, int64_t K)
{
    return 2.0 * (double)M * (double)N * (double)K < LINEAR_SERIAL_FLOPS;
}

/* ---- AMX: pack the input rows once, then one parallel pass over output blocks -------- */

typedef struct amx_pack_ctx {
    const float *x;
    int64_t      M, K, ldx, Kp;
    uint16_t    *a;
} amx_pack_ctx;

static void amx_pack_task(void *p, int64_t b, int64_t e, int tid)
{
    amx_pack_ctx *c = p;
    (void)tid;
    amx_pack_rows(c->x, b, e, c->M, c->K, c->ldx, c->a, c->Kp);
}

/* x [M, K] into the bf16 tile layout (thread 0's scratch slot 0); NULL when out of memory. */
static uint16_t *amx_pack_input(const loom_linear *l, const float *x, int64_t M, int64_t ldx, int serial)
{
    const int64_t Mp = ops_round_up(M, 32);
    amx_pack_ctx c = {x, M, l->K, ldx, l->amx.Kp, ops_scratch(0, (size_t)Mp * (size_t)l->amx.Kp * 2)};
    if (!c.a) return NULL;
    if (serial) amx_pack_task(&c, 0, Mp, 0);
    else loom_parallel_for_grain(Mp, 32, amx_pack_task, &c);
    return c.a;
}

typedef struct amx_ctx {
    const loom_linear *l;
    const uint16_t    *a;
    int64_t            M;
    amx_out            out;
    int                split_n;
} amx_ctx;

static void amx_task(void *p, int64_t b, int64_t e, int tid)
{
    amx_ctx *c = p;
    (void)tid;
    const loom_linear *l = c->l;
    if (c->split_n) {
        int64_t n1 = e * 32 < l->N ? e * 32 : l->N;
        amx_gemm_block(&l->amx, c->a, 0, c->M, b * 32, n1, &c->out);
    } else {
        int64_t m1 = e * 32 < c->M ? e * 32 : c->M;
        amx_gemm_block(&l->amx, c->a, b * 32, m1, 0, l->N, &c->out);
    }
}

static void amx_run(const loom_linear *l, const uint16_t *a, int64_t M, const amx_out *out, int serial)
{
    amx_ctx c = {l, a, M, *out, split_by_columns(l->N, M)};
    c.out.bias = l->bias;
    int64_t n = c.split_n ? (l->N + 31) / 32 : (M + 31) / 32;
    if (serial) amx_task(&c, 0, n, 0);
    else loom_parallel_for(n, amx_task, &c);
}

/* ---- the library backends ------------------------------------------------------------ */

/* bias, activation (and the accumulate add when it had to be deferred) on a block */
static void finish_block(const loom_linear *l, float *y, int64_t ldy, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                         loom_act act)
{
    for (int64_t m = m0; m < m1; m++) {
        float *yr = y + m * ldy;
        if (l->bias)
            for (int64_t n = n0; n < n1; n++) yr[n] += l->bias[n];
        if (act != LOOM_ACT_NONE) ops_apply_act(yr + n0, n1 - n0, act);
    }
}

static void blas_task(void *p, int64_t b, int64_t e, int tid)
{
    fwd_ctx *c = p;
    (void)tid;
    const loom_linear *l = c->l;
    int64_t m0 = 0, m1 = c->M, n0 = 0, n1 = l->N;
    if (c->split_n) { n0 = b * 32; n1 = e * 32 < l->N ? e * 32 : l->N; }
    else { m0 = b * 32; m1 = e * 32 < c->M ? e * 32 : c->M; }
    if (m1 <= m0 || n1 <= n0) return;
    float beta = c->accumulate ? 1.0f : 0.0f;
    if (l->backend == LOOM_BACKEND_REF) {
        for (int64_t m = m0; m < m1; m++)
            for (int64_t n = n0; n < n1; n++) {
                const float *xr = c->xin + m * c->ldxin, *wr = l->w32 + n * l->K;
                float s = 0;
                for (int64_t k = 0; k < l->K; k++) s += xr[k] * wr[k];
                c->y[m * c->ldy + n] = c->accumulate ? s + c->y[m * c->ldy + n] : s;
            }
    } else {
        ops_sgemm(0, 1, m1 - m0, n1 - n0, l->K, 1.0f, c->xin + m0 * c->ldxin, c->ldxin, l->w32 + n0 * l->K, l->K,
                  beta, c->y + m0 * c->ldy + n0, c->ldy);
    }
    finish_block(l, c->y, c->ldy, m0, m1, n0, n1, c->act);
}

static void round_rows_task(void *p, int64_t b, int64_t e, int tid)
{
    fwd_ctx *c = p;
    (void)tid;
    for (int64_t m = b; m < e; m++)
        for (int64_t k = 0; k < c->l->K; k++)
            ((float *)c->xin)[m * c->ldxin + k] = loom_bf16_to_f32(loom_f32_to_bf16(c->x[m * c->ldx + k]));
}

int loom_linear_forward_ex(loom_linear *l, const float *x, int64_t M, int64_t ldx, float *y, int64_t ldy,
                           loom_act act, unsigned flags)
{
    if (M <= 0) return 0;
    if (ldx == 0) ldx = l->K;
    if (ldy == 0) ldy = l->N;
    int accumulate = (flags & LOOM_LINEAR_ACCUMULATE) != 0;
    if (accumulate && act != LOOM_ACT_NONE) {
        /* y += act(x.W^T + b): compute the product apart, then add. */
        float *t = ops_scratch(3, (size_t)M * (size_t)l->N * sizeof(float));
        if (!t) return LOOM_ERR_NOMEM;
        int rc = loom_linear_forward_ex(l, x, M, ldx, t, l->N, act, 0);
        if (rc) return rc;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < l->N; n++) y[m * ldy + n] += t[m * l->N + n];
        return 0;
    }
    const int serial = run_serial(M, l->N, l->K);
    if (l->backend == LOOM_BACKEND_AMX) {
        const uint16_t *a = amx_pack_input(l, x, M, ldx, serial);
        if (!a) return LOOM_ERR_NOMEM;
        amx_out out = {.y = y, .ldy = ldy, .act = act, .accumulate = accumulate};
        amx_run(l, a, M, &out, serial);
        return 0;
    }
#if defined(LOOM_HAVE_DNNL)
    if (l->backend == LOOM_BACKEND_ONEDNN) {
        int rc = onednn_linear_forward(l->dnnl, x, M, ldx, y, ldy, accumulate);
        if (rc == 0 && (l->bias || act != LOOM_ACT_NONE)) finish_block(l, y, ldy, 0, M, 0, l->N, act);
        return rc;
    }
#endif
    fwd_ctx c = {l, x, M, ldx, ldy, y, x, ldx, act, accumulate, split_by_columns(l->N, M)};
    int64_t nblocks = (l->N + 31) / 32, mblocks = (M + 31) / 32;
    if (l->precision == LOOM_PREC_BF16) {
        float *xr = ops_scratch(0, (size_t)M * (size_t)l->K * sizeof(float));
        if (!xr) return LOOM_ERR_NOMEM;
        c.xin = xr;
        c.ldxin = l->K;
        if (serial) round_rows_task(&c, 0, M, 0);
        else loom_parallel_for(M, round_rows_task, &c);
    }
    if (serial) blas_task(&c, 0, c.split_n ? nblocks : mblocks, 0);
    else loom_parallel_for(c.split_n ? nblocks : mblocks, blas_task, &c);
    return 0;
}

int loom_linear_forward(loom_linear *l, const float *x, int64_t M, float *y)
{
    return loom_linear_forward_ex(l, x, M, 0, y, 0, LOOM_ACT_NONE, 0);
}

int loom_linear_forward_group(loom_linear *const *ls, int n, const float *x, int64_t M, int64_t ldx,
                              float *const *ys)
{
    if (n <= 0 || M <= 0) return 0;
    if (ldx == 0) ldx = ls[0]->K;
    int all_amx = 1;
    for (int i = 0; i < n; i++) {
        if (ls[i]->K != ls[0]->K) return LOOM_ERR_INVALID;
        all_amx &= ls[i]->backend == LOOM_BACKEND_AMX;
    }
    if (!all_amx) {
        for (int i = 0; i < n; i++) {
            int rc = loom_linear_forward_ex(ls[i], x, M, ldx, ys[i], 0, LOOM_ACT_NONE, 0);
            if (rc) return rc;
        }
        return 0;
    }
    /* same K, so the same packed input serves every product */
    const uint16_t *a = amx_pack_input(ls[0], x, M, ldx, run_serial(M, ls[0]->N, ls[0]->K));
    if (!a) return LOOM_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        amx_out out = {.y = ys[i], .ldy = ls[i]->N};
        amx_run(ls[i], a, M, &out, run_serial(M, ls[i]->N, ls[i]->K));
    }
    return 0;
}

int loom_linear_forward_pair(loom_linear *l1, loom_act act, loom_linear *l2, const float *x, int64_t M, int64_t ldx,
                             float *y, int64_t ldy, unsigned flags)
{
    if (l2->K != l1->N) return LOOM_ERR_INVALID;
    if (M <= 0) return 0;
    if (ldx == 0) ldx = l1->K;
    if (l1->backend != LOOM_BACKEND_AMX || l2->backend != LOOM_BACKEND_AMX || amx_gemm_k_blocks(&l1->amx) != 1) {
        float *h = ops_scratch(1, (size_t)M * (size_t)l1->N * sizeof(float));
        if (!h) return LOOM_ERR_NOMEM;
        int rc = loom_linear_forward_ex(l1, x, M, ldx, h, l1->N, act, 0);
        return rc ? rc : loom_linear_forward_ex(l2, h, M, l1->N, y, ldy, LOOM_ACT_NONE, flags);
    }
    /* the hidden rows go straight from the first product's tiles into the second's input
     * layout (l2's Kp is l1's Np), so they are never written or read as f32 */
    const int64_t Mp = ops_round_up(M, 32);
    const int serial1 = run_serial(M, l1->N, l1->K);
    uint16_t *h = ops_scratch(1, (size_t)Mp * (size_t)l1->amx.Np * 2);
    const uint16_t *a = h ? amx_pack_input(l1, x, M, ldx, serial1) : NULL;
    if (!a) return LOOM_ERR_NOMEM;
    amx_out hidden = {.packed = h, .packed_ks = l1->amx.Np / 32, .act = act};
    amx_run(l1, a, M, &hidden, serial1);
    amx_out out = {.y = y, .ldy = ldy ? ldy : l2->N, .accumulate = (flags & LOOM_LINEAR_ACCUMULATE) != 0};
    amx_run(l2, h, M, &out, run_serial(M, l2->N, l2->K));
    return 0;
}
