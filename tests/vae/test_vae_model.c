/* test_vae_model.c: the Wan VAE against diffusers' AutoencoderKLWan (tests/fixtures/vae):
 * decode of 1, 2 and 3 latent frames (1, 5, 9 video frames) and encode of 1, 5 and 9
 * frames, from the original-naming file and the diffusers folder; a bf16 copy of the
 * weights; files with a missing or mis-shaped tensor; tiled decoding; interrupting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "vae_model.h"
#include "vae_tiled.h"

#define TINY_VAE "models/vae/wan_2.1_vae_tiny.safetensors"
#define TINY_DIFFUSERS "diffusers/wan2.1_t2v_tiny/vae"

/* f32 against f32 torch: the same math in another summation order through ~40 layers;
 * outputs are O(1), so 1e-4 relative with a 1e-5 floor for values near zero. */
static const fixture_tol f32_tol = {.abs_tol = 1e-5, .rel_tol = 1e-4};

static wan_vae *load(const char *path, loom_precision prec)
{
    wan_vae *v = NULL;
    loom_error err = {0};
    int rc = wan_vae_load(path, prec, &v, &err);
    CHECK_MSG(rc == LOOM_OK, "%s: %s", path, err.msg);
    return v;
}

static void fixture_path(const char *rel, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", fixture_dir(), rel);
}

typedef struct collect {
    float  *video;     /* [3, F, H, W] */
    int64_t F, calls;
} collect;

static int collect_frames(void *ud, const float *x, int64_t t0, int64_t n, int64_t H, int64_t W)
{
    collect *c = ud;
    for (int64_t ch = 0; ch < 3; ch++)
        memcpy(c->video + (ch * c->F + t0) * H * W, x + ch * n * H * W, (size_t)(n * H * W) * sizeof(float));
    c->calls++;
    return LOOM_OK;
}

/* Decode z [16, T, h, w]; the result is malloc'd [3, F, 8h, 8w]. */
static float *decode(const wan_vae *v, const float *z, int64_t T, int64_t h, int64_t w)
{
    int64_t F = wan_vae_video_frames(T);
    collect c = {malloc((size_t)(3 * F * h * w * 64) * sizeof(float)), F, 0};
    loom_error err = {0};
    int rc = wan_vae_decode(v, z, T, h, w, collect_frames, &c, NULL, NULL, &err);
    CHECK_MSG(rc == LOOM_OK, "%s", err.msg);
    CHECK_MSG(c.calls == T, "one chunk per latent frame (%lld calls)", (long long)c.calls);
    return c.video;
}

static void check_decode(const wan_vae *v, loom_safetensors *fx, int T, const char *label, fixture_tol tol)
{
    char name[64], what[128];
    snprintf(name, sizeof name, "decode_T%d.z_denorm", T);
    loom_tensor *z = fixture_tensor(fx, name);
    snprintf(name, sizeof name, "decode_T%d.video", T);
    loom_tensor *want = fixture_tensor(fx, name);
    if (!z || !want) {
        CHECK(!"fixture tensors");
        return;
    }
    float *got = decode(v, z->data, T, z->shape[3], z->shape[4]);
    int64_t n = loom_tensor_numel(want);
    for (int64_t i = 0; i < n; i++)   /* diffusers clamps its output to [-1, 1] */
        got[i] = got[i] < -1.0f ? -1.0f : got[i] > 1.0f ? 1.0f : got[i];
    snprintf(what, sizeof what, "%s decode T=%d", label, T);
    CHECK(fixture_compare(what, got, want, tol, NULL));
    free(got);
    loom_tensor_unref(z);
    loom_tensor_unref(want);
}

static void check_encode(const wan_vae *v, loom_safetensors *fx, int F, const char *label, fixture_tol tol)
{
    char name[64], what[128];
    snprintf(name, sizeof name, "encode_F%d.frames", F);
    loom_tensor *frames = fixture_tensor(fx, name);
    snprintf(name, sizeof name, "encode_F%d.mu", F);
    loom_tensor *want = fixture_tensor(fx, name);
    if (!frames || !want) {
        CHECK(!"fixture tensors");
        return;
    }
    int64_t H = frames->shape[3], W = frames->shape[4], plane = H * W;
    float *img = malloc((size_t)(F * plane * 3) * sizeof *img);   /* ComfyUI IMAGE, 0..1 */
    const float *src = frames->data;
    for (int64_t t = 0; t < F; t++)
        for (int64_t p = 0; p < plane; p++)
            for (int64_t c = 0; c < 3; c++)
                img[(t * plane + p) * 3 + c] = (src[(c * F + t) * plane + p] + 1.0f) * 0.5f;
    float *mu = malloc((size_t)loom_tensor_numel(want) * sizeof *mu);
    loom_error err = {0};
    int rc = wan_vae_encode(v, img, F, H, W, 0, 0, H, W, mu, NULL, NULL, &err);
    CHECK_MSG(rc == LOOM_OK, "%s", err.msg);
    snprintf(what, sizeof what, "%s encode F=%d", label, F);
    CHECK(fixture_compare(what, mu, want, tol, NULL));
    free(mu);
    free(img);
    loom_tensor_unref(frames);
    loom_tensor_unref(want);
}

