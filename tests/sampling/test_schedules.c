/* test_schedules.c: every sigma schedule against the reference fixtures
 * (tests/fixtures/schedules): ComfyUI's simple scheduler for euler and for uni_pc (steps+1,
 * penultimate dropped) at shifts 1/3/5/8 and 4..50 steps, diffusers FlowMatchEuler and
 * UniPC (flow sigmas) and Wan's FlowUniPC with their timesteps; the golden vectors of the
 * specs; and the shape rules of ComfyUI's other schedulers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "schedule.h"

/* Both sides round the same float32 operations in the same order: exact. */
static const fixture_tol exact = {.abs_tol = 0.0, .rel_tol = 0.0};
/* diffusers/Wan compute in float64 and round once; loom does the same, but numpy's and C's
 * linspace may differ in the last double bit, which can move a float32 by one ulp. */
static const fixture_tol one_ulp = {.abs_tol = 0.0, .rel_tol = 1.2e-7};

static const int shifts[] = {1, 3, 5, 8};
static const int comfy_steps[] = {4, 10, 20, 30, 38, 50};
static const int ref_shifts[] = {3, 5, 8};
static const int ref_steps[] = {4, 10, 30, 50};

static void compare_schedule(loom_safetensors *st, const char *key, const sigma_schedule *s,
                             fixture_tol tol, bool timesteps)
{
    char name[128];
    snprintf(name, sizeof name, "%s.sigmas", key);
    loom_tensor *want = fixture_tensor(st, name);
    CHECK_MSG(want && s && (size_t)loom_tensor_numel(want) == s->n, "%s: length", name);
    if (want && s && (size_t)loom_tensor_numel(want) == s->n)
        CHECK(fixture_compare(name, s->sigmas, want, tol, NULL));
    loom_tensor_unref(want);
    if (!timesteps || !s)
        return;
    snprintf(name, sizeof name, "%s.timesteps", key);
    want = fixture_tensor(st, name);
    CHECK_MSG(want && s->timesteps && (size_t)loom_tensor_numel(want) == s->n - 1, "%s", name);
    if (want && s->timesteps && (size_t)loom_tensor_numel(want) == s->n - 1)
        CHECK(fixture_compare(name, s->timesteps, want, exact, NULL));
    loom_tensor_unref(want);
}

static void test_comfy_simple(loom_safetensors *st)
{
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 6; b++) {
            loom_model_sampling ms = {.shift = shifts[a], .multiplier = 1000.0};
            loom_error err = {0};
            char key[96];
            snprintf(key, sizeof key, "comfy_simple.s%d_n%d", shifts[a], comfy_steps[b]);
            sigma_schedule *s = comfy_schedule(&ms, "simple", comfy_steps[b], &err);
            compare_schedule(st, key, s, exact, false);
            schedule_free(s);
            snprintf(key, sizeof key, "comfy_simple_unipc.s%d_n%d", shifts[a], comfy_steps[b]);
            s = comfy_schedule_denoised(&ms, "simple", comfy_steps[b], 1.0, 1, &err);
            compare_schedule(st, key, s, exact, false);
            schedule_free(s);
        }
}

static void test_reference_schedules(loom_safetensors *st)
{
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 4; b++) {
            int sh = ref_shifts[a], n = ref_steps[b];
            char key[96];
            sigma_schedule *s = flow_match_euler_schedule(sh, n);
            snprintf(key, sizeof key, "diffusers_euler.s%d_n%d", sh, n);
            compare_schedule(st, key, s, one_ulp, true);
            schedule_free(s);
            s = diffusers_unipc_schedule(sh, n);
            snprintf(key, sizeof key, "diffusers_unipc.s%d_n%d", sh, n);
            compare_schedule(st, key, s, one_ulp, true);
            schedule_free(s);
            s = wan_unipc_schedule(sh, n);
            snprintf(key, sizeof key, "wan_unipc.s%d_n%d", sh, n);
            compare_schedule(st, key, s, one_ulp, true);
            schedule_free(s);
        }
    sigma_schedule *s = wan_unipc_schedule(12, 40);
    compare_schedule(st, "wan_unipc.s12_n40", s, one_ulp, true);
    schedule_free(s);
}

