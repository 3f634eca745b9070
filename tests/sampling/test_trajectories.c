/* test_trajectories.c: sampler trajectories against tests/fixtures/sampler, step by step,
 * with the closed-form stand-in model and CFG 5: diffusers FlowMatchEuler (shift 5, 10
 * steps), diffusers UniPC (shift 5 / 10 steps, shift 3 / 4 steps) and UniPC on Wan's
 * sigmas with loom's unipc_flow, and ComfyUI euler on the simple schedule (shift 8).
 * Then the samplers without a fixture: model-call counts, agreement with a fine reference
 * solution of the same ODE, ancestral noise from a continuing torch generator. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "loom/random.h"
#include "sample.h"
#include "samplers.h"
#include "standin_model.h"

/* The references apply CFG to v and step with v; loom applies CFG to x0-predictions
 * (ComfyUI's way) and derives v back, so each step differs by float32 rounding (~1e-7
 * relative), growing over 10 steps; the fixture generator itself saw 7e-6 between
 * diffusers and the closed form. States are O(1). */
static const fixture_tol traj_tol = {.abs_tol = 3e-5, .rel_tol = 3e-5};

typedef struct capture {
    loom_tensor *x;
    float       *states;   /* [steps][n] */
    int64_t      n;
} capture;

static int capture_step(void *user, int step, int total)
{
    capture *c = user;
    (void)total;
    memcpy(c->states + (size_t)step * (size_t)c->n, c->x->data, (size_t)c->n * sizeof(float));
    return 0;
}

static loom_value *model_v, *positive, *negative;
static loom_tensor *x0;

/* Run `sampler` over `sigmas` from x0 with CFG `cfg`; states[k] = x after step k. */
static int run_sampler(const char *sampler, const float *sigmas, size_t n, double cfg,
                       uint64_t seed, float *states, loom_tensor **final, int *evaluations)
{
    sigma_schedule *s = schedule_new(n, 0);
    memcpy(s->sigmas, sigmas, n * sizeof *sigmas);
    loom_error err = {0};
    loom_tensor *x = loom_tensor_new_like(x0, LOOM_F32, &err);
    memcpy(x->data, x0->data, loom_tensor_nbytes(x0));
    loom_tensor *den = loom_tensor_new_like(x0, LOOM_F32, &err);
    guider g = {.model = model_v, .positive = positive, .negative = negative, .cfg = cfg};
    capture cap = {.x = x, .states = states, .n = loom_tensor_numel(x)};
    sample_run run = {.sched = s, .multiplier = 1.0, .seed = seed, .denoised = den,
                      .on_step = states ? capture_step : NULL, .user = &cap};
    int rc = guider_begin(&g, x, &run.guider, &err);
    if (!rc)
        rc = sampler_find(sampler)->fn(&run, x, &err);
    guider_end(run.guider);
    CHECK_MSG(rc == LOOM_OK, "%s: %s", sampler, err.msg);
    if (evaluations)
        *evaluations = run.evaluations;
    loom_tensor_unref(den);
    schedule_free(s);
    if (final)
        *final = x;
    else
        loom_tensor_unref(x);
    return rc;
}

