/* test_linear.c: loom_linear on every backend this machine has, and loom_gemm_f32,
 * against a double-precision reference on random inputs with odd sizes.
 *
 * Bounds (per output element, S = sum_k |x_k w_k| + |b|):
 *   f32 (openblas, ref):   |y - ref| <= (K * 1.2e-7 + 1e-6) * S     (gamma_K, rounding per add)
 *   bf16 (amx, onednn, emulated): |y - ref| <= (2^-8 + K * 1.2e-7) * S
 *       (x and w each rounded to bf16: product relative error <= 2^-8), and in aggregate
 *       ||y - ref|| / ||ref|| <= 4e-3 (typical: ~1.5e-3).
 * Activations are applied to the reference in double; the fused epilogue is checked to
 * the same bound plus 1e-5 absolute (the vector exp is accurate to ~2 ulp).
 * loom_linear_forward_group and _pair must equal the separate calls bit for bit: they only
 * share the conversion of the input, or (pair on AMX) round the hidden rows to bf16 in the
 * first product's epilogue instead of in the second product's input packing.
 */
#include "ops_test.h"
#include "loom/ops.h"
#include "loom/threads.h"

#include <string.h>

static double act_d(double v, loom_act a)
{
    if (a == LOOM_ACT_GELU_TANH) return 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    if (a == LOOM_ACT_SILU) return v / (1 + exp(-v));
    return v;
}

static int run_case(loom_backend be, loom_precision prec, loom_dtype wdt, int64_t M, int64_t N, int64_t K,
                    int with_bias, loom_act act, int accumulate, int strided)
{
    loom_error err = {0};
    int64_t ws[2] = {N, K};
    loom_tensor *w = loom_tensor_new(LOOM_F32, 2, ws, &err);
    rng_fill(w->data, N * K, 1.0f / sqrtf((float)K));
    loom_tensor *wc = wdt == LOOM_F32 ? loom_tensor_ref(w) : loom_tensor_convert(w, wdt, &err);
    loom_tensor *wd = loom_tensor_to_f32(wc, &err);      /* what the op really sees */
    int64_t bs = N;
    loom_tensor *b = with_bias ? loom_tensor_new(LOOM_F32, 1, &bs, &err) : NULL;
    if (b) rng_fill(b->data, N, 0.5f);
    loom_linear_opts o = {be, prec};
    loom_linear *l = loom_linear_new_ex(wc, b, &o, &err);
    CHECK_MSG(l != NULL, "linear_new: %s", err.msg);
    if (!l) return 0;
    int bf16 = loom_linear_backend(l) == LOOM_BACKEND_AMX || loom_linear_backend(l) == LOOM_BACKEND_ONEDNN ||
               prec == LOOM_PREC_BF16;
    int64_t ldx = strided ? K + 3 : K, ldy = strided ? N + 5 : N;
    float *x = malloc(sizeof(float) * (size_t)(M * ldx));
    float *y = malloc(sizeof(float) * (size_t)(M * ldy));
    double *ref = malloc(sizeof(double) * (size_t)(M * N));
    double *S = malloc(sizeof(double) * (size_t)(M * N));
    rng_fill(x, M * ldx, 1.0f);
    for (int64_t i = 0; i < M * ldy; i++) y[i] = accumulate ? rng_n() : NAN;
    const float *wf = wd->data;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0, a = 0;
            for (int64_t k = 0; k < K; k++) {
                double xv = x[m * ldx + k], wv = wf[n * K + k];
                if (bf16) xv = loom_bf16_to_f32(loom_f32_to_bf16((float)xv)), wv = loom_bf16_to_f32(loom_f32_to_bf16((float)wv));
                s += xv * wv;
                a += fabs(xv * wv);
            }
            if (b) { s += ((float *)b->data)[n]; a += fabs(((float *)b->data)[n]); }
            s = act_d(s, act);
            if (accumulate) s += y[m * ldy + n];
            ref[m * N + n] = s;
            S[m * N + n] = a + 1e-30;
        }
    int rc = loom_linear_forward_ex(l, x, M, ldx, y, ldy, act, accumulate ? LOOM_LINEAR_ACCUMULATE : 0);
    CHECK_MSG(rc == 0, "forward rc %d", rc);
    /* inputs were bf16-rounded in the reference too when bf16, so only accumulation and
     * the (exact-input) product remain: use the bf16 bound anyway for safety */
    double tol = (bf16 ? 1.0 / 256 : 0) + (double)K * 1.2e-7 + 1e-6;
    double worst = 0;
    int64_t wi = 0;
    float *yc = malloc(sizeof(float) * (size_t)(M * N));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double e = fabs(y[m * ldy + n] - ref[m * N + n]) / (tol * S[m * N + n] + 1e-5);
            if (!(e <= worst)) { worst = e; wi = m * N + n; }
            yc[m * N + n] = y[m * ldy + n];
        }
    double rl = rel_l2(yc, ref, M * N);
    CHECK_MSG(worst <= 1.0 && rl <= (bf16 ? 4e-3 : 1e-6),
          "%s prec %d w %s M=%lld N=%lld K=%lld bias %d act %d acc %d: worst %.3g of bound at %lld (y %g ref %g), rel_l2 %.3g",
          loom_backend_name(loom_linear_backend(l)), prec, loom_dtype_name(wdt), (long long)M, (long long)N, (long long)K,
          with_bias, act, accumulate, worst, (long long)wi, (double)yc[wi], ref[wi], rl);
    int ok = worst <= 1.0;
    loom_linear_free(l);
    free(x); free(y); free(ref); free(S); free(yc);
    loom_tensor_unref(w); loom_tensor_unref(wc); loom_tensor_unref(wd); loom_tensor_unref(b);
    return ok;
}

