/* cpu.c: CPU feature detection and the backend choice.
 *
 * Features come from cpuid (leaf 7) and xgetbv (the OS must save the AVX-512 and AMX
 * register state). AMX additionally needs Linux to grant this process the tile data
 * state: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), asked once here. Detection
 * runs once (pthread_once) and the result never changes afterwards; the backend override
 * is the one piece of mutable state, an atomic.
 */
#define _GNU_SOURCE
#include "loom/ops.h"
#include "ops_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA  18
#endif

static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static unsigned cpu_bits;
static int backend_override = -1;   /* -1: not set by loom_ops_set_backend */

#if defined(__x86_64__)
static unsigned long long xgetbv0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static void cpu_detect(void)
{
    unsigned bits = 0;
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1;
    if (!osxsave) return;
    unsigned long long xcr0 = xgetbv0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;
    int zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
    int tile_ok = (xcr0 & 0x60000) == 0x60000;     /* XTILECFG | XTILEDATA */
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    if (ymm_ok && ((b >> 5) & 1)) bits |= LOOM_CPU_AVX2;
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    if (zmm_ok && f && dq && bw && vl) bits |= LOOM_CPU_AVX512;
    if ((bits & LOOM_CPU_AVX512) && ((d >> 23) & 1)) bits |= LOOM_CPU_AVX512FP16;
    int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1;
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    if ((bits & LOOM_CPU_AVX512) && ((a1 >> 5) & 1)) bits |= LOOM_CPU_AVX512BF16;
    if ((bits & LOOM_CPU_AVX512) && amx_tile && tile_ok && (amx_bf16 || amx_int8)) {
        /* Ask Linux for the tile data state (it is off by default for every process). */
        long rc = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
        unsigned long perm = 0;
        if (rc == 0 && syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) == 0 &&
            (perm & (1ul << XFEATURE_XTILEDATA))) {
            if (amx_bf16) bits |= LOOM_CPU_AMX_BF16;
            if (amx_int8) bits |= LOOM_CPU_AMX_INT8;
        }
    }
    (void)b1; (void)c1; (void)d1;
#endif
    /* LOOM_CPU caps what loom uses: "baseline" (portable code only), "avx2", "avx512"
     * (no AMX). For testing the fallback paths on a machine that has everything. */
    const char *cap = getenv("LOOM_CPU");
    if (cap && strcmp(cap, "baseline") == 0) bits = 0;
    else if (cap && strcmp(cap, "avx2") == 0) bits &= LOOM_CPU_AVX2;
    else if (cap && strcmp(cap, "avx512") == 0) bits &= ~(unsigned)(LOOM_CPU_AMX_BF16 | LOOM_CPU_AMX_INT8);
    cpu_bits = bits;
}

unsigned loom_cpu_features(void)
{
    pthread_once(&cpu_once, cpu_detect);
    return cpu_bits;
}

const char *loom_backend_name(loom_backend b)
{
    switch (b) {
    case LOOM_BACKEND_AUTO: return "auto";
    case LOOM_BACKEND_REF: return "ref";
    case LOOM_BACKEND_OPENBLAS: return "openblas";
    case LOOM_BACKEND_ONEDNN: return "onednn";
    case LOOM_BACKEND_AMX: return "amx";
    }
    return "?";
}

static loom_backend backend_from_env(void)
{
    const char *s = getenv("LOOM_BACKEND");
    if (!s || !*s) return LOOM_BACKEND_AUTO;
    if (strcmp(s, "ref") == 0) return LOOM_BACKEND_REF;
    if (strcmp(s, "openblas") == 0) return LOOM_BACKEND_OPENBLAS;
    if (strcmp(s, "onednn") == 0) return LOOM_BACKEND_ONEDNN;
    if (strcmp(s, "amx") == 0) return LOOM_BACKEND_AMX;
    return LOOM_BACKEND_AUTO;
}

/* Turn a request (AUTO or explicit) into a backend this build and CPU can run. */
loom_backend ops_resolve_backend(loom_backend b)
{
    unsigned f = loom_cpu_features();
    if (b == LOOM_BACKEND_AUTO) b = f & LOOM_CPU_AMX_BF16 ? LOOM_BACKEND_AMX : LOOM_BACKEND_OPENBLAS;
    if (b == LOOM_BACKEND_AMX && !(f & LOOM_CPU_AMX_BF16)) b = LOOM_BACKEND_OPENBLAS;
#if !defined(LOOM_X86_KERNELS)
    if (b == LOOM_BACKEND_AMX) b = LOOM_BACKEND_OPENBLAS;
#endif
#if !defined(LOOM_HAVE_DNNL)
    if (b == LOOM_BACKEND_ONEDNN) b = LOOM_BACKEND_OPENBLAS;
#endif
    return b;
}

loom_backend loom_ops_backend(void)
{
    int o = __atomic_load_n(&backend_override, __ATOMIC_RELAXED);
    loom_backend want = o >= 0 ? (loom_backend)o : backend_from_env();
    return ops_resolve_backend(want);
}

void loom_ops_set_backend(loom_backend b)
{
    __atomic_store_n(&backend_override, b == LOOM_BACKEND_AUTO ? -1 : (int)b, __ATOMIC_RELAXED);
}

const char *loom_ops_describe(char *buf, size_t cap)
{
    unsigned f = loom_cpu_features();
    snprintf(buf, cap, "cpu:%s%s%s%s%s backend:%s blas:%s",
             f & LOOM_CPU_AVX2 ? " avx2" : "", f & LOOM_CPU_AVX512 ? " avx512" : "",
             f & LOOM_CPU_AVX512BF16 ? " avx512bf16" : "", f & LOOM_CPU_AMX_BF16 ? " amx-bf16" : "",
             f & LOOM_CPU_AMX_INT8 ? " amx-int8" : "", loom_backend_name(loom_ops_backend()), ops_blas_name());
    return buf;
}