static void check_fixture_run(loom_safetensors *st, const char *run_name, const char *sampler,
                              const sigma_schedule *ours)
{
    char name[128];
    snprintf(name, sizeof name, "%s.sigmas", run_name);
    loom_tensor *sig = fixture_tensor(st, name);
    snprintf(name, sizeof name, "%s.states", run_name);
    loom_tensor *states = fixture_tensor(st, name);
    if (!sig || !states) {
        CHECK_MSG(0, "%s missing", run_name);
        loom_tensor_unref(sig);
        loom_tensor_unref(states);
        return;
    }
    size_t n = (size_t)loom_tensor_numel(sig);
    /* Our schedule for this run must be the fixture's, bit for bit. */
    snprintf(name, sizeof name, "%s.sigmas (loom's schedule)", run_name);
    CHECK(ours && ours->n == n && fixture_compare(name, ours->sigmas, sig,
                                                  (fixture_tol){0, 0}, NULL));
    int64_t item = loom_tensor_numel(x0);
    float *got = malloc((n - 1) * (size_t)item * sizeof *got);
    run_sampler(sampler, sig->data, n, 5.0, 0, got, NULL, NULL);
    for (size_t k = 0; k + 1 < n; k++) {
        int64_t shape[1] = {item};
        loom_tensor *want = loom_tensor_wrap(LOOM_F32, 1, shape,
                                             (float *)states->data + (k + 1) * (size_t)item, NULL,
                                             NULL, NULL);
        snprintf(name, sizeof name, "%s state %zu", run_name, k + 1);
        CHECK(fixture_compare(name, got + k * (size_t)item, want, traj_tol, NULL));
        loom_tensor_unref(want);
    }
    free(got);
    loom_tensor_unref(sig);
    loom_tensor_unref(states);
}

static void test_fixture_trajectories(loom_safetensors *st)
{
    loom_model_sampling ms8 = {.shift = 8.0, .multiplier = 1000.0};
    loom_error err = {0};
    sigma_schedule *s = flow_match_euler_schedule(5, 10);
    check_fixture_run(st, "diffusers_euler_s5_n10", "euler", s);
    schedule_free(s);
    s = diffusers_unipc_schedule(5, 10);
    check_fixture_run(st, "diffusers_unipc_s5_n10", "unipc_flow", s);
    schedule_free(s);
    s = diffusers_unipc_schedule(3, 4);
    check_fixture_run(st, "diffusers_unipc_s3_n4", "unipc_flow", s);
    schedule_free(s);
    s = wan_unipc_schedule(5, 10);
    check_fixture_run(st, "wan_unipc_s5_n10", "unipc_flow", s);
    schedule_free(s);
    s = comfy_schedule(&ms8, "simple", 10, &err);
    check_fixture_run(st, "comfy_euler_simple_s8_n10", "euler", s);
    schedule_free(s);
}

static double max_abs_diff(const loom_tensor *a, const loom_tensor *b)
{
    double m = 0;
    for (int64_t i = 0; i < loom_tensor_numel(a); i++)
        m = fmax(m, fabs((double)((float *)a->data)[i] - ((float *)b->data)[i]));
    return m;
}

/* The whole sampling run (sample_latent) on Wan's schedule from given noise: the
 * reference starts from the noise itself (not sigma_0·noise) and lands on the fixture's
 * final state. The stand-in reads sigma as its timestep, so the schedule's integer
 * timesteps are dropped here. */
static void test_reference_run(loom_safetensors *st)
{
    sigma_schedule *s = wan_unipc_schedule(5, 10);
    CHECK(s && s->pure_noise_start);
    free(s->timesteps);
    s->timesteps = NULL;
    loom_error err = {0};
    loom_tensor *zeros = loom_tensor_new_like(x0, LOOM_F32, &err);
    loom_value *latent_v = loom_latent_value(zeros, NULL);
    guider g = {.model = model_v, .positive = positive, .negative = negative, .cfg = 5.0};
    sample_request req = {.guider = &g, .sampler = sampler_find("unipc_flow"), .sigmas = s,
                          .latent = loom_value_object_ptr(latent_v, "LATENT"), .noise = x0};
    loom_tensor *out = NULL;
    CHECK_MSG(sample_latent(&req, &out, NULL, &err) == LOOM_OK, "%s", err.msg);
    loom_tensor *states = fixture_tensor(st, "wan_unipc_s5_n10.states");
    if (out && states) {
        int64_t shape[1] = {STANDIN_ITEM};
        loom_tensor *last = loom_tensor_wrap(LOOM_F32, 1, shape,
                                             (float *)states->data + 10 * STANDIN_ITEM, NULL,
                                             NULL, NULL);
        CHECK(fixture_compare("sample_latent, Wan schedule, final state", out->data, last,
                              traj_tol, NULL));
        loom_tensor_unref(last);
    }
    loom_tensor_unref(states);
    loom_tensor_unref(out);
    loom_value_unref(latent_v);
    schedule_free(s);
}

