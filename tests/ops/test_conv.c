/* test_conv.c: Conv3d / Conv2d (AMX implicit GEMM and the portable im2col path) and the
 * nearest x2 upsample, against a direct double-precision convolution.
 *
 * Bound per output (S = sum |w x| over the receptive field + |b|, K = I*kt*kh*kw):
 *   f32:  |y - ref| <= (K * 1.2e-7 + 1e-6) * S
 *   bf16: |y - ref| <= (2^-8 + K * 1.2e-7) * S   (x and w rounded to bf16 once each)
 * plus 1e-5 absolute for the fused SiLU. Cases: causal 3x3x3 (2 zero frames in front),
 * Wan's downsample (pad right/bottom 1, stride 2, per frame), time_conv (3,1,1) stride 2
 * with no padding, 1x1x1 with odd channel counts, and a width that is not a multiple of 32.
 */
#include "ops_test.h"
#include "loom/ops.h"

#include <string.h>

typedef struct ccase {
    const char *name;
    int64_t I, O, kt, kh, kw, T, H, W;
    loom_conv_params p;
    int four_d, bias;
    loom_act act;
} ccase;

static void run(const ccase *cc, loom_backend be)
{
    loom_error err = {0};
    int64_t ws5[5] = {cc->O, cc->I, cc->kt, cc->kh, cc->kw}, ws4[4] = {cc->O, cc->I, cc->kh, cc->kw};
    loom_tensor *w = cc->four_d ? loom_tensor_new(LOOM_F32, 4, ws4, &err) : loom_tensor_new(LOOM_F32, 5, ws5, &err);
    int64_t K = cc->I * cc->kt * cc->kh * cc->kw;
    rng_fill(w->data, cc->O * K, 1.0f / sqrtf((float)K));
    loom_tensor *b = NULL;
    if (cc->bias) { b = loom_tensor_new(LOOM_F32, 1, &cc->O, &err); rng_fill(b->data, cc->O, 0.3f); }
    loom_conv_params p = cc->p;
    p.backend = be;
    loom_conv *c = loom_conv_new(w, b, &p, &err);
    CHECK_MSG(c != NULL, "%s: %s", cc->name, err.msg);
    if (!c) return;
    int64_t To, Ho, Wo;
    loom_conv_out_shape(c, cc->T, cc->H, cc->W, &To, &Ho, &Wo);
    int64_t nx = cc->I * cc->T * cc->H * cc->W, P = To * Ho * Wo;
    float *x = malloc(sizeof(float) * (size_t)nx), *y = malloc(sizeof(float) * (size_t)(cc->O * P));
    rng_fill(x, nx, 1.0f);
    int rc = loom_conv_forward(c, x, cc->T, cc->H, cc->W, y, cc->act, &err);
    CHECK_MSG(rc == 0, "%s: forward: %s", cc->name, err.msg);
    int bf16 = be == LOOM_BACKEND_AMX && (loom_cpu_features() & LOOM_CPU_AMX_BF16);
    const float *wf = w->data;
    int st = p.stride[0] ? p.stride[0] : 1, sh = p.stride[1] ? p.stride[1] : 1, sw = p.stride[2] ? p.stride[2] : 1;
    double worst = 0;
    double tol = (bf16 ? 1.0 / 256 : 0) + (double)K * 1.2e-7 + 1e-6;
    for (int64_t o = 0; o < cc->O; o++)
        for (int64_t to = 0; to < To; to++)
            for (int64_t ho = 0; ho < Ho; ho++)
                for (int64_t wo = 0; wo < Wo; wo++) {
                    double s = b ? ((float *)b->data)[o] : 0, a = fabs(s);
                    for (int64_t ci = 0; ci < cc->I; ci++)
                        for (int64_t dt = 0; dt < cc->kt; dt++)
                            for (int64_t dh = 0; dh < cc->kh; dh++)
                                for (int64_t dw = 0; dw < cc->kw; dw++) {
                                    int64_t t = to * st + dt - p.pad_t_front, h = ho * sh + dh - p.pad_top,
                                            ww = wo * sw + dw - p.pad_left;
                                    if (t < 0 || t >= cc->T || h < 0 || h >= cc->H || ww < 0 || ww >= cc->W) continue;
                                    double xv = x[((ci * cc->T + t) * cc->H + h) * cc->W + ww];
                                    double wv = wf[(((o * cc->I + ci) * cc->kt + dt) * cc->kh + dh) * cc->kw + dw];
                                    s += xv * wv;
                                    a += fabs(xv * wv);
                                }
                    if (cc->act == LOOM_ACT_SILU) s = s / (1 + exp(-s));
                    double got = y[o * P + (to * Ho + ho) * Wo + wo];
                    double e = fabs(got - s) / (tol * a + 1e-5);
                    if (!(e <= worst)) worst = e;
                }
    CHECK_MSG(worst <= 1.0, "%s (%s): worst error %.3g of bound", cc->name, loom_backend_name(be), worst);
    printf("  %-46s %-8s out %lldx%lldx%lldx%lld  worst %.3f of bound\n", cc->name, bf16 ? "amx bf16" : "f32",
           (long long)cc->O, (long long)To, (long long)Ho, (long long)Wo, worst);
    free(x); free(y);
    loom_conv_free(c);
    loom_tensor_unref(w);
    loom_tensor_unref(b);
}

