/* bench_umt5.c: time loom's umT5 encoder on one prompt of N tokens (default 512, all real,
 * as a full-length Wan prompt) over a safetensors file, typically the XXL shape with random
 * weights from tools/make_wan_weights.py. tools/bench/bench_umt5.py runs this and then
 * transformers on the same file and prints the ratio.
 *
 *   bench_umt5 WEIGHTS [--tokens N] [--rounds R] [--seed S] [--out hidden.f32]
 *
 * Prints one JSON line: load seconds, every forward's seconds, peak resident memory, the
 * backend line, the weight format; --out writes the last hidden state as raw f32 [N, d].
 * The ids are a fixed pseudo-random sequence (xorshift from --seed) below the vocabulary,
 * so the Python side can make the same ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "loom/ops.h"
#include "umt5.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ids[i] = 1000 + (xorshift64 state >> 33) % (vocab - 1000): ordinary pieces, no specials. */
static void make_ids(int32_t *ids, int64_t n, uint64_t seed, int64_t vocab)
{
    uint64_t x = seed ? seed : 88172645463325252ull;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids[i] = (int32_t)(1000 + (int64_t)((x >> 33) % (uint64_t)(vocab - 1000)));
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s WEIGHTS [--tokens N] [--rounds R] [--seed S] [--out FILE]\n", argv[0]);
        return 2;
    }
    int64_t n = 512;
    int rounds = 3;
    uint64_t seed = 1;
    const char *out_path = NULL;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tokens"))
            n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--out"))
            out_path = argv[i + 1];
    }
    loom_error err = {0};
    umt5_encoder *e = NULL;
    double t0 = now();
    if (umt5_load(argv[1], &e, &err)) {
        fprintf(stderr, "bench_umt5: %s\n", err.msg);
        return 1;
    }
    double load_s = now() - t0;
    const umt5_config *c = umt5_config_of(e);
    if (c->vocab <= 1000) {
        fprintf(stderr, "bench_umt5: vocabulary of %lld is too small for the benchmark ids\n", (long long)c->vocab);
        umt5_free(e);
        return 1;
    }
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    float *hidden = malloc((size_t)(n * c->d_model) * sizeof *hidden);
    if (!ids || !hidden) {
        fprintf(stderr, "bench_umt5: out of memory\n");
        return 1;
    }
    make_ids(ids, n, seed, c->vocab);
    char backend[256];
    printf("{\"weights\": \"%s\", \"format\": \"%s\", \"tokens\": %lld, \"d_model\": %lld, \"layers\": %lld, "
           "\"backend\": \"%s\", \"load_s\": %.3f, \"forward_s\": [", argv[1], umt5_weight_format(e), (long long)n,
           (long long)c->d_model, (long long)c->n_layers, loom_ops_describe(backend, sizeof backend), load_s);
    for (int r = 0; r < rounds; r++) {
        t0 = now();
        if (umt5_forward(e, ids, n, n, hidden, NULL, NULL, &err)) {
            fprintf(stderr, "bench_umt5: %s\n", err.msg);
            return 1;
        }
        printf("%s%.4f", r ? ", " : "", now() - t0);
        fflush(stdout);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("], \"peak_rss_gb\": %.2f, \"packed_gb\": %.2f}\n", (double)ru.ru_maxrss / (1 << 20),
           (double)umt5_bytes(e) / 1e9);
    if (out_path) {
        FILE *f = fopen(out_path, "wb");
        if (!f || fwrite(hidden, sizeof *hidden, (size_t)(n * c->d_model), f) != (size_t)(n * c->d_model)) {
            fprintf(stderr, "bench_umt5: cannot write %s\n", out_path);
            return 1;
        }
        fclose(f);
    }
    free(ids);
    free(hidden);
    umt5_free(e);
    return 0;
}