/* Inpainting with a latent noise_mask (KSamplerX0Inpaint): a mask of ones changes
 * nothing, zeros give back the latent, and a mask over the first latent frame only keeps
 * the second frame; a mask of another size is refused. Euler, 6 steps, CFG 5. */
static loom_tensor *inpaint(int64_t mask_ndim, const int64_t *mask_shape,
                            float fill_first, float fill_rest, loom_error *err)
{
    loom_model_sampling ms = {.shift = 3.0, .multiplier = 1.0};
    sigma_schedule *s = comfy_schedule(&ms, "simple", 6, err);
    loom_tensor *m = NULL;
    if (mask_ndim) {
        m = loom_tensor_new(LOOM_F32, (int)mask_ndim, mask_shape, err);
        int64_t n = loom_tensor_numel(m);
        for (int64_t i = 0; i < n; i++)
            ((float *)m->data)[i] = i < n / 2 ? fill_first : fill_rest;
    }
    loom_tensor *lat = loom_tensor_new_like(x0, LOOM_F32, err);
    memcpy(lat->data, x0->data, loom_tensor_nbytes(x0));
    loom_value *latent_v = loom_latent_value(lat, m);
    guider g = {.model = model_v, .positive = positive, .negative = negative, .cfg = 5.0};
    sample_request req = {.guider = &g, .sampler = sampler_find("euler"), .sigmas = s,
                          .latent = loom_value_object_ptr(latent_v, "LATENT"), .add_noise = true,
                          .seed = 3};
    loom_tensor *out = NULL;
    if (sample_latent(&req, &out, NULL, err) != LOOM_OK)
        out = NULL;
    loom_value_unref(latent_v);
    schedule_free(s);
    return out;
}

static void test_inpainting(void)
{
    loom_error err = {0};
    int64_t full[5] = {1, 1, 2, 4, 6}, thw[3] = {2, 4, 6}, wrong[4] = {1, 1, 3, 3};
    loom_tensor *plain = inpaint(0, NULL, 0, 0, &err);
    loom_tensor *ones = inpaint(5, full, 1.0f, 1.0f, &err);
    loom_tensor *zeros = inpaint(3, thw, 0.0f, 0.0f, &err);
    loom_tensor *half = inpaint(5, full, 1.0f, 0.0f, &err);
    CHECK(plain && ones && zeros && half);
    if (plain && ones && zeros && half) {
        CHECK(max_abs_diff(ones, plain) == 0.0);
        CHECK_MSG(max_abs_diff(zeros, x0) < 1e-5, "zero mask: %.3g from the latent",
                  max_abs_diff(zeros, x0));
        /* [1, 16, 2, 4, 6]: frame 0 of each channel is sampled, frame 1 kept. */
        double kept = 0, changed = 0;
        for (int64_t i = 0; i < STANDIN_ITEM; i++) {
            double d = fabs((double)((float *)half->data)[i] - ((float *)x0->data)[i]);
            if ((i / 24) % 2)
                kept = fmax(kept, d);
            else
                changed = fmax(changed, d);
        }
        CHECK_MSG(kept < 1e-5 && changed > 1e-2, "half mask: kept %.3g, changed %.3g", kept,
                  changed);
    }
    loom_error bad = {0};
    CHECK(inpaint(4, wrong, 1.0f, 1.0f, &bad) == NULL);
    CHECK_CONTAINS(bad.msg, "does not match the latent");
    loom_tensor_unref(plain);
    loom_tensor_unref(ones);
    loom_tensor_unref(zeros);
    loom_tensor_unref(half);
}