int main(void)
{
    ccase cases[] = {
        {"causal 3x3x3, 5->7 ch, 3x6x37, bias, SiLU", 5, 7, 3, 3, 3, 3, 6, 37, {.pad_t_front = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1}, 0, 1, LOOM_ACT_SILU},
        {"downsample conv2d 3x3 s2, pad r/b 1, 33->40", 33, 40, 1, 3, 3, 2, 9, 10, {.stride = {1, 2, 2}, .pad_bottom = 1, .pad_right = 1}, 1, 1, LOOM_ACT_NONE},
        {"time_conv (3,1,1) stride (2,1,1), 16->16", 16, 16, 3, 1, 1, 5, 4, 6, {.stride = {2, 1, 1}}, 0, 1, LOOM_ACT_NONE},
        {"1x1x1, 70->3 ch, 2x5x33", 70, 3, 1, 1, 1, 2, 5, 33, {{0}}, 0, 0, LOOM_ACT_NONE},
        {"conv2d 3x3 pad 1, 64->96, 1x20x70", 64, 96, 1, 3, 3, 1, 20, 70, {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1}, 1, 1, LOOM_ACT_NONE},
    };
    loom_backend bes[] = {LOOM_BACKEND_AMX, LOOM_BACKEND_OPENBLAS};
    for (int bi = 0; bi < 2; bi++) {
        printf("backend %s:\n", loom_backend_name(bes[bi]));
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run(&cases[i], bes[bi]);
    }
    /* too-small input is an error, not a crash */
    loom_error err = {0};
    int64_t ws[5] = {2, 2, 3, 3, 3};
    loom_tensor *w = loom_tensor_new(LOOM_F32, 5, ws, &err);
    loom_conv *c = loom_conv_new(w, NULL, NULL, &err);
    float x[8] = {0}, y[8];
    CHECK_MSG(loom_conv_forward(c, x, 1, 2, 2, y, LOOM_ACT_NONE, &err) == LOOM_ERR_INVALID, "small input rejected");
    printf("an input smaller than the kernel is rejected: %s\n", err.msg);
    loom_conv_free(c);
    loom_tensor_unref(w);
    /* nearest x2 */
    float u[2 * 3 * 5], v[2 * 6 * 10];
    for (int i = 0; i < 30; i++) u[i] = (float)i;
    loom_upsample_nearest2x(u, 2, 3, 5, v);
    int ok = 1;
    for (int pl = 0; pl < 2; pl++)
        for (int h = 0; h < 6; h++)
            for (int ww = 0; ww < 10; ww++) ok &= v[(pl * 6 + h) * 10 + ww] == u[(pl * 3 + h / 2) * 5 + ww / 2];
    CHECK_MSG(ok, "nearest upsample");
    printf("nearest x2 upsample: exact\n");
    return check_summary("test_conv");
}