static void gemm_case(int ta, int tb, int64_t M, int64_t N, int64_t K)
{
    int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
    int64_t ra = ta ? K : M, rb = tb ? N : K;
    float *A = malloc(sizeof(float) * (size_t)(ra * lda)), *B = malloc(sizeof(float) * (size_t)(rb * ldb));
    float *C = malloc(sizeof(float) * (size_t)(M * ldc));
    rng_fill(A, ra * lda, 1); rng_fill(B, rb * ldb, 1); rng_fill(C, M * ldc, 1);
    double *ref = malloc(sizeof(double) * (size_t)(M * N));
    float *got = malloc(sizeof(float) * (size_t)(M * N));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)(ta ? A[k * lda + m] : A[m * lda + k]) * (tb ? B[n * ldb + k] : B[k * ldb + n]);
            ref[m * N + n] = 0.5 * s + 2.0 * C[m * ldc + n];
        }
    loom_gemm_f32(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C, ldc);
    for (int64_t m = 0; m < M; m++) for (int64_t n = 0; n < N; n++) got[m * N + n] = C[m * ldc + n];
    double e = err_ratio(got, ref, M * N, 1e-4, 1e-4, NULL);
    CHECK_MSG(e <= 1.0, "gemm_f32 ta %d tb %d %lldx%lldx%lld: error %.3g of bound", ta, tb, (long long)M, (long long)N,
          (long long)K, e);
    free(A); free(B); free(C); free(ref); free(got);
}


static loom_linear *random_linear(loom_backend be, int64_t N, int64_t K, int with_bias)
{
    loom_error err = {0};
    float *w = malloc(sizeof(float) * (size_t)(N * K)), *b = malloc(sizeof(float) * (size_t)N);
    rng_fill(w, N * K, 1.0f / sqrtf((float)K));
    rng_fill(b, N, 0.5f);
    loom_linear_opts o = {be, LOOM_PREC_AUTO};
    loom_linear *l = loom_linear_new_f32(w, with_bias ? b : NULL, N, K, &o, &err);
    CHECK_MSG(l != NULL, "linear_new: %s", err.msg);
    free(w);
    free(b);
    return l;
}

