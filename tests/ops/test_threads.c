/* test_threads.c: the pool covers every index exactly once, nested regions run inline,
 * the grain is honoured, and changing the thread count takes effect. */
#include "ops_test.h"
#include "loom/threads.h"

#include <string.h>

static int hits[100000];
static int max_tid;

static void mark(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)ctx;
    for (int64_t i = b; i < e; i++) __atomic_add_fetch(&hits[i], 1, __ATOMIC_RELAXED);
    if (tid > max_tid) __atomic_store_n(&max_tid, tid, __ATOMIC_RELAXED);
}

static void nested(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)ctx;
    CHECK_MSG(loom_threads_in_parallel(), "inside a region");
    for (int64_t i = b; i < e; i++) {
        int inner_tid = -1;
        loom_parallel_for(1, mark, NULL);  /* marks hits[0] */
        (void)inner_tid;
    }
    CHECK_MSG(loom_thread_id() == tid, "thread id");
}

static int64_t grain_bad;
static void grain_check(void *ctx, int64_t b, int64_t e, int tid)
{
    (void)tid;
    int64_t n = *(int64_t *)ctx;
    if (b % 64 != 0 || (e % 64 != 0 && e != n)) __atomic_add_fetch(&grain_bad, 1, __ATOMIC_RELAXED);
}

int main(void)
{
    printf("threads: %d\n", loom_threads_count());
    for (int round = 0; round < 2000; round++) {
        int64_t n = 1 + (round * 7919) % 99999;
        memset(hits, 0, sizeof hits);
        loom_parallel_for(n, mark, NULL);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) ok &= hits[i] == 1;
        CHECK_MSG(ok, "round %d n %lld: an index was missed or repeated", round, (long long)n);
        if (!ok) break;
    }
    printf("2000 regions of 1..99999 items: every index exactly once\n");
    memset(hits, 0, sizeof hits);
    loom_parallel_for(10, nested, NULL);
    CHECK_MSG(hits[0] == 10, "nested regions ran inline (%d)", hits[0]);
    printf("nested regions run inline on the calling thread\n");
    int64_t n = 1000;
    loom_parallel_for_grain(n, 64, grain_check, &n);
    CHECK_MSG(grain_bad == 0, "grain");
    printf("grain 64 honoured\n");
    loom_threads_set_count(1);
    max_tid = 0;
    loom_parallel_for(1000, mark, NULL);
    CHECK_MSG(loom_threads_count() == 1 && max_tid == 0, "set_count(1) runs on the caller");
    loom_threads_set_count(0);
    printf("set_count(1) serialises; set_count(0) restores %d\n", loom_threads_count());
    return check_summary("test_threads");
}
