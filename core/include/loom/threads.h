/* loom/threads.h: the one process-wide thread pool behind loom's kernels.
 *
 * loom_parallel_for(n, fn, ctx) splits [0, n) into at most loom_threads_count()
 * contiguous ranges and calls fn(ctx, begin, end, tid) once per range, the calling thread
 * taking tid 0. It returns when every range is done. A call made from inside a parallel
 * region (nested) runs inline on the calling thread, with that thread's tid, so nesting
 * never creates more threads than cores. Calls from several application threads at once
 * are serialised: one region runs at a time.
 *
 * The rule for library threads (OpenBLAS, oneDNN/OpenMP): one level of threads only.
 *   - Inside a loom parallel region a library is always called single-threaded. loom
 *     loads OpenBLAS with 1 thread (core/ops/blas.c) and its kernels split the work.
 *   - A library that parallelises internally (oneDNN's OpenMP) is only ever called from
 *     outside loom's regions, with its thread count set to loom_threads_count().
 * Nesting OpenBLAS threads inside loom threads measured 2.3x slower on this machine.
 *
 * LOOM_THREADS sets the count. The default is one thread per physical core among the CPUs
 * this process may run on (SMT siblings share a core's AMX unit and caches; PyTorch makes
 * the same choice), or every such CPU where the topology cannot be read. With MPI, give
 * each rank cores / ranks (loom_threads_set_count after MPI_Init).
 */
#ifndef LOOM_THREADS_H
#define LOOM_THREADS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most threads the pool will run, whatever LOOM_THREADS says. */
#define LOOM_THREADS_MAX 256

typedef void (*loom_range_fn)(void *ctx, int64_t begin, int64_t end, int tid);

int  loom_threads_count(void);                 /* threads a region uses (>= 1) */
void loom_threads_set_count(int n);            /* change it (1..LOOM_THREADS_MAX; <= 0 = default) */
void loom_parallel_for(int64_t n, loom_range_fn fn, void *ctx);
/* The same with a grain: ranges are multiples of `grain` items (the last may be short). */
void loom_parallel_for_grain(int64_t n, int64_t grain, loom_range_fn fn, void *ctx);
int  loom_threads_in_parallel(void);           /* nonzero inside a region */
int  loom_thread_id(void);                     /* tid of the calling thread in the current region, else 0 */

/* Most logical CPUs loom_cpu_cores looks at (Linux's CPU_SETSIZE). */
#define LOOM_CPU_LIST_MAX 1024

/* Physical cores spanned by the logical CPUs `cpus` (NULL: those this process may run on),
 * read from the Linux CPU topology under cpu_dir (NULL: /sys/devices/system/cpu); SMT
 * siblings count once. 0 when the topology cannot be read. */
int  loom_cpu_cores(const char *cpu_dir, const int *cpus, int ncpus);

#ifdef __cplusplus
}
#endif
#endif