/* Write the tiny VAE again as dtype dt, leaving out `drop` and giving `reshape` one more
 * output channel; returns the temporary file's path in out. */
static void write_variant(const char *dir, const char *file, loom_dtype dt, const char *drop,
                          const char *reshape, char *out, size_t cap)
{
    char src[4096];
    fixture_path(TINY_VAE, src, sizeof src);
    loom_safetensors *st = NULL;
    loom_error err = {0};
    CHECK(loom_safetensors_open(src, &st, &err) == LOOM_OK);
    size_t n = loom_safetensors_count(st), k = 0;
    const char **names = calloc(n, sizeof *names);
    loom_tensor **ts = calloc(n, sizeof *ts);
    for (size_t i = 0; i < n; i++) {
        const char *name = loom_safetensors_name(st, i);
        if (drop && strcmp(name, drop) == 0)
            continue;
        loom_tensor *t = loom_safetensors_get(st, name);
        if (reshape && strcmp(name, reshape) == 0) {
            int64_t shape[LOOM_MAX_DIMS];
            memcpy(shape, t->shape, sizeof shape);
            shape[0]++;
            int ndim = t->ndim;
            loom_tensor_unref(t);
            t = loom_tensor_new(LOOM_F32, ndim, shape, &err);
        }
        names[k] = name;
        ts[k++] = loom_tensor_convert(t, dt, &err);
        loom_tensor_unref(t);
    }
    snprintf(out, cap, "%s/%s", dir, file);
    CHECK_MSG(loom_safetensors_write(out, k, names, ts, NULL, &err) == LOOM_OK, "%s", err.msg);
    for (size_t i = 0; i < k; i++)
        loom_tensor_unref(ts[i]);
    free(ts);
    free(names);
    loom_safetensors_close(st);
}