/* Golden values written in the specs (wan.md §3.2, comfyui.md §5.3). */
static void test_spec_vectors(void)
{
    static const int wan_s5[50] = {999, 995, 991, 987, 982, 978, 973, 968, 963, 957, 952, 946,
        940, 934, 927, 920, 913, 906, 898, 890, 882, 873, 863, 854, 843, 833, 821, 809, 796, 783,
        768, 753, 737, 720, 701, 681, 660, 636, 611, 584, 555, 522, 487, 448, 405, 356, 302, 241,
        172, 92};
    sigma_schedule *s = wan_unipc_schedule(5, 50);
    for (int i = 0; s && i < 50; i++)
        CHECK_MSG(s->timesteps[i] == wan_s5[i], "wan s5 t[%d] = %g, spec %d", i, s->timesteps[i],
                  wan_s5[i]);
    CHECK(s && fabsf(s->sigmas[0] - 0.999799848f) <= 1e-9f && s->sigmas[50] == 0.0f);
    schedule_free(s);

    /* Wan2.1 template: shift 8, uni_pc/simple, 30 steps (6 decimals in the spec). */
    static const float s8_unipc30[31] = {1.000000f, 0.995885f, 0.991525f, 0.986900f, 0.981823f,
        0.976575f, 0.970973f, 0.964981f, 0.958347f, 0.951424f, 0.943961f, 0.935893f, 0.926857f,
        0.917308f, 0.906876f, 0.895432f, 0.882407f, 0.868396f, 0.852792f, 0.835307f, 0.814921f,
        0.792395f, 0.766546f, 0.736580f, 0.700232f, 0.658185f, 0.607310f, 0.544503f, 0.462180f,
        0.357388f, 0.0f};
    loom_model_sampling ms = {.shift = 8.0, .multiplier = 1000.0};
    loom_error err = {0};
    s = comfy_schedule_denoised(&ms, "simple", 30, 1.0, 1, &err);
    CHECK(s && s->n == 31);
    for (int i = 0; s && i < 31; i++)
        CHECK_MSG(fabsf(s->sigmas[i] - s8_unipc30[i]) <= 6e-7f, "s8 uni_pc[%d] %.7f", i,
                  s->sigmas[i]);
    schedule_free(s);
    /* simple at 38 steps: int(k·(1000/38)) differs from floor(1000k/38) (comfyui.md §9). */
    ms.shift = 1.0;
    s = comfy_schedule(&ms, "simple", 38, &err);
    float table[COMFY_FLOW_TABLE_SIZE];
    comfy_flow_table(&ms, table);
    for (int k = 0; s && k < 38; k++)
        CHECK(s->sigmas[k] == table[999 - (int)(k * (1000.0 / 38))]);
    schedule_free(s);
}

/* The other schedulers: ComfyUI's lengths, first and last values, monotone. */
static void test_other_schedulers(void)
{
    loom_model_sampling ms = {.shift = 8.0, .multiplier = 1000.0};
    float table[COMFY_FLOW_TABLE_SIZE];
    comfy_flow_table(&ms, table);
    CHECK(table[999] == 1.0f);
    for (size_t i = 0; comfy_scheduler_names[i]; i++) {
        loom_error err = {0};
        const char *name = comfy_scheduler_names[i];
        sigma_schedule *s = comfy_schedule(&ms, name, 20, &err);
        CHECK_MSG(s != NULL, "%s: %s", name, err.msg);
        if (!s)
            continue;
        bool ddim_or_beta = !strcmp(name, "ddim_uniform") || !strcmp(name, "beta");
        CHECK_MSG(ddim_or_beta ? s->n >= 2 && s->n <= 22 : s->n == 21, "%s: %zu sigmas", name, s->n);
        CHECK_MSG(s->sigmas[s->n - 1] == 0.0f, "%s ends at %g", name, s->sigmas[s->n - 1]);
        CHECK_MSG(fabsf(s->sigmas[0] - 1.0f) < 0.02f, "%s starts at %g", name, s->sigmas[0]);
        for (size_t k = 1; k < s->n; k++)
            CHECK_MSG(s->sigmas[k] < s->sigmas[k - 1], "%s not decreasing at %zu", name, k);
        schedule_free(s);
    }
    /* karras endpoints are the table's sigma_max and sigma_min exactly (ramp 0 and 1). */
    loom_error err = {0};
    sigma_schedule *s = comfy_schedule(&ms, "karras", 10, &err);
    CHECK(s && fabsf(s->sigmas[0] - table[999]) <= 1e-6f && fabsf(s->sigmas[9] - table[0]) <= 1e-7f);
    schedule_free(s);
    /* ddim_uniform at 30 steps takes every 33rd table entry: 31 sigmas plus the 0. */
    s = comfy_schedule(&ms, "ddim_uniform", 30, &err);
    CHECK(s && s->n == 32 && s->sigmas[0] == table[991] && s->sigmas[30] == table[1]);
    schedule_free(s);
    /* beta starts at the table's top; ppf(0.5) of the symmetric Beta(0.6, 0.6) is 0.5. */
    s = comfy_schedule(&ms, "beta", 2, &err);
    CHECK(s && s->n == 3 && s->sigmas[0] == table[999] && s->sigmas[1] == table[500]);
    schedule_free(s);
    /* denoise 0.5 of 10 steps = the last 11 of a 20-step schedule; denoise 0 = nothing. */
    sigma_schedule *full = comfy_schedule(&ms, "simple", 20, &err);
    s = comfy_schedule_denoised(&ms, "simple", 10, 0.5, 0, &err);
    CHECK(s && full && s->n == 11 && s->sigmas[0] == full->sigmas[10]);
    schedule_free(s);
    schedule_free(full);
    s = comfy_schedule_denoised(&ms, "simple", 10, 0.0, 0, &err);
    CHECK(s && s->n == 0);
    schedule_free(s);
    CHECK(comfy_schedule(&ms, "no_such_scheduler", 10, &err) == NULL);
    CHECK_CONTAINS(err.msg, "no_such_scheduler");
}

int main(void)
{
    loom_safetensors *st = fixture_open("schedules/schedules.safetensors");
    CHECK(st != NULL);
    if (st) {
        test_comfy_simple(st);
        test_reference_schedules(st);
    }
    test_spec_vectors();
    test_other_schedulers();
    loom_safetensors_close(st);
    return check_summary("test_schedules");
}