static int same_floats(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

/* group(x) == three forwards, pair(x) == forward, act, forward (also with accumulate) */
static void fused_case(loom_backend be, int64_t M, int64_t K, int64_t N1, int64_t N2)
{
    loom_linear *g[3] = {random_linear(be, N1, K, 1), random_linear(be, N2, K, 0), random_linear(be, 33, K, 1)};
    loom_linear *l2 = random_linear(be, N2, N1, 1);
    if (!g[0] || !g[1] || !g[2] || !l2) return;
    int64_t ldx = K + 7;
    float *x = malloc(sizeof(float) * (size_t)(M * ldx)), *h = malloc(sizeof(float) * (size_t)(M * N1));
    float *sep[3], *grp[3];
    int64_t ns[3] = {N1, N2, 33};
    for (int i = 0; i < 3; i++) {
        sep[i] = malloc(sizeof(float) * (size_t)(M * ns[i]));
        grp[i] = malloc(sizeof(float) * (size_t)(M * ns[i]));
    }
    rng_fill(x, M * ldx, 1.0f);
    for (int i = 0; i < 3; i++) CHECK(loom_linear_forward_ex(g[i], x, M, ldx, sep[i], 0, LOOM_ACT_NONE, 0) == 0);
    CHECK(loom_linear_forward_group(g, 3, x, M, ldx, grp) == 0);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(same_floats(sep[i], grp[i], M * ns[i]), "%s group M=%lld K=%lld: product %d differs",
                  loom_backend_name(be), (long long)M, (long long)K, i);

    for (int acc = 0; acc < 2; acc++) {
        /* sep[1] / grp[1] are [M, N2]: the pair's output, starting equal when accumulating */
        rng_fill(sep[1], M * N2, 1.0f);
        memcpy(grp[1], sep[1], sizeof(float) * (size_t)(M * N2));
        unsigned flags = acc ? LOOM_LINEAR_ACCUMULATE : 0;
        CHECK(loom_linear_forward_ex(g[0], x, M, ldx, h, N1, LOOM_ACT_GELU_TANH, 0) == 0);
        CHECK(loom_linear_forward_ex(l2, h, M, N1, sep[1], N2, LOOM_ACT_NONE, flags) == 0);
        CHECK(loom_linear_forward_pair(g[0], LOOM_ACT_GELU_TANH, l2, x, M, ldx, grp[1], N2, flags) == 0);
        CHECK_MSG(same_floats(sep[1], grp[1], M * N2), "%s pair M=%lld K=%lld N1=%lld N2=%lld acc %d differs",
                  loom_backend_name(be), (long long)M, (long long)K, (long long)N1, (long long)N2, acc);
    }
    CHECK(loom_linear_forward_pair(l2, LOOM_ACT_NONE, g[0], x, M, ldx, grp[1], N2, 0) == LOOM_ERR_INVALID);
    for (int i = 0; i < 3; i++) {
        loom_linear_free(g[i]);
        free(sep[i]);
        free(grp[i]);
    }
    loom_linear_free(l2);
    free(x);
    free(h);
}

int main(void)
{
    char desc[256];
    printf("%s, %d threads\n", loom_ops_describe(desc, sizeof desc), loom_threads_count());
    const int64_t shapes[][3] = {{1, 1, 1}, {7, 17, 5}, {33, 64, 64}, {100, 100, 130}, {64, 96, 2100}, {257, 70, 48}};
    loom_backend bes[] = {LOOM_BACKEND_REF, LOOM_BACKEND_OPENBLAS, LOOM_BACKEND_AMX, LOOM_BACKEND_ONEDNN};
    for (int bi = 0; bi < 4; bi++) {
        int cases = 0, ok = 0;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            ok += run_case(bes[bi], LOOM_PREC_AUTO, LOOM_F32, M, N, K, 1, LOOM_ACT_NONE, 0, 0); cases++;
            ok += run_case(bes[bi], LOOM_PREC_AUTO, LOOM_BF16, M, N, K, s & 1, LOOM_ACT_GELU_TANH, 0, 1); cases++;
            ok += run_case(bes[bi], LOOM_PREC_AUTO, LOOM_F16, M, N, K, 1, LOOM_ACT_NONE, 1, 1); cases++;
            ok += run_case(bes[bi], LOOM_PREC_AUTO, LOOM_F8_E4M3, M, N, K, 0, LOOM_ACT_SILU, 1, 0); cases++;
        }
        loom_linear_opts o = {bes[bi], LOOM_PREC_AUTO};
        int64_t ws[2] = {4, 4};
        loom_error err;
        loom_tensor *w = loom_tensor_new(LOOM_F32, 2, ws, &err);
        loom_linear *l = loom_linear_new_ex(w, NULL, &o, &err);
        printf("backend %-8s (runs as %-8s): %d/%d cases within bounds (shapes 1x1x1 .. 257x70x48, K up to 2100; "
               "f32/bf16/f16/fp8 weights; bias, fused GELU/SiLU, accumulate, strides)\n",
               loom_backend_name(bes[bi]), loom_backend_name(loom_linear_backend(l)), ok, cases);
        loom_linear_free(l);
        loom_tensor_unref(w);
    }
    /* emulated bf16 on the f32 backend */
    int ok = run_case(LOOM_BACKEND_OPENBLAS, LOOM_PREC_BF16, LOOM_F32, 50, 40, 300, 1, LOOM_ACT_NONE, 0, 0);
    printf("bf16 precision emulated on openblas: %s\n", ok ? "within bounds" : "FAILED");
    /* a K spanning several AMX k blocks */
    ok = run_case(LOOM_BACKEND_AUTO, LOOM_PREC_AUTO, LOOM_BF16, 45, 70, 4500, 1, LOOM_ACT_NONE, 1, 0);
    ok &= run_case(LOOM_BACKEND_AUTO, LOOM_PREC_AUTO, LOOM_BF16, 45, 70, 4500, 1, LOOM_ACT_GELU_TANH, 0, 0);
    printf("K = 4500 (three k blocks on AMX), accumulate and fused GELU: %s\n", ok ? "within bounds" : "FAILED");
    /* fused forms: ragged rows and hidden widths, a hidden of 2100 (several k blocks in the
     * second product) and a first K of 2100 (the pair falls back to f32 hidden rows) */
    for (int bi = 0; bi < 4; bi++) {
        fused_case(bes[bi], 45, 70, 70, 40);
        fused_case(bes[bi], 300, 64, 96, 130);
        fused_case(bes[bi], 7, 100, 2100, 33);
        fused_case(bes[bi], 33, 2100, 64, 48);
    }
    printf("loom_linear_forward_group / _pair equal the separate products bit for bit on every backend\n");
    /* threads 1 gives the same answer as threads n */
    gemm_case(0, 0, 37, 53, 29);
    gemm_case(1, 0, 64, 300, 17);
    gemm_case(0, 1, 300, 64, 70);
    gemm_case(1, 1, 5, 7, 3);
    printf("loom_gemm_f32: 4 transpose combinations, strided, alpha/beta within 1e-4\n");
    return check_summary("test_linear");
}
