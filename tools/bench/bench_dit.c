/* bench_dit.c: one Wan DiT sampling step (cond + uncond as one batch of 2) in loom.
 *
 *   bench_dit MODEL [--frames T] [--height H] [--width W] [--steps N] [--serve]
 *
 * MODEL is a Wan2.1 DiT file or diffusers folder (random weights from
 * tools/make_wan_weights.py for benchmarks). The latent is [2, 16, T, H, W] (default
 * 4 x 30 x 52: 1,560 tokens per item, the token count of one 832x480 frame), the contexts
 * two random [1, 512, text_dim] tensors; cross-attention K/V are computed once in begin(),
 * as in a sampling run, and timed apart. Prints per-step seconds, the median, the FLOPs
 * of a step and their share of the machine's bf16 peak (threads x 1024 FLOP/cycle with
 * AMX-BF16, x the nominal clock from /proc/cpuinfo or LOOM_BENCH_GHZ), the resident set
 * after the steps and the peak one (which includes the file pages touched while packing).
 *
 * --serve: after loading, run one step per "step" line on stdin and answer "step SECONDS";
 * bench_dit.py drives it this way to alternate loom and PyTorch steps in the same run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "loom/model.h"
#include "loom/ops.h"
#include "loom/threads.h"
#include "loom/types.h"
#include "wan_dit.h"

/* AMX-BF16 TMUL: a 16x32 by 32x16 bf16 tile product (16*16*32 MACs) per 16 cycles. */
#define AMX_BF16_FLOP_PER_CYCLE 1024.0
#define BENCH_CONTEXT_ROWS 512

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Resident set now (VmRSS): after loading, the file mapping is gone and this is what a
 * sampling run holds (packed weights, cross-attention K/V, activation arena). */
static double current_rss_mb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f) && !kb)
        if (!strncmp(line, "VmRSS:", 6))
            kb = atof(line + 6);
    if (f)
        fclose(f);
    return kb / 1024.0;
}

static double nominal_ghz(void)
{
    const char *env = getenv("LOOM_BENCH_GHZ");
    if (env && atof(env) > 0)
        return atof(env);
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f) && !mhz)
        if (!strncmp(line, "cpu MHz", 7))
            mhz = atof(strchr(line, ':') + 1);
    if (f)
        fclose(f);
    return mhz / 1000.0;
}

/* FLOPs of one forward: the matrix products (2 per MAC) and attention (QK^T and PV). */
static double step_flops(const wan_config *c, int64_t B, int64_t L, int64_t rows)
{
    double D = (double)c->dim, F = (double)c->ffn_dim, M = (double)(B * L);
    double per_layer = 2 * M * (6 * D * D + 2 * D * F)          /* q k v o, cross q o, ffn */
                       + B * 4.0 * (double)L * (double)L * D    /* self-attention */
                       + B * 4.0 * (double)L * (double)rows * D;/* cross-attention */
    double io = 2 * M * D * ((double)c->in_dim * 4 + (double)c->out_dim * 4);
    return per_layer * c->num_layers + io;
}

