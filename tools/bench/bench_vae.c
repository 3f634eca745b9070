/* bench_vae.c: one Wan2.1 VAE decode in loom, timed, with the process's peak memory.
 *
 *   bench_vae VAE --latent FILE [--out FILE] [--bf16] [--tile T,HW,OT,OHW] [--threads N]
 *
 * VAE is a Wan2.1 VAE file or diffusers folder (random weights from tools/make_wan_weights.py
 * for benchmarks). FILE holds the tensor "latent" [1, 16, T, h, w] f32 in VAE space, as
 * bench_vae.py writes it; --out writes the decoded "video" [1, 3, 4T-3, 8h, 8w] clamped to
 * [-1, 1] (diffusers' output) for comparison. --bf16 runs the convolutions with bf16
 * products (AMX); the default is f32. --tile decodes in tiles (latent cells: frames, side,
 * frame overlap, side overlap), as VAEDecodeTiled does. Prints "load S", "decode S" and
 * "peak_rss_mb M" lines; bench_vae.py runs it in its own process, alternating with
 * diffusers, so each peak is one process's maximum resident set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "loom/ops.h"
#include "loom/safetensors.h"
#include "loom/threads.h"
#include "vae_model.h"
#include "vae_tiled.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct video_out {
    float  *video;     /* [3, F, H, W] */
    int64_t F;
} video_out;

static int keep_frames(void *ud, const float *x, int64_t t0, int64_t n, int64_t H, int64_t W)
{
    video_out *o = ud;
    for (int64_t c = 0; c < 3; c++)
        memcpy(o->video + (c * o->F + t0) * H * W, x + c * n * H * W, (size_t)(n * H * W) * sizeof(float));
    return LOOM_OK;
}

/* Chunk progress on a terminal (a long decode shows it is alive); silent when piped. */
static int print_progress(void *ud, int64_t done, int64_t total)
{
    (void)ud;
    if (!isatty(2))
        return LOOM_OK;
    fprintf(stderr, "\r  chunk %lld/%lld", (long long)done, (long long)total);
    if (done == total)
        fputc('\n', stderr);
    return LOOM_OK;
}

static int fail(const char *what, const loom_error *err)
{
    fprintf(stderr, "bench_vae: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    const char *vae_path = NULL, *latent_path = NULL, *out_path = NULL;
    loom_precision prec = LOOM_PREC_F32;
    vae_tiling tiling = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--latent") && i + 1 < argc)
            latent_path = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out_path = argv[++i];
        else if (!strcmp(argv[i], "--bf16"))
            prec = LOOM_PREC_AUTO;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            loom_threads_set_count(atoi(argv[++i]));
        else if (!strcmp(argv[i], "--tile") && i + 1 < argc) {
            long long t, s, ot, os;
            if (sscanf(argv[++i], "%lld,%lld,%lld,%lld", &t, &s, &ot, &os) != 4) {
                fprintf(stderr, "bench_vae: --tile wants T,HW,OT,OHW\n");
                return 2;
            }
            tiling = (vae_tiling){t, s, s, ot, os, os};
        } else if (argv[i][0] != '-' && !vae_path)
            vae_path = argv[i];
        else {
            fprintf(stderr, "usage: bench_vae VAE --latent FILE [--out FILE] [--bf16] [--tile T,HW,OT,OHW] "
                            "[--threads N]\n");
            return 2;
        }
    }
    if (!vae_path || !latent_path) {
        fprintf(stderr, "bench_vae: need a VAE and --latent FILE\n");
        return 2;
    }
    char line[256];
    printf("cpu %s, %d threads, %s\n", loom_ops_describe(line, sizeof line), loom_threads_count(),
           prec == LOOM_PREC_F32 ? "f32" : "bf16 products");

    loom_error err = {0};
    loom_safetensors *st = NULL;
    if (loom_safetensors_open(latent_path, &st, &err))
        return fail("latent", &err);
    loom_tensor *z = loom_safetensors_require(st, "latent", &err), *zf = z ? loom_tensor_to_f32(z, &err) : NULL;
    loom_tensor_unref(z);
    loom_safetensors_close(st);
    if (!zf || zf->ndim != 5)
        return fail("latent [1, 16, T, h, w]", &err);
    int64_t T = zf->shape[2], h = zf->shape[3], w = zf->shape[4], F = wan_vae_video_frames(T);

    double t0 = now();
    wan_vae *v = NULL;
    if (wan_vae_load(vae_path, prec, &v, &err))
        return fail("load", &err);
    printf("load %.3f\n", now() - t0);

    video_out out = {loom_aligned_alloc((size_t)(3 * F * h * w * 64) * sizeof(float)), F};
    t0 = now();
    int rc = tiling.tile_t ? wan_vae_decode_tiled(v, zf->data, T, h, w, &tiling, out.video, print_progress,
                                                  NULL, &err)
                           : wan_vae_decode(v, zf->data, T, h, w, keep_frames, &out, print_progress, NULL, &err);
    if (rc)
        return fail("decode", &err);
    printf("decode %.3f\n", now() - t0);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb %.1f\n", (double)ru.ru_maxrss / 1024.0);

    if (out_path) {
        int64_t n = 3 * F * h * w * 64, shape[5] = {1, 3, F, 8 * h, 8 * w};
        for (int64_t i = 0; i < n; i++)
            out.video[i] = out.video[i] < -1.0f ? -1.0f : out.video[i] > 1.0f ? 1.0f : out.video[i];
        loom_tensor *vt = loom_tensor_wrap(LOOM_F32, 5, shape, out.video, NULL, NULL, &err);
        const char *names[] = {"video"};
        if (!vt || loom_safetensors_write(out_path, 1, names, &vt, NULL, &err))
            return fail("write", &err);
        loom_tensor_unref(vt);
    }
    loom_aligned_free(out.video);
    loom_tensor_unref(zf);
    wan_vae_free(v);
    return 0;
}
