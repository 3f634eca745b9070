/* blas.c: OpenBLAS, loaded at run time, with a portable fallback.
 *
 * OpenBLAS picks its kernels from the CPU model it detects when it is loaded. Under some
 * hypervisors (this project's Sapphire Rapids VMs among them) the model is masked and it
 * falls back to its "Prescott" SSE3 kernels, 5x slower than its AVX-512 ones. So loom
 * does not link OpenBLAS; the first f32 product sets OPENBLAS_CORETYPE from the features
 * loom detected itself (unless the user set it) and then dlopen()s the library. If the
 * process already holds OpenBLAS, or it is not installed, that copy or the portable loops
 * below are used instead.
 */
#define _GNU_SOURCE
#include "ops_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);
typedef void (*set_threads_fn)(int);
typedef char *(*corename_fn)(void);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static sgemm_fn        blas_sgemm;
static set_threads_fn  blas_set_threads;
static corename_fn     blas_corename;

static void blas_load(void)
{
    unsigned f = loom_cpu_features();
    if (!getenv("OPENBLAS_CORETYPE")) {
        if (f & LOOM_CPU_AVX512) setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
        else if (f & LOOM_CPU_AVX2) setenv("OPENBLAS_CORETYPE", "Haswell", 0);
    }
    const char *names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *h = NULL;
    for (int i = 0; i < 2 && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    blas_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    blas_set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
    blas_corename = (corename_fn)dlsym(h, "openblas_get_corename");
    /* One level of threads: loom's pool splits the work, OpenBLAS runs single-threaded. */
    if (blas_set_threads) blas_set_threads(1);
}

int ops_have_blas(void)
{
    pthread_once(&blas_once, blas_load);
    return blas_sgemm != NULL;
}

const char *ops_blas_name(void)
{
    pthread_once(&blas_once, blas_load);
    if (!blas_sgemm) return "none (portable loops)";
    return blas_corename ? blas_corename() : "OpenBLAS";
}

/* Portable row-major sgemm: C = alpha op(A) op(B) + beta C, i-k-j order over 64-wide
 * column strips so the inner loop vectorises. */
static void sgemm_portable(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                           const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    float acc[64];
    for (int64_t j0 = 0; j0 < N; j0 += 64) {
        int64_t nj = N - j0 < 64 ? N - j0 : 64;
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < nj; j++) acc[j] = 0;
            for (int64_t k = 0; k < K; k++) {
                float a = ta ? A[k * lda + i] : A[i * lda + k];
                if (tb) for (int64_t j = 0; j < nj; j++) acc[j] += a * B[(j0 + j) * ldb + k];
                else for (int64_t j = 0; j < nj; j++) acc[j] += a * B[k * ldb + j0 + j];
            }
            float *c = C + i * ldc + j0;
            for (int64_t j = 0; j < nj; j++) c[j] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * c[j]);
        }
    }
}

void ops_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
               const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (ops_have_blas() && M < INT32_MAX && N < INT32_MAX && K < INT32_MAX && K > 0) {
        blas_sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)M,
                   (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
    sgemm_portable(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
