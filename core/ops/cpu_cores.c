/* cpu_cores.c: how many physical cores a set of logical CPUs spans.
 *
 * The thread pool runs one thread per physical core by default, as PyTorch does: SMT
 * siblings share one core's AMX unit, L1 and L2, and loom's tile kernels size their
 * blocks to one core's caches, so a second thread on the same core mostly evicts the
 * first one's data (on this project's VM, when its two vCPUs shared one AMX unit, the
 * GEMM ran at 0.8x on two threads of what it ran on one).
 *
 * Linux lists each CPU's SMT siblings in cpuN/topology/thread_siblings_list ("0-1",
 * "0,64", or "5" without SMT), sorted, so the first number names the core.
 */
#define _GNU_SOURCE
#include "loom/threads.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#define SYSFS_CPU_DIR "/sys/devices/system/cpu"

/* First CPU listed as a sibling of `cpu` (the core's name), or -1 if unreadable. */
static int core_of(const char *cpu_dir, int cpu)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cpu%d/topology/thread_siblings_list", cpu_dir, cpu);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int first = -1;
    if (fscanf(f, "%d", &first) != 1 || first < 0) first = -1;
    fclose(f);
    return first;
}

int loom_cpu_cores(const char *cpu_dir, const int *cpus, int ncpus)
{
    int own[LOOM_CPU_LIST_MAX];
    if (!cpu_dir) cpu_dir = SYSFS_CPU_DIR;
    if (!cpus) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
        ncpus = 0;
        for (int c = 0; c < CPU_SETSIZE && ncpus < LOOM_CPU_LIST_MAX; c++)
            if (CPU_ISSET(c, &set)) own[ncpus++] = c;
        cpus = own;
    }
    if (ncpus <= 0 || ncpus > LOOM_CPU_LIST_MAX) return 0;
    int cores[LOOM_CPU_LIST_MAX], ncores = 0;
    for (int i = 0; i < ncpus; i++) {
        int core = core_of(cpu_dir, cpus[i]);
        if (core < 0) return 0;   /* no topology (some containers): the caller falls back */
        int seen = 0;
        for (int j = 0; j < ncores && !seen; j++) seen = cores[j] == core;
        if (!seen) cores[ncores++] = core;
    }
    return ncores;
}
