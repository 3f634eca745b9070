/* test_norm_rope.c: norms, AdaLN, channel RMS norm, 3-D RoPE and elementwise ops against
 * double-precision references on random inputs with odd widths.
 *
 * Bounds: all of these are f32 computations of a few roundings per element, so
 *   norms:      |y - ref| <= 2e-6 * (1 + |ref|) * (1 + |gamma| + |shift| + |scale|)
 *               (row statistics in f32; the mean of 5120 values is accurate to ~1e-7)
 *   RoPE:       |y - ref| <= 2e-6 * (|x0| + |x1|)     (cos/sin tables stored in f32)
 *   GELU/SiLU:  |y - ref| <= 4e-7 * |x| + 1e-7         (vector exp to ~2 ulp)
 *   residual:   |y - ref| <= 2e-7 * (|x| + |y g|)
 * Run again with LOOM_CPU=baseline to hold the portable loops to the same bounds.
 */
#include "ops_test.h"
#include "loom/ops.h"

#include <string.h>

static double gelu_d(double v) { return 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); }
static double silu_d(double v) { return v / (1 + exp(-v)); }

static void test_norms(int64_t M, int64_t D)
{
    float *x = malloc(sizeof(float) * (size_t)(M * D)), *y = malloc(sizeof(float) * (size_t)(M * D));
    float *g = malloc(sizeof(float) * (size_t)D), *b = malloc(sizeof(float) * (size_t)D);
    float *sh = malloc(sizeof(float) * (size_t)(M * D)), *sc = malloc(sizeof(float) * (size_t)(M * D));
    double *ref = malloc(sizeof(double) * (size_t)(M * D));
    rng_fill(x, M * D, 2.0f);
    for (int64_t i = 0; i < M * D; i++) x[i] += 3.0f;     /* a mean offset: variance must not cancel */
    rng_fill(g, D, 1.0f); rng_fill(b, D, 1.0f); rng_fill(sh, M * D, 1.0f); rng_fill(sc, M * D, 0.5f);
    for (int kind = 0; kind < 5; kind++) {
        const char *names[] = {"layernorm affine", "layernorm plain", "rmsnorm", "adaln (shared mod)", "adaln (per-row mod)"};
        double worst = 0;
        switch (kind) {
        case 0: loom_layernorm(x, M, D, g, b, 1e-6f, y); break;
        case 1: loom_layernorm(x, M, D, NULL, NULL, 1e-6f, y); break;
        case 2: loom_rmsnorm(x, M, D, g, 1e-6f, y); break;
        case 3: loom_adaln(x, M, D, sh, sc, 0, 1e-6f, y); break;
        case 4: loom_adaln(x, M, D, sh, sc, D, 1e-6f, y); break;
        }
        for (int64_t r = 0; r < M; r++) {
            double mean = 0, var = 0;
            for (int64_t i = 0; i < D; i++) mean += x[r * D + i];
            mean /= (double)D;
            if (kind == 2) mean = 0;
            for (int64_t i = 0; i < D; i++) var += (x[r * D + i] - mean) * (x[r * D + i] - mean);
            double rs = 1.0 / sqrt(var / (double)D + 1e-6);
            for (int64_t i = 0; i < D; i++) {
                double v = (x[r * D + i] - mean) * rs, mag = 1;
                if (kind == 0) { v = v * g[i] + b[i]; mag += fabs(g[i]) + fabs(b[i]); }
                if (kind == 2) { v *= g[i]; mag += fabs(g[i]); }
                if (kind >= 3) {
                    int64_t mi = kind == 3 ? i : r * D + i;
                    v = v * (1 + sc[mi]) + sh[mi];
                    mag += fabs(sc[mi]) + fabs(sh[mi]);
                }
                double e = fabs(y[r * D + i] - v) / (2e-6 * (1 + fabs(v)) * mag);
                if (!(e <= worst)) worst = e;
            }
        }
        CHECK_MSG(worst <= 1.0, "%s %lldx%lld: worst %.3g of bound", names[kind], (long long)M, (long long)D, worst);
        printf("  %-22s %4lldx%-5lld worst %.3f of bound\n", names[kind], (long long)M, (long long)D, worst);
    }
    free(x); free(y); free(g); free(b); free(sh); free(sc); free(ref);
}

