/* fixture.c: see fixture.h. */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef LOOM_FIXTURES_DEFAULT
#define LOOM_FIXTURES_DEFAULT "tests/fixtures"
#endif

const char *fixture_dir(void)
{
    const char *d = getenv("LOOM_FIXTURES_DIR");
    return d && d[0] ? d : LOOM_FIXTURES_DEFAULT;
}

loom_safetensors *fixture_open(const char *relpath)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(), relpath);
    loom_safetensors *st = NULL;
    loom_error err = {0};
    if (loom_safetensors_open(path, &st, &err) != LOOM_OK) {
        fprintf(stderr, "fixture: %s\n", err.msg);
        return NULL;
    }
    return st;
}

loom_tensor *fixture_tensor(loom_safetensors *st, const char *name)
{
    loom_tensor *t = st ? loom_safetensors_get(st, name) : NULL;
    if (!t) {
        fprintf(stderr, "fixture: no tensor '%s' in %s\n", name,
                st ? loom_safetensors_path(st) : "(unopened file)");
        return NULL;
    }
    loom_error err = {0};
    loom_tensor *f = loom_tensor_to_f32(t, &err);
    loom_tensor_unref(t);
    if (!f)
        fprintf(stderr, "fixture: '%s': %s\n", name, err.msg);
    return f;
}

static void coords(const loom_tensor *t, int64_t flat, char *buf, size_t cap)
{
    int64_t idx[LOOM_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? flat % t->shape[d] : 0;
        flat = t->shape[d] ? flat / t->shape[d] : 0;
    }
    size_t used = 0;
    used += (size_t)snprintf(buf + used, cap - used, "[");
    for (int d = 0; d < t->ndim && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

bool fixture_compare(const char *what, const float *got, const loom_tensor *want,
                     fixture_tol tol, fixture_report *report)
{
    fixture_report r = {0, 0, -1, 0};
    const float *w = want->data;
    int64_t n = loom_tensor_numel(want);
    double worst_excess = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], e = w[i], diff = fabs(g - e);
        if (isnan(g) != isnan(e))
            diff = INFINITY;
        else if (isnan(g))
            diff = 0;
        double rel = diff / fmax(fabs(e), 1e-30);
        double limit = tol.abs_tol + tol.rel_tol * fabs(e);
        if (diff > r.max_abs)
            r.max_abs = diff;
        if (fabs(e) > tol.abs_tol && rel > r.max_rel)
            r.max_rel = rel;
        if (diff > limit)
            r.n_bad++;
        if (diff - limit > worst_excess) {
            worst_excess = diff - limit;
            r.worst = i;
        }
    }
    bool ok = r.n_bad == 0;
    char at[128] = "";
    if (r.worst >= 0)
        coords(want, r.worst, at, sizeof at);
    printf("%s %s: %lld elements, max abs err %.3g, max rel err %.3g (tol abs %.1g + rel %.1g)",
           ok ? "ok  " : "FAIL", what, (long long)n, r.max_abs, r.max_rel, tol.abs_tol, tol.rel_tol);
    if (!ok && r.worst >= 0)
        printf("; %lld outside, worst at %s: got %.9g want %.9g", (long long)r.n_bad, at,
               (double)got[r.worst], (double)w[r.worst]);
    printf("\n");
    if (report)
        *report = r;
    return ok;
}