static void check_bad_files(const char *dir)
{
    static const struct {
        const char *drop, *reshape, *named;
    } cases[] = {
        {"decoder.upsamples.4.shortcut.weight", NULL, "decoder.upsamples.4.shortcut.weight"},
        {"encoder.middle.1.to_qkv.bias", NULL, "encoder.middle.1.to_qkv.bias"},
        {NULL, "decoder.upsamples.5.residual.2.weight", "decoder.upsamples.5.residual.2.bias"},
        {NULL, "decoder.upsamples.9.residual.3.gamma", "decoder.upsamples.9.residual.3.gamma"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[4096];
        write_variant(dir, "bad.safetensors", LOOM_F32, cases[i].drop, cases[i].reshape, path, sizeof path);
        wan_vae *v = NULL;
        loom_error err = {0};
        CHECK(wan_vae_load(path, LOOM_PREC_F32, &v, &err) != LOOM_OK && v == NULL);
        CHECK_CONTAINS(err.msg, cases[i].named);
        unlink(path);
    }
    wan_vae *v = NULL;
    loom_error err = {0};
    char path[4096];
    fixture_path("dit/forward.safetensors", path, sizeof path);     /* not a VAE at all */
    CHECK(wan_vae_load(path, LOOM_PREC_F32, &v, &err) != LOOM_OK);
    CHECK_CONTAINS(err.msg, "conv2.weight");
}

/* bf16 weights (f32 math): rounding every weight to 8 mantissa bits moves the tiny model's
 * decoded video by up to 0.035 (measured; values are in -1..1), so 0.06 catches a wrong
 * conversion or layout while allowing the rounding. */
static void check_bf16_file(const char *dir, loom_safetensors *fx)
{
    char path[4096];
    write_variant(dir, "bf16.safetensors", LOOM_BF16, NULL, NULL, path, sizeof path);
    wan_vae *v = load(path, LOOM_PREC_F32);
    if (v)
        check_decode(v, fx, 3, "bf16 file", (fixture_tol){.abs_tol = 6e-2, .rel_tol = 0});
    wan_vae_free(v);
    unlink(path);
}

static int stop_at_second_chunk(void *ud, int64_t done, int64_t total)
{
    (void)ud, (void)total;
    return done == 1 ? LOOM_ERR_INTERRUPTED : LOOM_OK;
}

static void check_tiling_and_interrupt(const wan_vae *v, loom_safetensors *fx)
{
    loom_tensor *z = fixture_tensor(fx, "decode_T3.z_denorm");
    if (!z)
        return;
    int64_t T = 3, h = z->shape[3], w = z->shape[4], H = 8 * h, W = 8 * w, F = 9, plane = H * W;
    float *full = decode(v, z->data, T, h, w), *tiled = malloc((size_t)(3 * F * plane) * sizeof *tiled);
    loom_error err = {0};

    /* One tile covering everything is the plain decode. */
    vae_tiling one = {T, h, w, 0, 0, 0};
    CHECK(wan_vae_decode_tiled(v, z->data, T, h, w, &one, tiled, NULL, NULL, &err) == LOOM_OK);
    CHECK(memcmp(full, tiled, (size_t)(3 * F * plane) * sizeof *full) == 0);

    /* Time tiles of 2 latent frames overlapping by 1: frames 0..3 come from the first tile
     * alone, which is causal, so they equal the plain decode's. */
    vae_tiling in_time = {2, h, w, 1, 0, 0};
    CHECK(wan_vae_decode_tiled(v, z->data, T, h, w, &in_time, tiled, NULL, NULL, &err) == LOOM_OK);
    double worst = 0;
    for (int64_t c = 0; c < 3; c++)
        for (int64_t i = 0; i < 4 * plane; i++)
            worst = fmax(worst, fabs(full[c * F * plane + i] - tiled[c * F * plane + i]));
    CHECK_MSG(worst <= 1e-6, "time tiles: first frames differ by %g", worst);

    /* Space tiles 2x3 cells overlapping by 1: pixels [0,8) x [0,16) are only in the first
     * tile, so they equal a decode of that tile's latent. */
    vae_tiling in_space = {T, 2, 3, 1, 1, 1};
    CHECK(wan_vae_decode_tiled(v, z->data, T, h, w, &in_space, tiled, NULL, NULL, &err) == LOOM_OK);
    float *sub = malloc((size_t)(16 * T * 2 * 3) * sizeof *sub);
    const float *zd = z->data;
    for (int64_t k = 0; k < 16 * T; k++)
        for (int64_t i = 0; i < 2; i++)
            memcpy(sub + (k * 2 + i) * 3, zd + (k * h + i) * w, 3 * sizeof *sub);
    float *corner = decode(v, sub, T, 2, 3);
    worst = 0;
    for (int64_t c = 0; c < 3 * F; c++)
        for (int64_t i = 0; i < 8; i++)
            for (int64_t j = 0; j < 16; j++)
                worst = fmax(worst, fabs(corner[(c * 16 + i) * 24 + j] - tiled[(c * H + i) * W + j]));
    CHECK_MSG(worst <= 1e-6, "space tiles: the corner differs by %g", worst);
    int finite = 1;
    for (int64_t i = 0; i < 3 * F * plane; i++)
        finite &= isfinite(tiled[i]) != 0;
    CHECK(finite);

    /* Interrupting stops at the next chunk with the caller's status. */
    collect c = {full, F, 0};
    CHECK(wan_vae_decode(v, z->data, T, h, w, collect_frames, &c, stop_at_second_chunk, NULL, &err) ==
          LOOM_ERR_INTERRUPTED);
    CHECK(c.calls == 1);
    free(corner);
    free(sub);
    free(full);
    free(tiled);
    loom_tensor_unref(z);
}

int main(void)
{
    loom_safetensors *fx = fixture_open("vae/vae_outputs.safetensors");
    CHECK(fx != NULL);
    if (!fx)
        return check_summary("test_vae_model");
    char path[4096];
    fixture_path(TINY_VAE, path, sizeof path);
    wan_vae *v = load(path, LOOM_PREC_F32);
    if (v) {
        for (int T = 1; T <= 3; T++)
            check_decode(v, fx, T, "original naming", f32_tol);
        for (int F = 1; F <= 9; F += 4)
            check_encode(v, fx, F, "original naming", f32_tol);
        check_tiling_and_interrupt(v, fx);
    }
    wan_vae_free(v);

    fixture_path(TINY_DIFFUSERS, path, sizeof path);
    v = load(path, LOOM_PREC_F32);
    if (v) {
        check_decode(v, fx, 3, "diffusers folder", f32_tol);
        check_encode(v, fx, 9, "diffusers folder", f32_tol);
    }
    wan_vae_free(v);

    char dir[] = "/tmp/loom_vae_test_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    check_bad_files(dir);
    check_bf16_file(dir, fx);
    rmdir(dir);
    loom_safetensors_close(fx);
    return check_summary("test_vae_model");
}