/* ComfyUI's UniPC has no torch fixture: data/comfy_unipc.safetensors holds the outputs of
 * a literal float64 Python port of its loop (data/gen_comfy_unipc.py) for 2, 3 and 10
 * steps, shift 8, with the same stand-in and CFG 5. loom's is float32 throughout (the
 * port agrees to ~3e-6 relative on values up to ~17). */
static const fixture_tol port_tol = {.abs_tol = 1e-5, .rel_tol = 1e-5};

static void test_comfy_unipc_port(void)
{
    loom_safetensors *st = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_safetensors_open(LOOM_SAMPLING_DATA "/comfy_unipc.safetensors", &st, &err) == 0,
              "%s", err.msg);
    static const int steps[] = {2, 3, 10};
    static const char *const names[] = {"uni_pc", "uni_pc_bh2"};
    loom_model_sampling ms = {.shift = 8.0, .multiplier = 1.0};
    for (int k = 0; st && k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "sigmas.n%d", steps[k]);
        loom_tensor *sig = fixture_tensor(st, name);
        sigma_schedule *s = comfy_schedule_denoised(&ms, "simple", steps[k], 1.0, 1, &err);
        CHECK(sig && s && fixture_compare(name, s->sigmas, sig, (fixture_tol){0, 0}, NULL));
        for (int v = 0; sig && v < 2; v++) {
            loom_tensor *out = NULL;
            int evals = 0;
            run_sampler(names[v], s->sigmas, s->n, 5.0, 0, NULL, &out, &evals);
            snprintf(name, sizeof name, "%s.n%d", names[v], steps[k]);
            loom_tensor *want = fixture_tensor(st, name);
            CHECK(want && out && fixture_compare(name, out->data, want, port_tol, NULL));
            CHECK_MSG(evals == steps[k], "%s: %d model calls", name, evals);
            loom_tensor_unref(want);
            loom_tensor_unref(out);
        }
        loom_tensor_unref(sig);
        schedule_free(s);
    }
    loom_safetensors_close(st);
}

/* Every deterministic sampler solves the same flow ODE (latent values up to ~26 here,
 * CFG 5): against a 2000-step heun solution each is close at 40 steps and improves by
 * at least `ratio` at 160 steps (first order ~4x, second ~16x asymptotically; dpmpp_2m
 * is still pre-asymptotic at 40 steps; ComfyUI's bh1 uni_pc is already at its plateau
 * there, ~3e-4 relative, set by the large last step to sigma 0.001). ComfyUI's uni_pc
 * replaces the final sigma 0 by 0.001, so its reference stops there too. */
static void test_convergence(void)
{
    loom_model_sampling ms = {.shift = 3.0, .multiplier = 1.0};
    loom_error err = {0};
    sigma_schedule *fine = comfy_schedule(&ms, "simple", 2000, &err);
    loom_tensor *ref0 = NULL, *ref001 = NULL, *out = NULL;
    run_sampler("heun", fine->sigmas, fine->n, 5.0, 0, NULL, &ref0, NULL);
    fine->sigmas[fine->n - 1] = 0.001f;
    run_sampler("heun", fine->sigmas, fine->n, 5.0, 0, NULL, &ref001, NULL);
    static const struct { const char *name; double tol, ratio; int evals; } cases[] = {
        {"euler", 3.5, 3.0, 40}, {"heun", 0.6, 8.0, 79}, {"dpmpp_2m", 0.2, 2.0, 40},
        {"uni_pc", 0.02, 1.0, 40}, {"uni_pc_bh2", 0.25, 5.0, 40}, {"unipc_flow", 0.15, 8.0, 40}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const loom_tensor *ref = !strncmp(cases[i].name, "uni_pc", 6) ? ref001 : ref0;
        double e[2];
        int evals[2];
        for (int k = 0; k < 2; k++) {
            sigma_schedule *s = comfy_schedule(&ms, "simple", k ? 160 : 40, &err);
            run_sampler(cases[i].name, s->sigmas, s->n, 5.0, 0, NULL, &out, &evals[k]);
            e[k] = max_abs_diff(out, ref);
            loom_tensor_unref(out);
            schedule_free(s);
        }
        printf("  %-11s max |x - reference|: %.3g at 40 steps, %.3g at 160\n", cases[i].name,
               e[0], e[1]);
        CHECK_MSG(e[0] < cases[i].tol, "%s: %.3g at 40 steps", cases[i].name, e[0]);
        CHECK_MSG(e[0] / e[1] >= cases[i].ratio, "%s converges by only %.2fx", cases[i].name,
                  e[0] / e[1]);
        CHECK_MSG(evals[0] == cases[i].evals, "%s: %d model calls for 40 steps", cases[i].name,
                  evals[0]);
    }
    loom_tensor_unref(ref0);
    loom_tensor_unref(ref001);
    schedule_free(fine);
}

