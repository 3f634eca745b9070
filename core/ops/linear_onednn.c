/* linear_onednn.c: the oneDNN backend of loom_linear (bf16 matmul, AMX when present).
 *
 * The weight is reordered once into the blocked bf16 layout oneDNN's matmul asks for
 * (format "any"), and one primitive per distinct (M, ldy, accumulate) is created on first
 * use, kept in a small cache and run once right away to warm it up (a first call on a new
 * shape costs 5-50x a steady one). Activations are rounded to bf16 by loom before the
 * call; the output is f32. oneDNN parallelises with OpenMP, so it is always called from
 * outside loom's parallel regions with its thread count set to loom_threads_count().
 */
#include "ops_internal.h"
#include "loom/threads.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int) __attribute__((weak));

#define DNNL_PRIM_CACHE 8

typedef struct dnnl_entry {
    int64_t            M, ldy;
    int                accumulate;
    dnnl_primitive_t   prim;
    dnnl_memory_t      wmem;        /* weights in this primitive's layout (may alias the base) */
    int                own_wmem;
    dnnl_memory_desc_t src_md, dst_md;
} dnnl_entry;

typedef struct onednn_linear {
    dnnl_engine_t      eng;
    dnnl_stream_t      stream;
    int64_t            N, K;
    uint16_t          *wplain;      /* bf16 [N, K] (kept only until the first layout is known) */
    dnnl_memory_t      wbase;       /* packed weights */
    dnnl_memory_desc_t wbase_md;
    int                have_base;
    dnnl_entry         cache[DNNL_PRIM_CACHE];
    int                n_cache, next_evict;
} onednn_linear;

void onednn_linear_free(void *p)
{
    onednn_linear *s = p;
    if (!s) return;
    for (int i = 0; i < s->n_cache; i++) {
        dnnl_primitive_destroy(s->cache[i].prim);
        if (s->cache[i].own_wmem) dnnl_memory_destroy(s->cache[i].wmem);
    }
    if (s->wbase) dnnl_memory_destroy(s->wbase);
    if (s->stream) dnnl_stream_destroy(s->stream);
    if (s->eng) dnnl_engine_destroy(s->eng);
    free(s->wplain);
    free(s);
}

static void set_threads(void)
{
    if (omp_set_num_threads) omp_set_num_threads(loom_threads_count());
}

/* Reorder src memory (any layout) into a new memory of layout md. */
static dnnl_memory_t reorder_to(onednn_linear *s, dnnl_memory_t src, const dnnl_memory_desc_t *src_md,
                                const dnnl_memory_desc_t *md)
{
    dnnl_memory_t dst = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t r = NULL;
    if (dnnl_memory_create(&dst, md, s->eng, DNNL_MEMORY_ALLOCATE) != dnnl_success) return NULL;
    if (dnnl_reorder_primitive_desc_create(&rpd, src_md, s->eng, md, s->eng, NULL) != dnnl_success ||
        dnnl_primitive_create(&r, rpd) != dnnl_success) {
        if (rpd) dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(dst);
        return NULL;
    }
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    set_threads();
    dnnl_status_t st = dnnl_primitive_execute(r, s->stream, 2, args);
    dnnl_stream_wait(s->stream);
    dnnl_primitive_destroy(r);
    dnnl_primitive_desc_destroy(rpd);
    if (st != dnnl_success) { dnnl_memory_destroy(dst); return NULL; }
    return dst;
}

