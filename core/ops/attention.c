/* attention.c: loom_attention, argument checks, dispatch, and the portable f32 kernel.
 *
 * The portable kernel is the same flash algorithm as the AMX one in f32: per head and
 * block of REF_BQ query rows it walks keys in blocks of REF_BK, computes the score block
 * with one sgemm (OpenBLAS when present, single-threaded inside loom's pool), updates the
 * running max / sum / output with an online softmax, and adds P V with a second sgemm.
 * Only REF_BQ x REF_BK scores exist at a time. It serves CPUs without AMX, the f32
 * precision, and the LOOM_BACKEND=openblas|ref choices.
 */
#include "ops_internal.h"
#include "loom/threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REF_BQ 64
#define REF_BK 256

typedef struct ref_ctx {
    const loom_attention_params *p;
    int64_t D, qs, ks, vs, os, qblocks;
    float   scale;
} ref_ctx;

static void ref_task(void *ctx, int64_t t0, int64_t t1, int tid)
{
    ref_ctx *a = ctx;
    const loom_attention_params *p = a->p;
    (void)tid;
    const int64_t D = a->D;
    size_t need = sizeof(float) * ((size_t)REF_BQ * REF_BK + (size_t)REF_BQ * D + 3 * REF_BQ);
    float *buf = ops_scratch(2, need);
    if (!buf) return;
    float *S = buf, *O = S + REF_BQ * REF_BK, *m = O + REF_BQ * D, *l = m + REF_BQ, *al = l + REF_BQ;
    for (int64_t t = t0; t < t1; t++) {
        int64_t h = t / a->qblocks, i0 = (t % a->qblocks) * REF_BQ;
        int64_t rows = p->sq - i0 < REF_BQ ? p->sq - i0 : REF_BQ;
        const float *q = p->q + i0 * a->qs + h * D;
        memset(O, 0, sizeof(float) * (size_t)(rows * D));
        for (int64_t r = 0; r < rows; r++) { m[r] = -INFINITY; l[r] = 0; }
        for (int64_t k0 = 0; k0 < p->sk; k0 += REF_BK) {
            int64_t kn = p->sk - k0 < REF_BK ? p->sk - k0 : REF_BK;
            ops_sgemm(0, 1, rows, kn, D, a->scale, q, a->qs, p->k + k0 * a->ks + h * D, a->ks, 0.0f, S, REF_BK);
            for (int64_t r = 0; r < rows; r++) {
                float *sr = S + r * REF_BK;
                int64_t i = i0 + r;
                float mx = -INFINITY;
                for (int64_t j = 0; j < kn; j++) {
                    int64_t jj = k0 + j;
                    float x = sr[j];
                    if (p->bias) x += p->bias[(h * p->sq + i) * p->sk + jj];
                    if (p->rel_bias) x += p->rel_bias[h * (p->sq + p->sk - 1) + (jj - i) + p->sq - 1];
                    if (p->key_mask && !p->key_mask[jj]) x = -INFINITY;
                    sr[j] = x;
                    mx = x > mx ? x : mx;
                }
                float mnew = m[r] > mx ? m[r] : mx;
                float mref = mnew == -INFINITY ? 0.0f : mnew;
                al[r] = m[r] == -INFINITY ? 0.0f : expf(m[r] - mnew);
                m[r] = mnew;
                float s = 0;
                for (int64_t j = 0; j < kn; j++) {
                    float e = expf(sr[j] - mref);
                    sr[j] = e;
                    s += e;
                }
                l[r] = l[r] * al[r] + s;
                float *orow = O + r * D;
                for (int64_t d = 0; d < D; d++) orow[d] *= al[r];
            }
            ops_sgemm(0, 0, rows, D, kn, 1.0f, S, REF_BK, p->v + k0 * a->vs + h * D, a->vs, 1.0f, O, D);
        }
        for (int64_t r = 0; r < rows; r++) {
            float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
            float *dst = p->out + (i0 + r) * a->os + h * D;
            for (int64_t d = 0; d < D; d++) dst[d] = O[r * D + d] * inv;
        }
    }
}

int ref_attention(const loom_attention_params *p, int use_blas, loom_error *err)
{
    (void)use_blas;
    (void)err;
    ref_ctx a;
    a.p = p;
    a.D = p->head_dim;
    int64_t HD = (int64_t)p->heads * a.D;
    a.qs = p->q_stride ? p->q_stride : HD;
    a.ks = p->k_stride ? p->k_stride : HD;
    a.vs = p->v_stride ? p->v_stride : HD;
    a.os = p->out_stride ? p->out_stride : HD;
    a.scale = p->scale != 0.0f ? p->scale : 1.0f / sqrtf((float)a.D);
    a.qblocks = (p->sq + REF_BQ - 1) / REF_BQ;
    loom_parallel_for(a.qblocks * p->heads, ref_task, &a);
    return 0;
}

int loom_attention(const loom_attention_params *p, loom_error *err)
{
    if (!p || !p->q || !p->k || !p->v || !p->out)
        return loom_errorf(err, LOOM_ERR_INVALID, "attention: q, k, v and out must all be given");
    if (p->sq < 0 || p->sk < 0 || p->heads <= 0 || p->head_dim <= 0)
        return loom_errorf(err, LOOM_ERR_INVALID, "attention: bad sizes sq %lld sk %lld heads %d head_dim %d",
                           (long long)p->sq, (long long)p->sk, p->heads, p->head_dim);
    int64_t HD = (int64_t)p->heads * p->head_dim;
    if ((p->q_stride && p->q_stride < HD) || (p->k_stride && p->k_stride < HD) || (p->v_stride && p->v_stride < HD) ||
        (p->out_stride && p->out_stride < HD))
        return loom_errorf(err, LOOM_ERR_INVALID, "attention: a row stride is below heads*head_dim = %lld", (long long)HD);
    if (p->sq == 0) return 0;
    int64_t os = p->out_stride ? p->out_stride : HD;
    if (p->sk == 0) {
        for (int64_t i = 0; i < p->sq; i++) memset(p->out + i * os, 0, sizeof(float) * (size_t)HD);
        return 0;
    }
    loom_backend be = loom_ops_backend();
    int amx = be == LOOM_BACKEND_AMX || (be == LOOM_BACKEND_ONEDNN && (loom_cpu_features() & LOOM_CPU_AMX_BF16));
    if (p->precision == LOOM_PREC_F32) amx = 0;
    if (p->precision == LOOM_PREC_BF16 && (loom_cpu_features() & LOOM_CPU_AMX_BF16)) amx = 1;
#if defined(LOOM_X86_KERNELS)
    if (amx && (loom_cpu_features() & LOOM_CPU_AMX_BF16) && p->head_dim <= 4096) return amx_attention(p, err);
#endif
    return ref_attention(p, be != LOOM_BACKEND_REF, err);
}
