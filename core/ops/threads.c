/* threads.c: the process-wide pool behind loom_parallel_for.
 *
 * Workers 1..n-1 wait for a generation counter to change, spinning briefly (a region
 * usually follows another within microseconds during a forward pass) and then sleeping
 * on a condition variable. A region publishes its job, bumps the generation, runs part 0
 * on the calling thread and waits until every worker has checked in. Every created worker
 * checks in for every region (those without a part just acknowledge), so a worker can never
 * mistake the next region's job for the one it woke up for. One region at a time: a mutex
 * serialises callers from different application threads; nested calls run inline.
 */
#define _GNU_SOURCE
#include "loom/threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif


/* Spin iterations before a waiting thread sleeps: about 0.1-0.3 ms (pause is ~140 cycles
 * on Sapphire Rapids), longer than the gap between the ops of a forward pass. */
#define POOL_SPIN 2000

static struct pool {
    pthread_once_t  once;
    pthread_mutex_t region_lock;     /* one region at a time */
    pthread_mutex_t mu;
    pthread_cond_t  cv_work, cv_done;
    pthread_t       th[LOOM_THREADS_MAX];
    int             created;          /* workers running (excluding the caller) */
    int             active;           /* threads a region uses, caller included */
    int             sleepers;
    /* current job */
    loom_range_fn   fn;
    void           *ctx;
    int64_t         n, grain;
    int             nparts;
    unsigned        gen;
    int             remaining;
    unsigned        start_gen[LOOM_THREADS_MAX];  /* gen when worker i was created */
} P = {.once = PTHREAD_ONCE_INIT,
       .region_lock = PTHREAD_MUTEX_INITIALIZER,
       .mu = PTHREAD_MUTEX_INITIALIZER,
       .cv_work = PTHREAD_COND_INITIALIZER,
       .cv_done = PTHREAD_COND_INITIALIZER};

static __thread int tl_in_region;
static __thread int tl_tid;

static void run_part(int tid)
{
    int64_t units = (P.n + P.grain - 1) / P.grain;
    int64_t u0 = units * tid / P.nparts, u1 = units * (tid + 1) / P.nparts;
    int64_t b = u0 * P.grain, e = u1 * P.grain;
    if (e > P.n) e = P.n;
    if (b < e) P.fn(P.ctx, b, e, tid);
}

static void *worker_main(void *arg)
{
    int tid = (int)(intptr_t)arg;
    tl_tid = tid;
    tl_in_region = 1;           /* anything a worker calls is inside a region */
    /* The generation current when this worker was created: a region may already have
     * been published before the thread got to run, and it must not be missed. */
    unsigned seen = P.start_gen[tid];
    for (;;) {
        unsigned g = seen;
        for (int i = 0; i < POOL_SPIN; i++) {
            g = __atomic_load_n(&P.gen, __ATOMIC_ACQUIRE);
            if (g != seen) break;
            CPU_RELAX();
        }
        if (g == seen) {
            pthread_mutex_lock(&P.mu);
            P.sleepers++;
            while ((g = __atomic_load_n(&P.gen, __ATOMIC_ACQUIRE)) == seen) pthread_cond_wait(&P.cv_work, &P.mu);
            P.sleepers--;
            pthread_mutex_unlock(&P.mu);
        }
        seen = g;
        if (tid < P.nparts) run_part(tid);
        if (__atomic_sub_fetch(&P.remaining, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_signal(&P.cv_done);
            pthread_mutex_unlock(&P.mu);
        }
    }
    return NULL;
}

static int default_count(void)
{
    const char *s = getenv("LOOM_THREADS");
    long n = s && *s ? atoi(s) : 0;
    if (n < 1) n = loom_cpu_cores(NULL, NULL, 0);
    if (n < 1) {   /* no topology: every CPU we may run on */
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    }
    if (n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > LOOM_THREADS_MAX ? LOOM_THREADS_MAX : (int)n;
}

static void pool_init(void)
{
    P.active = default_count();
}

/* Called with region_lock held. */
static void pool_grow(int want_workers)
{
    while (P.created < want_workers) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        P.start_gen[P.created + 1] = __atomic_load_n(&P.gen, __ATOMIC_RELAXED);
        int rc = pthread_create(&P.th[P.created], &a, worker_main, (void *)(intptr_t)(P.created + 1));
        pthread_attr_destroy(&a);
        if (rc != 0) break;
        P.created++;
    }
    if (P.active > P.created + 1) P.active = P.created + 1;
}

int loom_threads_count(void)
{
    pthread_once(&P.once, pool_init);
    return P.active;
}

void loom_threads_set_count(int n)
{
    pthread_once(&P.once, pool_init);
    pthread_mutex_lock(&P.region_lock);
    P.active = n <= 0 ? default_count() : n > LOOM_THREADS_MAX ? LOOM_THREADS_MAX : n;
    pthread_mutex_unlock(&P.region_lock);
}

int loom_threads_in_parallel(void) { return tl_in_region; }
int loom_thread_id(void) { return tl_tid; }

void loom_parallel_for_grain(int64_t n, int64_t grain, loom_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    pthread_once(&P.once, pool_init);
    int64_t units = (n + grain - 1) / grain;
    if (tl_in_region || P.active <= 1 || units <= 1) {
        fn(ctx, 0, n, tl_tid);
        return;
    }
    pthread_mutex_lock(&P.region_lock);
    if (P.created < P.active - 1) pool_grow(P.active - 1);
    int nparts = (int)(units < P.active ? units : P.active);
    if (P.created == 0 || nparts <= 1) {
        pthread_mutex_unlock(&P.region_lock);
        fn(ctx, 0, n, tl_tid);
        return;
    }
    P.fn = fn;
    P.ctx = ctx;
    P.n = n;
    P.grain = grain;
    P.nparts = nparts;
    __atomic_store_n(&P.remaining, P.created, __ATOMIC_RELAXED);
    pthread_mutex_lock(&P.mu);
    __atomic_add_fetch(&P.gen, 1, __ATOMIC_RELEASE);
    if (P.sleepers) pthread_cond_broadcast(&P.cv_work);
    pthread_mutex_unlock(&P.mu);

    tl_in_region = 1;
    tl_tid = 0;
    run_part(0);
    tl_in_region = 0;

    int done = 0;
    for (int i = 0; i < POOL_SPIN && !done; i++) {
        done = __atomic_load_n(&P.remaining, __ATOMIC_ACQUIRE) == 0;
        if (!done) CPU_RELAX();
    }
    if (!done) {
        pthread_mutex_lock(&P.mu);
        while (__atomic_load_n(&P.remaining, __ATOMIC_ACQUIRE) != 0) pthread_cond_wait(&P.cv_done, &P.mu);
        pthread_mutex_unlock(&P.mu);
    }
    pthread_mutex_unlock(&P.region_lock);
}

void loom_parallel_for(int64_t n, loom_range_fn fn, void *ctx)
{
    loom_parallel_for_grain(n, 1, fn, ctx);
}
