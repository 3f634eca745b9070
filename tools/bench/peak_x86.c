/* peak_x86.c: the machine's measured peaks, for the benchmark's "% of peak" column.
 *
 * f32: 12 independent AVX-512 FMA chains per thread (enough to cover 4-cycle latency on two
 * FMA ports). AMX: four independent TDPBF16PS accumulators fed from resident tiles. Both
 * run on `threads` threads at once through loom's pool and report the aggregate, so on
 * a machine whose two vCPUs share one AMX unit the two-thread peak says so.
 */
#include "loom/ops.h"
#include "loom/threads.h"

#include <immintrin.h>
#include <string.h>
#include <time.h>

double bench_clock_peak(void);

typedef struct peak_ctx {
    int    amx;
    long   iters;
    double flops[LOOM_THREADS_MAX];
} peak_ctx;

typedef struct tile_cfg {
    uint8_t  palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t  rows[16];
} tile_cfg;

static void peak_task(void *p, int64_t b, int64_t e, int tid)
{
    peak_ctx *c = p;
    (void)e;
    (void)b;
    if (c->amx) {
        tile_cfg cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.palette_id = 1;
        for (int i = 0; i < 8; i++) { cfg.rows[i] = 16; cfg.colsb[i] = 64; }
        __asm__ volatile("" : : "r"(&cfg) : "memory");   /* see core/ops/amx_tiles.h */
        _tile_loadconfig(&cfg);
        static _Alignas(64) unsigned char zero[1024];
        _tile_loadd(4, zero, 64); _tile_loadd(5, zero, 64); _tile_loadd(6, zero, 64); _tile_loadd(7, zero, 64);
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        for (long i = 0; i < c->iters; i++) {
            _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
        }
        _tile_release();
        c->flops[tid] = 4.0 * c->iters * 16 * 16 * 32 * 2;
    } else {
        __m512 a0 = _mm512_set1_ps(0.1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
               a9 = a0, a10 = a0, a11 = a0;
        const __m512 m = _mm512_set1_ps(0.9999f), k = _mm512_set1_ps(1e-5f);
        for (long i = 0; i < c->iters; i++) {
            a0 = _mm512_fmadd_ps(a0, m, k); a1 = _mm512_fmadd_ps(a1, m, k); a2 = _mm512_fmadd_ps(a2, m, k);
            a3 = _mm512_fmadd_ps(a3, m, k); a4 = _mm512_fmadd_ps(a4, m, k); a5 = _mm512_fmadd_ps(a5, m, k);
            a6 = _mm512_fmadd_ps(a6, m, k); a7 = _mm512_fmadd_ps(a7, m, k); a8 = _mm512_fmadd_ps(a8, m, k);
            a9 = _mm512_fmadd_ps(a9, m, k); a10 = _mm512_fmadd_ps(a10, m, k); a11 = _mm512_fmadd_ps(a11, m, k);
        }
        __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                 _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
        s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
        volatile float sink = _mm512_reduce_add_ps(s);
        (void)sink;
        c->flops[tid] = 12.0 * c->iters * 32;
    }
}

/* Aggregate GFLOP/s of `threads` threads; amx selects the AMX bf16 loop. 0 if unsupported. */
double bench_peak(int amx, int threads)
{
    unsigned f = loom_cpu_features();
    if (amx && !(f & LOOM_CPU_AMX_BF16)) return 0;
    if (!amx && !(f & LOOM_CPU_AVX512)) return 0;
    peak_ctx c;
    memset(&c, 0, sizeof c);
    c.amx = amx;
    c.iters = amx ? 400000 : 20000000;
    loom_parallel_for(threads, peak_task, &c);          /* warm up, frequency settle */
    double best = 0;
    for (int r = 0; r < 3; r++) {
        memset(c.flops, 0, sizeof c.flops);
        double t = bench_clock_peak();
        loom_parallel_for(threads, peak_task, &c);
        t = bench_clock_peak() - t;
        double fl = 0;
        for (int i = 0; i < threads; i++) fl += c.flops[i];
        if (fl / t > best) best = fl / t;
    }
    return best * 1e-9;
}
