/* bench_ops.c: loom-bench-ops, kernel throughput against OpenBLAS and PyTorch in one run.
 *
 * For every case and thread count it alternates the two sides, A B A B ..., and reports
 * the median of the per-pair time ratios (baseline / loom), never a ratio of two separate
 * absolute timings: on this machine the AMX rate swings 2-3x between seconds, and the
 * alternation puts both sides of a pair under the same conditions. PyTorch runs in a
 * coprocess (bench_torch.py, one command per line over a pipe), so it never shares the
 * CPU with loom; without a Python that imports torch the torch columns show "-".
 *
 *   loom-bench-ops [--quick] [--threads 1,2] [--pairs N] [--no-torch] [--python PATH]
 *
 * --clock cpu times one-thread runs by thread CPU time on both sides (for a shared machine
 * where other jobs preempt the benchmark); the default is wall time.
 * --quick (under a minute): three GEMMs at M = 1560, bf16 self-attention at S = 1560, three
 * pairs each; the full run covers every DiT shape, cross-attention and f32 attention.
 *
 * Columns: GFLOP/s from the median loom time; % of the peak measured just before the
 * case on the same thread count (AMX bf16 peak for bf16 rows, AVX-512 FMA peak for f32);
 * xBLAS = OpenBLAS f32 time / loom time (same process, loom's OpenBLAS backend);
 * xTorch = PyTorch time / loom time for the same dtype and work; xSDPA = the same against
 * F.scaled_dot_product_attention (PyTorch's fused CPU flash kernel), bf16 only.
 */
#define _GNU_SOURCE
#include "loom/ops.h"
#include "loom/threads.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef LOOM_BENCH_TORCH_SCRIPT
#define LOOM_BENCH_TORCH_SCRIPT "bench_torch.py"
#endif

double bench_peak(int amx, int threads);

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* --clock cpu: time single-threaded runs by the calling thread's CPU time (both sides), so
 * a busy shared machine preempting either process does not count as its time. */
static int use_cpu_clock;