static void test_channel_rms(int64_t C, int64_t P, loom_act act)
{
    float *x = malloc(sizeof(float) * (size_t)(C * P)), *y = malloc(sizeof(float) * (size_t)(C * P));
    float *g = malloc(sizeof(float) * (size_t)C);
    rng_fill(x, C * P, 1.5f);
    rng_fill(g, C, 1.0f);
    for (int64_t c = 0; c < C; c++) x[c * P + 3] = 0.0f;          /* an all-zero position: eps path */
    loom_channel_rmsnorm(x, C, P, g, act, y);
    double worst = 0;
    for (int64_t p = 0; p < P; p++) {
        double ss = 0;
        for (int64_t c = 0; c < C; c++) ss += (double)x[c * P + p] * x[c * P + p];
        double f = sqrt((double)C) / fmax(sqrt(ss), 1e-12);
        for (int64_t c = 0; c < C; c++) {
            double v = x[c * P + p] * f * g[c];
            if (act == LOOM_ACT_SILU) v = silu_d(v);
            double e = fabs(y[c * P + p] - v) / (2e-6 * (1 + fabs(v)) * (1 + fabs(g[c])));
            if (!(e <= worst)) worst = e;
        }
    }
    CHECK_MSG(worst <= 1.0, "channel rmsnorm C=%lld P=%lld: worst %.3g", (long long)C, (long long)P, worst);
    printf("  channel rmsnorm%s C=%lld P=%lld worst %.3f of bound (zero position gives 0)\n",
           act == LOOM_ACT_SILU ? "+SiLU" : "", (long long)C, (long long)P, worst);
    free(x); free(y); free(g);
}

static void test_rope(int d, int64_t F, int64_t H, int64_t W, int heads, int64_t tok0, int64_t n, int64_t stride)
{
    loom_error err = {0};
    loom_rope3d *r = loom_rope3d_new(d, F, H, W, 10000.0, &err);
    CHECK_MSG(r != NULL, "rope new: %s", err.msg);
    if (!r) return;
    int64_t st = stride ? stride : (int64_t)heads * d;
    float *x = malloc(sizeof(float) * (size_t)(n * st)), *x0 = malloc(sizeof(float) * (size_t)(n * st));
    rng_fill(x, n * st, 1.0f);
    memcpy(x0, x, sizeof(float) * (size_t)(n * st));
    CHECK_MSG(loom_rope3d_apply(r, x, tok0, n, heads, stride) == 0, "rope apply");
    int dh = 2 * (d / 6), dt = d - 2 * dh;
    double worst = 0;
    int untouched = 1;
    for (int64_t i = 0; i < n; i++) {
        int64_t tok = tok0 + i, f = tok / (H * W), h = (tok / W) % H, w = tok % W;
        for (int hd = 0; hd < heads; hd++)
            for (int p = 0; p < d / 2; p++) {
                double ang;
                if (p < dt / 2) ang = f * pow(10000.0, -2.0 * p / dt);
                else if (p < dt / 2 + dh / 2) ang = h * pow(10000.0, -2.0 * (p - dt / 2) / dh);
                else ang = w * pow(10000.0, -2.0 * (p - dt / 2 - dh / 2) / dh);
                double a = x0[i * st + hd * d + 2 * p], b = x0[i * st + hd * d + 2 * p + 1];
                double ra = a * cos(ang) - b * sin(ang), rb = a * sin(ang) + b * cos(ang);
                double bound = 2e-6 * (fabs(a) + fabs(b)) + 1e-7;
                double e = fmax(fabs(x[i * st + hd * d + 2 * p] - ra), fabs(x[i * st + hd * d + 2 * p + 1] - rb)) / bound;
                if (!(e <= worst)) worst = e;
            }
        for (int64_t j = (int64_t)heads * d; j < st; j++) untouched &= x[i * st + j] == x0[i * st + j];
    }
    CHECK_MSG(worst <= 1.0 && untouched, "rope d=%d grid %lldx%lldx%lld: worst %.3g", d, (long long)F, (long long)H,
          (long long)W, worst);
    printf("  rope3d d=%-3d grid %lldx%lldx%lld heads %d rows [%lld,%lld)%s worst %.3f of bound\n", d, (long long)F,
           (long long)H, (long long)W, heads, (long long)tok0, (long long)(tok0 + n), stride ? " strided" : "", worst);
    CHECK_MSG(loom_rope3d_apply(r, x, tok0, F * H * W, heads, stride) == LOOM_ERR_INVALID || tok0 == 0, "range check");
    free(x); free(x0);
    loom_rope3d_free(r);
}