/* Ancestral and lcm noise: one generator seeded with seed + 1 that keeps going. */
static void test_stochastic(void)
{
    float a[40], b[40];
    loom_torch_generator ns;
    loom_torch_generator_seed(&ns, 77);
    loom_randn_next(&ns, a, 40);
    loom_randn(77, b, 40);
    CHECK(memcmp(a, b, sizeof a) == 0);   /* the first draw is torch.randn after manual_seed */
    loom_randn_next(&ns, a, 40);
    CHECK(memcmp(a, b, sizeof a) != 0);   /* the second continues the stream */
    /* Below 16 values torch keeps the spare normal in the generator: 7 + 7 = the 14 of
     * one call. */
    float c[14], d[14];
    loom_torch_generator_seed(&ns, 5);
    loom_randn_next(&ns, c, 7);
    loom_randn_next(&ns, c + 7, 7);
    loom_randn(5, d, 14);
    CHECK(memcmp(c, d, sizeof c) == 0);

    loom_model_sampling ms = {.shift = 5.0, .multiplier = 1.0};
    loom_error err = {0};
    sigma_schedule *s = comfy_schedule(&ms, "simple", 8, &err);
    static const char *const names[] = {"euler_ancestral", "lcm"};
    for (int i = 0; i < 2; i++) {
        loom_tensor *r1, *r2, *r3;
        run_sampler(names[i], s->sigmas, s->n, 5.0, 42, NULL, &r1, NULL);
        run_sampler(names[i], s->sigmas, s->n, 5.0, 42, NULL, &r2, NULL);
        run_sampler(names[i], s->sigmas, s->n, 5.0, 43, NULL, &r3, NULL);
        CHECK_MSG(max_abs_diff(r1, r2) == 0.0, "%s: same seed, different result", names[i]);
        CHECK_MSG(max_abs_diff(r1, r3) > 1e-3, "%s: the seed has no effect", names[i]);
        for (int64_t j = 0; j < loom_tensor_numel(r1); j++)
            if (!isfinite(((float *)r1->data)[j])) {
                CHECK_MSG(0, "%s: non-finite output", names[i]);
                break;
            }
        loom_tensor_unref(r1);
        loom_tensor_unref(r2);
        loom_tensor_unref(r3);
    }
    schedule_free(s);
}

int main(void)
{
    loom_safetensors *st = fixture_open("sampler/trajectories.safetensors");
    CHECK(st && standin_load());
    if (!st || !(x0 = fixture_tensor(st, "x0")))
        return check_summary("test_trajectories");
    model_v = standin_model_value(1.0, &(loom_latent_format){0}, NULL);
    positive = standin_conditioning(1.0f);
    negative = standin_conditioning(-1.0f);
    test_fixture_trajectories(st);
    test_reference_run(st);
    test_inpainting();
    test_comfy_unipc_port();
    test_convergence();
    test_stochastic();
    loom_value_unref(model_v);
    loom_value_unref(positive);
    loom_value_unref(negative);
    loom_tensor_unref(x0);
    standin_unload();
    loom_safetensors_close(st);
    return check_summary("test_trajectories");
}
