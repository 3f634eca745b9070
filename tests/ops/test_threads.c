/* test_threads.c: the pool covers every index exactly once, nested regions run inline,
 * the grain is honoured, and changing the thread count takes effect; physical cores are
 * counted from a CPU topology tree written here (SMT pairs, a sibling list with commas,
 * CPUs without SMT, a missing tree). */
#define _GNU_SOURCE
#include "ops_test.h"
#include "loom/threads.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* dir/cpuN/topology/thread_siblings_list = siblings[N] for N < n */
static void write_topology(const char *dir, const char *const *siblings, int n)
{
    char path[512];
    mkdir(dir, 0755);
    for (int c = 0; c < n; c++) {
        snprintf(path, sizeof path, "%s/cpu%d", dir, c);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/cpu%d/topology", dir, c);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/cpu%d/topology/thread_siblings_list", dir, c);
        FILE *f = fopen(path, "w");
        if (f) {
            fprintf(f, "%s\n", siblings[c]);
            fclose(f);
        }
    }
}

static void remove_topology(const char *dir, int n)
{
    char path[512];
    for (int c = 0; c < n; c++) {
        snprintf(path, sizeof path, "%s/cpu%d/topology/thread_siblings_list", dir, c);
        unlink(path);
        snprintf(path, sizeof path, "%s/cpu%d/topology", dir, c);
        rmdir(path);
        snprintf(path, sizeof path, "%s/cpu%d", dir, c);
        rmdir(path);
    }
    rmdir(dir);
}

static void test_cpu_cores(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[256];
    snprintf(dir, sizeof dir, "%s/loom_topology_%d", tmp, (int)getpid());
    /* 2 cores x 2 threads numbered like Intel desktops (0,4 / 1,5 ...) plus 2 CPUs with no SMT */
    const char *const siblings[] = {"0,4", "1,5", "2,6", "3,7", "0,4", "1,5", "2,6", "3,7", "8", "9"};
    write_topology(dir, siblings, 10);
    const int all[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, pair[] = {0, 4}, spread[] = {0, 1, 5, 9};
    CHECK_MSG(loom_cpu_cores(dir, all, 10) == 6, "10 CPUs on 6 cores: %d", loom_cpu_cores(dir, all, 10));
    CHECK_MSG(loom_cpu_cores(dir, pair, 2) == 1, "two siblings are one core: %d", loom_cpu_cores(dir, pair, 2));
    CHECK_MSG(loom_cpu_cores(dir, spread, 4) == 3, "CPUs 0 1 5 9 are 3 cores: %d", loom_cpu_cores(dir, spread, 4));
    const char *const ranges[] = {"0-1", "0-1", "2-3", "2-3"};
    remove_topology(dir, 10);
    write_topology(dir, ranges, 4);
    CHECK_MSG(loom_cpu_cores(dir, all, 4) == 2, "ranges 0-1, 2-3: %d", loom_cpu_cores(dir, all, 4));
    CHECK_MSG(loom_cpu_cores(dir, all, 5) == 0, "a CPU without topology gives 0 (fall back)");
    remove_topology(dir, 4);
    CHECK_MSG(loom_cpu_cores(dir, all, 4) == 0, "a missing tree gives 0");
    /* this machine: at least one core, at most one per CPU we may use */
    cpu_set_t set;
    int mine = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    int cores = loom_cpu_cores(NULL, NULL, 0);
    CHECK_MSG(cores >= 0 && cores <= mine, "this machine: %d cores for %d CPUs", cores, mine);
    if (cores > 0)
        CHECK_MSG(loom_threads_count() == cores || getenv("LOOM_THREADS"),
                  "default thread count %d is the core count %d", loom_threads_count(), cores);
    printf("physical cores: SMT siblings count once (6 of 10, 1 of 2, 3 of 4, ranges), no tree -> 0; "
           "this machine %d of %d CPUs\n", cores, mine);
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
    test_cpu_cores();
    return check_summary("test_threads");
}
