/* gemm_f32.c: loom_gemm_f32, activations x activations in f32 through OpenBLAS.
 *
 * The product is split over loom's pool by rows of C (or by columns when C has few
 * rows), and each part is one single-threaded cblas_sgemm call: one level of threads.
 */
#include "ops_internal.h"
#include "loom/threads.h"


typedef struct gemm_ctx {
    int          ta, tb;
    int64_t      M, N, K, lda, ldb, ldc;
    float        alpha, beta;
    const float *A, *B;
    float       *C;
    int          by_rows;
} gemm_ctx;

static void gemm_task(void *p, int64_t s, int64_t e, int tid)
{
    gemm_ctx *g = p;
    (void)tid;
    const float *A = g->A, *B = g->B;
    float *C = g->C;
    int64_t M = g->M, N = g->N;
    if (g->by_rows) {
        A += g->ta ? s : s * g->lda;
        C += s * g->ldc;
        M = e - s;
    } else {
        B += g->tb ? s * g->ldb : s;
        C += s;
        N = e - s;
    }
    ops_sgemm(g->ta, g->tb, M, N, g->K, g->alpha, A, g->lda, B, g->ldb, g->beta, C, g->ldc);
}

void loom_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                   int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    gemm_ctx g = {trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta, A, B, C, 0};
    int T = loom_threads_count();
    double flops = 2.0 * (double)M * (double)N * (double)K;
    if (T <= 1 || flops < 4e6) {
        g.by_rows = 1;
        gemm_task(&g, 0, M, 0);
        return;
    }
    g.by_rows = M >= N || M >= 64 * T;
    if (g.by_rows) {
        g.by_rows = 1;
        loom_parallel_for_grain(M, 16, gemm_task, &g);
    } else {
        loom_parallel_for_grain(N, 64, gemm_task, &g);
    }
}