static double bench_clock(void)
{
    if (!use_cpu_clock) return bench_now();
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double bench_clock_peak(void) { return bench_clock(); }

/* ---- the PyTorch coprocess ------------------------------------------------------------ */

typedef struct torch_proc {
    pid_t pid;
    FILE *to, *from;
    char  version[64];
} torch_proc;

static int torch_start(torch_proc *tp, const char *python, const char *script)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        execlp(python, python, script, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    tp->pid = pid;
    tp->to = fdopen(in[1], "w");
    tp->from = fdopen(out[0], "r");
    char line[256];
    if (!fgets(line, sizeof line, tp->from) || strncmp(line, "ready ", 6) != 0) {
        fclose(tp->to);
        fclose(tp->from);
        waitpid(pid, NULL, 0);
        tp->pid = 0;
        return -1;
    }
    snprintf(tp->version, sizeof tp->version, "%.60s", line + 6);
    tp->version[strcspn(tp->version, "\n")] = 0;
    return 0;
}

static int torch_cmd(torch_proc *tp, const char *cmd, char *reply, size_t cap)
{
    if (!tp->pid) return -1;
    fprintf(tp->to, "%s\n", cmd);
    fflush(tp->to);
    if (!fgets(reply, (int)cap, tp->from)) { tp->pid = 0; return -1; }
    reply[strcspn(reply, "\n")] = 0;
    return strncmp(reply, "error", 5) == 0 ? -1 : 0;
}

static double torch_run(torch_proc *tp, int reps)
{
    char cmd[64], reply[128];
    snprintf(cmd, sizeof cmd, "run %d%s", reps, use_cpu_clock ? " cpu" : "");
    if (torch_cmd(tp, cmd, reply, sizeof reply)) return NAN;
    return atof(reply);
}

static void torch_stop(torch_proc *tp)
{
    if (!tp->pid) return;
    fprintf(tp->to, "quit\n");
    fclose(tp->to);
    fclose(tp->from);
    waitpid(tp->pid, NULL, 0);
    tp->pid = 0;
}

/* ---- measurement ----------------------------------------------------------------------- */

typedef void (*bench_fn)(void *ctx);

static double time_reps(bench_fn fn, void *ctx, int reps)
{
    double t = bench_clock();
    for (int i = 0; i < reps; i++) fn(ctx);
    return (bench_clock() - t) / reps;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Reps so one measurement lasts about `target` seconds. */
static int pick_reps(bench_fn fn, void *ctx, double target)
{
    double t = time_reps(fn, ctx, 1);
    int r = t > 0 ? (int)(target / t) : 1;
    return r < 1 ? 1 : r > 200 ? 200 : r;
}

/* Alternate loom (a) and a baseline (b: another loom function, or torch when b == NULL);
 * returns the median loom time, the median ratio t_b / t_a in *ratio. */
static double alternate(bench_fn a, void *actx, bench_fn b, void *bctx, torch_proc *tp, int pairs, double target,
                        double *ratio)
{
    int ra = pick_reps(a, actx, target);
    int rb = b ? pick_reps(b, bctx, target) : 0;
    if (!b) {
        double t1 = torch_run(tp, 1);                  /* warm-up and sizing */
        rb = t1 > 0 ? (int)(target / t1) : 1;
        if (rb < 1) rb = 1;
        if (rb > 200) rb = 200;
    }
    double ta[64], rt[64];
    int n = 0;
    for (int p = 0; p < pairs && p < 64; p++) {
        double x = time_reps(a, actx, ra);
        double y = b ? time_reps(b, bctx, rb) : torch_run(tp, rb);
        if (!(y > 0)) { *ratio = NAN; return median(ta, n > 0 ? n : 1); }
        ta[n] = x;
        rt[n++] = y / x;
    }
    *ratio = median(rt, n);
    return median(ta, n);
}

static double alone(bench_fn a, void *actx, int pairs, double target)
{
    int ra = pick_reps(a, actx, target);
    double ta[64];
    for (int p = 0; p < pairs && p < 64; p++) ta[p] = time_reps(a, actx, ra);
    return median(ta, pairs < 64 ? pairs : 64);
}

/* ---- cases ------------------------------------------------------------------------------- */

typedef struct lin_case {
    loom_linear *l;
    float       *x, *y;
    int64_t      M;
} lin_case;

static void run_linear(void *p)
{
    lin_case *c = p;
    loom_linear_forward(c->l, c->x, c->M, c->y);
}

typedef struct att_case {
    loom_attention_params p;
} att_case;

static void run_attention(void *p)
{
    att_case *c = p;
    loom_error err;
    loom_attention(&c->p, &err);
}

static void fill(float *x, int64_t n, float s)
{
    uint64_t r = 0x12345678abcdefull;
    for (int64_t i = 0; i < n; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        x[i] = ((float)(r >> 40) / (float)(1 << 24) - 0.5f) * 2.0f * s;
    }
}

static void fmt_ratio(char *buf, size_t cap, double r)
{
    if (isnan(r)) snprintf(buf, cap, "-");
    else snprintf(buf, cap, "%.2fx", r);
}

int main(int argc, char **argv)
{
    int quick = 0, pairs = 0, use_torch = 1;
    int threads[8] = {1, 2}, nthreads = 2;
    const char *python = getenv("LOOM_BENCH_PYTHON");
    const char *script = LOOM_BENCH_TORCH_SCRIPT;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--no-torch")) use_torch = 0;
        else if (!strcmp(argv[i], "--pairs") && i + 1 < argc) pairs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clock") && i + 1 < argc) use_cpu_clock = !strcmp(argv[++i], "cpu");
        else if (!strcmp(argv[i], "--python") && i + 1 < argc) python = argv[++i];
        else if (!strcmp(argv[i], "--torch-script") && i + 1 < argc) script = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthreads = 0;
            for (char *s = strtok(argv[++i], ","); s && nthreads < 8; s = strtok(NULL, ",")) threads[nthreads++] = atoi(s);
        } else {
            fprintf(stderr, "usage: %s [--quick] [--threads 1,2] [--pairs N] [--clock wall|cpu] [--no-torch] "
                            "[--python PATH] [--torch-script PATH]\n", argv[0]);
            return 2;
        }
    }
    if (pairs <= 0) pairs = quick ? 3 : 7;
    double target = quick ? 0.03 : 0.15;          /* seconds per measurement */

    char desc[256];
    printf("loom-bench-ops: %s\n", loom_ops_describe(desc, sizeof desc));
    /* Start torch after loom loaded OpenBLAS: the child inherits OPENBLAS_CORETYPE, so
     * both sides use the same OpenBLAS kernels. */
    torch_proc tp = {0};
    if (use_torch) {
        const char *cands[] = {python, "python3", "/usr/bin/python3"};
        for (int i = 0; i < 3 && !tp.pid; i++)
            if (cands[i] && torch_start(&tp, cands[i], script) == 0)
                printf("baseline: PyTorch %s (%s), coprocess, alternating A B A B\n", tp.version, cands[i]);
        if (!tp.pid) printf("baseline: PyTorch not found (set LOOM_BENCH_PYTHON); torch columns skipped\n");
    }
    if (use_cpu_clock) {
        /* CPU time only means something for one thread per side. */
        nthreads = 1;
        threads[0] = 1;
    }
    printf("pairs per case: %d, median of per-pair ratios, clock: %s\n\n", pairs,
           use_cpu_clock ? "thread CPU time (1 thread)" : "wall");

    static const int64_t gemm_full[][3] = {
        {256, 1536, 1536}, {256, 1536, 8960}, {256, 8960, 1536},
        {1560, 1536, 1536}, {1560, 1536, 8960}, {1560, 8960, 1536},
        {4096, 1536, 1536}, {4096, 1536, 8960}, {4096, 8960, 1536},
        {1560, 64, 1536}, {256, 64, 64},
    };
    static const int64_t gemm_quick[][3] = {{1560, 1536, 1536}, {1560, 8960, 1536}, {1560, 64, 1536}};
    static const int64_t att_full[][2] = {{1560, 1560}, {4096, 4096}, {1560, 512}};
    static const int64_t att_quick[][2] = {{1560, 1560}};
    const int64_t (*gemms)[3] = quick ? gemm_quick : gemm_full;
    int ngemm = quick ? 3 : (int)(sizeof gemm_full / sizeof gemm_full[0]);
    const int64_t (*atts)[2] = quick ? att_quick : att_full;
    int natt = quick ? 1 : 3;

    double t_start = bench_now();
    for (int ti = 0; ti < nthreads; ti++) {
        int T = threads[ti];
        loom_threads_set_count(T);
        char reply[128], cmd[128];
        snprintf(cmd, sizeof cmd, "threads %d", T);
        if (tp.pid) torch_cmd(&tp, cmd, reply, sizeof reply);
        double pk_amx = bench_peak(1, T), pk_f32 = bench_peak(0, T);
        printf("== %d thread%s: measured peak AMX bf16 %.0f GFLOP/s, AVX-512 f32 %.0f GFLOP/s ==\n", T, T > 1 ? "s" : "",
               pk_amx, pk_f32);
        printf("GEMM y = x W^T    M     K     N | bf16 GF/s  %%peak  xBLAS  xTorch | f32 GF/s  %%peak  xTorch\n");
        for (int gi = 0; gi < ngemm; gi++) {
            int64_t M = gemms[gi][0], K = gemms[gi][1], N = gemms[gi][2];
            float *w = malloc(sizeof(float) * (size_t)(N * K)), *x = malloc(sizeof(float) * (size_t)(M * K));
            float *y = malloc(sizeof(float) * (size_t)(M * N));
            fill(w, N * K, 1.0f / sqrtf((float)K));
            fill(x, M * K, 1.0f);
            loom_error err;
            loom_linear_opts ob = {LOOM_BACKEND_AUTO, LOOM_PREC_AUTO}, of = {LOOM_BACKEND_OPENBLAS, LOOM_PREC_F32};
            lin_case cb = {loom_linear_new_f32(w, NULL, N, K, &ob, &err), x, y, M};
            lin_case cf = {loom_linear_new_f32(w, NULL, N, K, &of, &err), x, malloc(sizeof(float) * (size_t)(M * N)), M};
            double fl = 2.0 * (double)M * (double)N * (double)K;
            double r_blas, r_tb = NAN, r_tf = NAN;
            double tb = alternate(run_linear, &cb, run_linear, &cf, NULL, pairs, target, &r_blas);
            if (tp.pid) {
                snprintf(cmd, sizeof cmd, "linear bf16 %lld %lld %lld", (long long)M, (long long)K, (long long)N);
                if (!torch_cmd(&tp, cmd, reply, sizeof reply)) alternate(run_linear, &cb, NULL, NULL, &tp, pairs, target, &r_tb);
            }
            double tf;
            if (tp.pid) {
                snprintf(cmd, sizeof cmd, "linear f32 %lld %lld %lld", (long long)M, (long long)K, (long long)N);
                tf = torch_cmd(&tp, cmd, reply, sizeof reply) ? alone(run_linear, &cf, pairs, target)
                                                             : alternate(run_linear, &cf, NULL, NULL, &tp, pairs, target, &r_tf);
            } else {
                tf = alone(run_linear, &cf, pairs, target);
            }
            char a[16], b[16], c[16];
            fmt_ratio(a, sizeof a, r_blas);
            fmt_ratio(b, sizeof b, r_tb);
            fmt_ratio(c, sizeof c, r_tf);
            printf("  %-12s %5lld %5lld %5lld | %9.0f %5.0f%% %6s %7s | %8.0f %5.0f%% %7s\n",
                   loom_backend_name(loom_linear_backend(cb.l)), (long long)M, (long long)K, (long long)N, fl / tb * 1e-9,
                   pk_amx > 0 ? 100.0 * fl / tb * 1e-9 / pk_amx : 0.0, a, b, fl / tf * 1e-9,
                   pk_f32 > 0 ? 100.0 * fl / tf * 1e-9 / pk_f32 : 0.0, c);
            fflush(stdout);
            loom_linear_free(cb.l);
            loom_linear_free(cf.l);
            free(w); free(x); free(y); free(cf.y);
        }
        printf("attention 12 heads x 128   Sq    Sk | bf16 ms  GF/s  %%peak  xTorch  xSDPA | f32 ms  GF/s  xTorch\n");
        for (int ai = 0; ai < natt; ai++) {
            int64_t sq = atts[ai][0], sk = atts[ai][1];
            const int H = 12, D = 128;
            float *q = malloc(sizeof(float) * (size_t)(sq * H * D)), *k = malloc(sizeof(float) * (size_t)(sk * H * D));
            float *v = malloc(sizeof(float) * (size_t)(sk * H * D)), *o = malloc(sizeof(float) * (size_t)(sq * H * D));
            fill(q, sq * H * D, 1.0f); fill(k, sk * H * D, 1.0f); fill(v, sk * H * D, 1.0f);
            att_case cb = {{0}}, cf;
            cb.p.sq = sq; cb.p.sk = sk; cb.p.heads = H; cb.p.head_dim = D;
            cb.p.q = q; cb.p.k = k; cb.p.v = v; cb.p.out = o;
            cf = cb;
            cf.p.precision = LOOM_PREC_F32;
            double fl = 4.0 * (double)sq * (double)sk * H * D;
            double r_tb = NAN, r_ts = NAN, r_tf = NAN, tb, tf;
            if (tp.pid) {
                snprintf(cmd, sizeof cmd, "attn bf16 %lld %lld %d %d", (long long)sq, (long long)sk, H, D);
                tb = torch_cmd(&tp, cmd, reply, sizeof reply) ? alone(run_attention, &cb, pairs, target)
                                                             : alternate(run_attention, &cb, NULL, NULL, &tp, pairs, target, &r_tb);
                snprintf(cmd, sizeof cmd, "sdpa bf16 %lld %lld %d %d", (long long)sq, (long long)sk, H, D);
                if (!torch_cmd(&tp, cmd, reply, sizeof reply))
                    alternate(run_attention, &cb, NULL, NULL, &tp, pairs, target, &r_ts);
                snprintf(cmd, sizeof cmd, "attn f32 %lld %lld %d %d", (long long)sq, (long long)sk, H, D);
                tf = quick ? NAN
                     : torch_cmd(&tp, cmd, reply, sizeof reply) ? alone(run_attention, &cf, pairs, target)
                                                                : alternate(run_attention, &cf, NULL, NULL, &tp, pairs, target, &r_tf);
            } else {
                tb = alone(run_attention, &cb, pairs, target);
                tf = quick ? NAN : alone(run_attention, &cf, pairs, target);
            }
            char b[16], c[16], sd[16];
            fmt_ratio(b, sizeof b, r_tb);
            fmt_ratio(sd, sizeof sd, r_ts);
            fmt_ratio(c, sizeof c, r_tf);
            char fms[16] = "-", fgf[16] = "-";
            if (!isnan(tf)) {
                snprintf(fms, sizeof fms, "%.1f", tf * 1e3);
                snprintf(fgf, sizeof fgf, "%.0f", fl / tf * 1e-9);
            }
            printf("  %-22s %5lld %5lld | %7.1f %5.0f %5.0f%% %7s %6s | %6s %5s %7s\n", "fused flash", (long long)sq,
                   (long long)sk, tb * 1e3, fl / tb * 1e-9, pk_amx > 0 ? 100.0 * fl / tb * 1e-9 / pk_amx : 0.0, b, sd,
                   fms, fgf, c);
            fflush(stdout);
            free(q); free(k); free(v); free(o);
        }
        printf("peak after this section: AMX bf16 %.0f GFLOP/s (it drifts; ratios above are paired)\n\n",
               bench_peak(1, T));
    }
    torch_stop(&tp);
    printf("total %.1f s\n", bench_now() - t_start);
    return 0;
}