static void fill_random(float *p, int64_t n, uint64_t seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        p[i] = (float)((double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int64_t T = 4, H = 30, W = 52;
    int steps = 3, serve = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--frames") && i + 1 < argc) T = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--height") && i + 1 < argc) H = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--width") && i + 1 < argc) W = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--serve")) serve = 1;
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "usage: %s MODEL [--frames T] [--height H] [--width W] [--steps N] [--serve]\n", argv[0]);
            return 2;
        }
    }
    if (!path || steps < 1) {
        fprintf(stderr, "usage: %s MODEL [--frames T] [--height H] [--width W] [--steps N] [--serve]\n", argv[0]);
        return 2;
    }
    char desc[256];
    printf("loom: %s, %d threads\n", loom_ops_describe(desc, sizeof desc), loom_threads_count());

    loom_error err = {0};
    wan_dit *m = NULL;
    double t0 = now();
    if (wan_dit_load(path, NULL, &m, &err)) {
        fprintf(stderr, "bench_dit: %s\n", err.msg);
        return 1;
    }
    const wan_config *c = &m->cfg;
    printf("model: dim %lld, %d layers, %d heads, ffn %lld; loaded in %.2f s, %.0f MB resident weights\n",
           (long long)c->dim, c->num_layers, c->num_heads, (long long)c->ffn_dim, now() - t0, (double)m->bytes / 1e6);

    loom_value *mv = wan_model_value(m, NULL);
    const loom_model *model = loom_value_object_ptr(mv, LOOM_TYPE_MODEL);
    int64_t ctx_shape[3] = {1, BENCH_CONTEXT_ROWS, c->text_dim}, x_shape[5] = {2, c->in_dim, T, H, W};
    loom_tensor *ctx[2], *x = loom_tensor_new(LOOM_F32, 5, x_shape, &err), *v = loom_tensor_new(LOOM_F32, 5, x_shape, &err);
    loom_cond_entry entries[2];
    const loom_cond_entry *entry_ptrs[2];
    for (int i = 0; i < 2; i++) {
        ctx[i] = loom_tensor_new(LOOM_F32, 3, ctx_shape, &err);
        fill_random(ctx[i]->data, loom_tensor_numel(ctx[i]), 1234567 + (uint64_t)i);
        entries[i] = (loom_cond_entry){ctx[i], BENCH_CONTEXT_ROWS};
        entry_ptrs[i] = &entries[i];
    }
    fill_random(x->data, loom_tensor_numel(x), 42);
    void *run = NULL;
    t0 = now();
    if (loom_model_begin(model, entry_ptrs, 2, &run, &err)) {
        fprintf(stderr, "bench_dit: %s\n", err.msg);
        return 1;
    }
    printf("begin (text embedding + cross-attention K/V of 2 contexts, once per run): %.3f s\n", now() - t0);

    const float timesteps[2] = {937.0f, 937.0f};
    const size_t ctx_index[2] = {1, 0};   /* the sampler's order: uncond, cond */
    const int64_t L = ((T + c->patch[0] - 1) / c->patch[0]) * ((H + c->patch[1] - 1) / c->patch[1]) *
                      ((W + c->patch[2] - 1) / c->patch[2]);
    double flops = step_flops(c, 2, L, BENCH_CONTEXT_ROWS);
    double peak = loom_threads_count() * AMX_BF16_FLOP_PER_CYCLE * nominal_ghz() * 1e9;
    printf("step: latent [2, %lld, %lld, %lld, %lld], %lld tokens per item, %.2f TFLOP per step\n",
           (long long)c->in_dim, (long long)T, (long long)H, (long long)W, (long long)L, flops / 1e12);
    fflush(stdout);

    int rc = 0;
    if (serve) {
        char line[64];
        printf("ready\n");
        fflush(stdout);
        while (fgets(line, sizeof line, stdin) && !strncmp(line, "step", 4)) {
            t0 = now();
            if ((rc = loom_model_predict(model, run, x, timesteps, ctx_index, v, &err)))
                break;
            printf("step %.4f\n", now() - t0);
            fflush(stdout);
        }
    } else {
        double *secs = calloc((size_t)steps, sizeof *secs);
        rc = loom_model_predict(model, run, x, timesteps, ctx_index, v, &err);   /* warm-up */
        for (int s = 0; s < steps && !rc; s++) {
            t0 = now();
            rc = loom_model_predict(model, run, x, timesteps, ctx_index, v, &err);
            secs[s] = now() - t0;
            printf("step %d: %.3f s\n", s + 1, secs[s]);
        }
        if (!rc) {
            qsort(secs, (size_t)steps, sizeof *secs, cmp_double);
            double med = secs[steps / 2];
            printf("median step %.3f s: %.2f TFLOP/s = %.1f%% of the bf16 peak (%.2f TFLOP/s)\n", med,
                   flops / med / 1e12, 100.0 * flops / med / peak, peak / 1e12);
        }
        free(secs);
    }
    if (rc)
        fprintf(stderr, "bench_dit: %s\n", err.msg);
    double checksum = 0;
    for (int64_t i = 0; i < loom_tensor_numel(v); i++)
        checksum += ((float *)v->data)[i];
    printf("output checksum %.6e\nrss_mb %.0f\npeak_rss_mb %.0f\n", checksum, current_rss_mb(), peak_rss_mb());
    loom_model_end(model, run);
    for (int i = 0; i < 2; i++)
        loom_tensor_unref(ctx[i]);
    loom_tensor_unref(x);
    loom_tensor_unref(v);
    loom_value_unref(mv);
    return rc ? 1 : 0;
}