static void test_elementwise(int64_t n)
{
    float *x = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
    rng_fill(x, n, 4.0f);
    rng_fill(b, n, 1.0f);
    if (n > 2) { x[0] = -100.0f; x[1] = 100.0f; x[2] = 0.0f; }     /* saturation ends */
    double wg = 0, ws = 0, wgg = 0;
    loom_gelu_tanh(x, n, y);
    for (int64_t i = 0; i < n; i++) { double e = fabs(y[i] - gelu_d(x[i])) / (4e-7 * fabs(x[i]) + 1e-7); if (!(e <= wg)) wg = e; }
    loom_silu(x, n, y);
    for (int64_t i = 0; i < n; i++) { double e = fabs(y[i] - silu_d(x[i])) / (4e-7 * fabs(x[i]) + 1e-7); if (!(e <= ws)) ws = e; }
    loom_gated_gelu(x, b, n, y);
    for (int64_t i = 0; i < n; i++) { double e = fabs(y[i] - gelu_d(x[i]) * b[i]) / (6e-7 * fabs(x[i] * b[i]) + 1e-7); if (!(e <= wgg)) wgg = e; }
    CHECK_MSG(wg <= 1 && ws <= 1 && wgg <= 1, "elementwise n=%lld: gelu %.3g silu %.3g gated %.3g", (long long)n, wg, ws, wgg);
    printf("  gelu_tanh / silu / gated_gelu n=%lld worst %.3f / %.3f / %.3f of bound\n", (long long)n, wg, ws, wgg);
    /* in place */
    memcpy(y, x, sizeof(float) * (size_t)n);
    loom_silu(y, n, y);
    CHECK_MSG(fabsf(y[n - 1] - (float)silu_d(x[n - 1])) <= 1e-6f * (1 + fabsf(x[n - 1])), "in-place silu");
    free(x); free(b); free(y);
}

static void test_residual(int64_t M, int64_t D)
{
    int64_t ldy = D + 3;
    float *x = malloc(sizeof(float) * (size_t)(M * D)), *x0 = malloc(sizeof(float) * (size_t)(M * D));
    float *y = malloc(sizeof(float) * (size_t)(M * ldy)), *g = malloc(sizeof(float) * (size_t)(M * D));
    rng_fill(x, M * D, 1); rng_fill(y, M * ldy, 1); rng_fill(g, M * D, 1);
    for (int mode = 0; mode < 4; mode++) {
        memcpy(x0, x, sizeof(float) * (size_t)(M * D));
        if (mode == 0) loom_residual_gate(x, y, M, D, ldy, g, 0);
        else if (mode == 1) loom_residual_gate(x, y, M, D, ldy, g, D);
        else if (mode == 2) loom_residual_gate(x, y, M, D, ldy, NULL, 0);
        else loom_add_bias(x, M, D, g);
        double worst = 0;
        for (int64_t r = 0; r < M; r++)
            for (int64_t i = 0; i < D; i++) {
                double yv = mode == 3 ? g[i] : y[r * ldy + i];
                double gv = mode == 0 ? g[i] : mode == 1 ? g[r * D + i] : 1.0;
                double ref = (double)x0[r * D + i] + yv * gv;
                double e = fabs(x[r * D + i] - ref) / (2e-7 * (fabs(x0[r * D + i]) + fabs(yv * gv)) + 1e-30);
                if (!(e <= worst)) worst = e;
            }
        CHECK_MSG(worst <= 1.0, "residual mode %d: %.3g", mode, worst);
    }
    printf("  residual+gate (shared gate, per-row gate, no gate, bias) %lldx%lld within bound\n", (long long)M, (long long)D);
    free(x); free(x0); free(y); free(g);
}

int main(void)
{
    char desc[256];
    printf("%s\n", loom_ops_describe(desc, sizeof desc));
    test_norms(7, 1);
    test_norms(33, 37);
    test_norms(300, 1536);
    test_norms(5, 5120);
    test_channel_rms(96, 1000, LOOM_ACT_NONE);
    test_channel_rms(3, 37, LOOM_ACT_SILU);
    test_channel_rms(384, 300, LOOM_ACT_SILU);
    test_rope(128, 3, 4, 5, 3, 0, 60, 0);
    test_rope(128, 21, 30, 52, 2, 1000, 600, 3 * 256 + 7);   /* a slice of a fused qkv buffer */
    test_rope(12, 2, 3, 4, 2, 5, 19, 0);                     /* tiny Wan: 4/4/4 dims */
    test_rope(24, 2, 2, 2, 1, 0, 8, 0);
    test_elementwise(1);
    test_elementwise(1000003);
    test_residual(3, 17);
    test_residual(400, 1536);
    return check_summary("test_norm_rope");
}