static dnnl_entry *get_entry(onednn_linear *s, int64_t M, int64_t ldy, int accumulate)
{
    for (int i = 0; i < s->n_cache; i++)
        if (s->cache[i].M == M && s->cache[i].ldy == ldy && s->cache[i].accumulate == accumulate) return &s->cache[i];
    dnnl_memory_desc_t src_md, w_md, dst_md;
    dnnl_dims_t sd = {M, s->K}, wd = {s->K, s->N}, dd = {M, s->N};
    dnnl_dims_t dstr = {ldy, 1};
    dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&w_md, 2, wd, dnnl_bf16, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_strides(&dst_md, 2, dd, dnnl_f32, dstr);
    dnnl_matmul_desc_t desc;
    if (dnnl_matmul_desc_init(&desc, &src_md, &w_md, NULL, &dst_md) != dnnl_success) return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_attr_create(&attr);
    if (accumulate) {
        dnnl_post_ops_create(&po);
        dnnl_post_ops_append_sum(po, 1.0f);
        dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &desc, attr, s->eng, NULL);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return NULL;
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_entry e = {M, ldy, accumulate, NULL, NULL, 0, src_md, dst_md};
    if (!s->have_base) {
        /* First shape: pack the plain bf16 weights ([K, N] viewed as strides {1, K}). */
        dnnl_memory_desc_t plain_md;
        dnnl_dims_t pstr = {1, s->K};
        dnnl_memory_desc_init_by_strides(&plain_md, 2, wd, dnnl_bf16, pstr);
        dnnl_memory_t plain = NULL;
        dnnl_memory_create(&plain, &plain_md, s->eng, s->wplain);
        s->wbase = plain ? reorder_to(s, plain, &plain_md, want) : NULL;
        if (plain) dnnl_memory_destroy(plain);
        if (!s->wbase) { dnnl_primitive_desc_destroy(pd); return NULL; }
        s->wbase_md = *want;
        s->have_base = 1;
        free(s->wplain);
        s->wplain = NULL;
    }
    if (dnnl_memory_desc_equal(&s->wbase_md, want)) {
        e.wmem = s->wbase;
    } else {
        e.wmem = reorder_to(s, s->wbase, &s->wbase_md, want);
        e.own_wmem = 1;
        if (!e.wmem) { dnnl_primitive_desc_destroy(pd); return NULL; }
    }
    st = dnnl_primitive_create(&e.prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        if (e.own_wmem) dnnl_memory_destroy(e.wmem);
        return NULL;
    }
    if (s->n_cache == DNNL_PRIM_CACHE) {
        dnnl_entry *old = &s->cache[s->next_evict];
        dnnl_primitive_destroy(old->prim);
        if (old->own_wmem) dnnl_memory_destroy(old->wmem);
        *old = e;
        s->next_evict = (s->next_evict + 1) % DNNL_PRIM_CACHE;
        return old;
    }
    s->cache[s->n_cache] = e;
    return &s->cache[s->n_cache++];
}

void *onednn_linear_new(const float *w, int64_t N, int64_t K, loom_error *err)
{
    onednn_linear *s = calloc(1, sizeof *s);
    if (!s) { loom_errorf(err, LOOM_ERR_NOMEM, "linear (onednn): out of memory"); return NULL; }
    s->N = N;
    s->K = K;
    s->wplain = malloc((size_t)N * (size_t)K * 2);
    if (!s->wplain || dnnl_engine_create(&s->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&s->stream, s->eng, dnnl_stream_default_flags) != dnnl_success) {
        onednn_linear_free(s);
        loom_errorf(err, LOOM_ERR_RUNTIME, "linear (onednn): cannot create the CPU engine");
        return NULL;
    }
    for (int64_t i = 0; i < N * K; i++) s->wplain[i] = loom_f32_to_bf16(w[i]);
    /* Pack for a typical DiT row count now, so forward() starts warm. */
    if (!get_entry(s, 1024, N, 0)) {
        onednn_linear_free(s);
        loom_errorf(err, LOOM_ERR_RUNTIME, "linear (onednn): cannot create a bf16 matmul for [%lld, %lld]",
                    (long long)N, (long long)K);
        return NULL;
    }
    return s;
}

int onednn_linear_forward(void *p, const float *x, int64_t M, int64_t ldx, float *y, int64_t ldy, int accumulate)
{
    onednn_linear *s = p;
    dnnl_entry *e = get_entry(s, M, ldy, accumulate);
    if (!e) return LOOM_ERR_RUNTIME;
    uint16_t *xb = ops_scratch(0, (size_t)M * (size_t)s->K * 2);
    if (!xb) return LOOM_ERR_NOMEM;
    for (int64_t m = 0; m < M; m++)
        for (int64_t k = 0; k < s->K; k++) xb[m * s->K + k] = loom_f32_to_bf16(x[m * ldx + k]);
    dnnl_memory_t src = NULL, dst = NULL;
    dnnl_memory_create(&src, &e->src_md, s->eng, xb);
    dnnl_memory_create(&dst, &e->dst_md, s->eng, y);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, e->wmem}, {DNNL_ARG_DST, dst}};
    set_threads();
    dnnl_status_t st = src && dst ? dnnl_primitive_execute(e->prim, s->stream, 3, args) : dnnl_runtime_error;
    dnnl_stream_wait(s->stream);
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    return st == dnnl_success ? 0 : LOOM_ERR_RUNTIME;
}
