/* test_ksampler.c: the sampler and latent nodes end to end through a session with the
 * built-in plugins, driven by a stand-in MODEL registered as a test node.
 *
 * Checked: KSampler (euler/simple, CFG 5) equals an independent re-computation from the
 * fixture schedule and torch-compatible noise; one predict per step with batch
 * [uncond, cond]; cfg 1 skips uncond; begin/end once per run; progress per step; two
 * chained KSamplerAdvanced equal one KSampler; SamplerCustomAdvanced equals KSampler;
 * an interrupt mid-sampling stops the run (and still ends the model run); a sampler
 * loom lacks fails validation; bad sigmas text and mismatched latents give clear errors.
 * (The latent nodes on their own are tests/latent.) */
#define _GNU_SOURCE
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "loom/loom.h"
#include "loom/random.h"
#include "loom/safetensors.h"
#include "standin_model.h"

static standin_stats stats;
static loom_latent_format format;

static int model_exec(loom_node_ctx *ctx)
{
    return loom_out(ctx, 0, standin_model_value(8.0, &format, &stats));
}

static int cond_exec(loom_node_ctx *ctx)
{
    return loom_out(ctx, 0, standin_conditioning((float)loom_in_float(ctx, "sign")));
}

static const loom_output model_out[] = {{.type = "MODEL"}};
static const loom_output cond_out[] = {{.type = "CONDITIONING"}};
static const loom_input cond_in[] = {{.name = "sign", .type = LOOM_T_FLOAT}};
static const loom_node_type test_nodes[] = {
    {.name = "StandInModel", .outputs = model_out, .n_outputs = 1, .execute = model_exec},
    {.name = "StandInCond", .inputs = cond_in, .n_inputs = 1, .outputs = cond_out, .n_outputs = 1,
     .execute = cond_exec},
};

typedef struct rec {
    int           progress, last_max, interrupt_at;
    char          error[1024];
    loom_session *s;
} rec;

static void on_event(const loom_event *ev, void *user)
{
    rec *r = user;
    if (ev->type == LOOM_EV_PROGRESS) {
        r->progress++;
        r->last_max = (int)ev->max;
        if (r->interrupt_at && ev->value == r->interrupt_at)
            loom_interrupt(r->s);
    } else if (ev->type == LOOM_EV_EXECUTION_ERROR) {
        snprintf(r->error, sizeof r->error, "%s", ev->message ? ev->message : "");
    }
}

static int run(loom_session *s, loom_workflow *wf, rec *r, loom_error *err)
{
    r->progress = r->last_max = 0;
    r->error[0] = 0;
    r->s = s;
    loom_run_options opt = {.on_event = on_event, .user = r};
    return loom_run(s, wf, &opt, err);
}

static loom_tensor *latent_of(loom_session *s, const char *node, size_t slot)
{
    loom_value *v = loom_session_last_value(s, node, slot);
    const loom_latent *l = v ? loom_value_object_ptr(v, "LATENT") : NULL;
    loom_tensor *t = l ? loom_tensor_ref(l->samples) : NULL;
    loom_value_unref(v);
    return t;
}

static double max_rel_diff(const loom_tensor *a, const loom_tensor *b)
{
    if (!a || !b || loom_tensor_numel(a) != loom_tensor_numel(b))
        return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < loom_tensor_numel(a); i++) {
        double x = ((float *)a->data)[i], y = ((float *)b->data)[i];
        m = fmax(m, fabs(x - y) / fmax(1.0, fabs(y)));
    }
    return m;
}

#define BASE                                                                                  \
    "\"1\": {\"class_type\": \"StandInModel\", \"inputs\": {}},"                              \
    "\"2\": {\"class_type\": \"StandInCond\", \"inputs\": {\"sign\": 1.0}},"                  \
    "\"3\": {\"class_type\": \"StandInCond\", \"inputs\": {\"sign\": -1.0}},"                 \
    "\"4\": {\"class_type\": \"EmptyHunyuanLatentVideo\", \"inputs\": {\"width\": 48,"        \
    "        \"height\": 32, \"length\": 5, \"batch_size\": 1}},"
#define KSAMPLER(ID, LATENT)                                                                  \
    "\"" ID "\": {\"class_type\": \"KSampler\", \"inputs\": {\"model\": [\"1\", 0],"          \
    " \"seed\": 1234, \"steps\": 10, \"cfg\": 5.0, \"sampler_name\": \"euler\","              \
    " \"scheduler\": \"simple\", \"positive\": [\"2\", 0], \"negative\": [\"3\", 0],"         \
    " \"latent_image\": " LATENT ", \"denoise\": 1.0}},"
#define PREVIEW(ID, SRC)                                                                      \
    "\"" ID "\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"" SRC "\", 0]}}"

/* The same run computed here from the fixture's schedule, the stand-in's formula and
 * loom_randn, in ComfyUI's operation order. */
static loom_tensor *expected_ksampler(void)
{
    loom_safetensors *traj = fixture_open("sampler/trajectories.safetensors");
    loom_safetensors *sch = fixture_open("schedules/schedules.safetensors");
    loom_tensor *sig = fixture_tensor(sch, "comfy_simple.s8_n10.sigmas");
    loom_tensor *ab[4] = {fixture_tensor(traj, "A_c"), fixture_tensor(traj, "B_c"),
                          fixture_tensor(traj, "A_u"), fixture_tensor(traj, "B_u")};
    int64_t shape[5] = {1, 16, 2, 4, 6};
    loom_tensor *x = loom_tensor_new(LOOM_F32, 5, shape, NULL);
    float *xs = x->data;
    const float *s = sig->data, *ac = ab[0]->data, *bc = ab[1]->data, *au = ab[2]->data,
                *bu = ab[3]->data;
    loom_randn(1234, xs, STANDIN_ITEM);
    for (int i = 0; i < STANDIN_ITEM; i++)
        xs[i] = s[0] * xs[i] + (1.0f - s[0]) * 0.0f;
    for (int k = 0; k < 10; k++)
        for (int i = 0; i < STANDIN_ITEM; i++) {
            float dc = xs[i] - (ac[i] * xs[i] + bc[i] * s[k]) * s[k];
            float du = xs[i] - (au[i] * xs[i] + bu[i] * s[k]) * s[k];
            float d = du + (dc - du) * 5.0f;
            xs[i] = xs[i] + ((xs[i] - d) / s[k]) * (s[k + 1] - s[k]);
        }
    for (int i = 0; i < STANDIN_ITEM; i++) {
        int c = i / 48;
        xs[i] = xs[i] / (1.0f - 0.0f) * format.std[c] / format.scale + format.mean[c];
    }
    for (int i = 0; i < 4; i++)
        loom_tensor_unref(ab[i]);
    loom_tensor_unref(sig);
    loom_safetensors_close(traj);
    loom_safetensors_close(sch);
    return x;
}

static loom_workflow *load(loom_session *s, const char *json)
{
    loom_workflow *wf = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_workflow_load_string(s, json, &wf, &err) == LOOM_OK, "%s", err.msg);
    return wf;
}

static loom_tensor *single_run;   /* KSampler's output at cfg 5, for later comparisons */

static void test_ksampler(loom_session *s)
{
    loom_workflow *wf = load(s, "{" BASE KSAMPLER("5", "[\"4\", 0]") PREVIEW("6", "5") "}");
    loom_error err = {0};
    rec r = {0};
    memset(&stats, 0, sizeof stats);
    CHECK_MSG(run(s, wf, &r, &err) == LOOM_OK, "%s", err.msg);
    single_run = latent_of(s, "5", 0);
    loom_tensor *want = expected_ksampler();
    /* Same float32 operations in the same order: equal up to reassociation in CFG. */
    double d = max_rel_diff(single_run, want);
    printf("  KSampler vs independent computation: max rel diff %.3g\n", d);
    CHECK_MSG(d <= 1e-6, "KSampler differs from the reference computation by %.3g", d);
    loom_tensor_unref(want);
    CHECK_MSG(stats.predicts == 10, "%d predict calls for 10 steps", stats.predicts);
    for (int i = 0; i < 10 && i < stats.predicts; i++)
        CHECK_MSG(stats.batch[i] == 2 && stats.first_ctx_sign[i] < 0,
                  "call %d: batch %d, first item %s", i, stats.batch[i],
                  stats.first_ctx_sign[i] < 0 ? "uncond" : "cond");
    CHECK(stats.begins == 1 && stats.ends == 1 && stats.begin_contexts == 2);
    CHECK_MSG(r.progress == 10 && r.last_max == 10, "%d progress events, max %d", r.progress,
              r.last_max);

    /* cfg 1: the uncond half never reaches the model. */
    memset(&stats, 0, sizeof stats);
    CHECK(loom_workflow_apply_set(wf, "5.cfg=1.0", &err) == LOOM_OK);
    CHECK_MSG(run(s, wf, &r, &err) == LOOM_OK, "%s", err.msg);
    CHECK_MSG(stats.predicts == 10 && stats.begin_contexts == 1, "%d calls, %zu contexts",
              stats.predicts, stats.begin_contexts);
    for (int i = 0; i < 10 && i < stats.predicts; i++)
        CHECK_MSG(stats.batch[i] == 1 && stats.first_ctx_sign[i] > 0, "cfg 1, call %d: batch %d",
                  i, stats.batch[i]);
    loom_workflow_free(wf);
}

static void test_two_stage(loom_session *s)
{
    loom_workflow *wf = load(s, "{" BASE
        "\"7\": {\"class_type\": \"KSamplerAdvanced\", \"inputs\": {\"model\": [\"1\", 0],"
        " \"add_noise\": \"enable\", \"noise_seed\": 1234, \"steps\": 10, \"cfg\": 5.0,"
        " \"sampler_name\": \"euler\", \"scheduler\": \"simple\", \"positive\": [\"2\", 0],"
        " \"negative\": [\"3\", 0], \"latent_image\": [\"4\", 0], \"start_at_step\": 0,"
        " \"end_at_step\": 4, \"return_with_leftover_noise\": \"enable\"}},"
        "\"8\": {\"class_type\": \"KSamplerAdvanced\", \"inputs\": {\"model\": [\"1\", 0],"
        " \"add_noise\": \"disable\", \"noise_seed\": 1234, \"steps\": 10, \"cfg\": 5.0,"
        " \"sampler_name\": \"euler\", \"scheduler\": \"simple\", \"positive\": [\"2\", 0],"
        " \"negative\": [\"3\", 0], \"latent_image\": [\"7\", 0], \"start_at_step\": 4,"
        " \"end_at_step\": 10000, \"return_with_leftover_noise\": \"disable\"}},"
        PREVIEW("9", "8") "}");
    loom_error err = {0};
    rec r = {0};
    memset(&stats, 0, sizeof stats);
    CHECK_MSG(run(s, wf, &r, &err) == LOOM_OK, "%s", err.msg);
    CHECK_MSG(stats.predicts == 10 && stats.begins == 2 && stats.ends == 2, "%d calls, %d runs",
              stats.predicts, stats.begins);
    loom_tensor *two = latent_of(s, "8", 0), *half = latent_of(s, "7", 0);
    /* The handover divides by (1 - sigma_4) and multiplies back, and the latent goes out
     * of and back into the model's format: float32 rounding only. */
    double d = max_rel_diff(two, single_run);
    printf("  two KSamplerAdvanced vs one KSampler: max rel diff %.3g\n", d);
    CHECK_MSG(d <= 1e-5, "two stages differ from one run by %.3g", d);
    CHECK(max_rel_diff(half, single_run) > 1e-2);   /* the first stage alone is not done */
    loom_tensor_unref(two);
    loom_tensor_unref(half);
    loom_workflow_free(wf);
}

static void test_custom_sampling(loom_session *s)
{
    loom_workflow *wf = load(s, "{" BASE
        "\"10\": {\"class_type\": \"RandomNoise\", \"inputs\": {\"noise_seed\": 1234}},"
        "\"11\": {\"class_type\": \"CFGGuider\", \"inputs\": {\"model\": [\"1\", 0],"
        "         \"positive\": [\"2\", 0], \"negative\": [\"3\", 0], \"cfg\": 5.0}},"
        "\"12\": {\"class_type\": \"KSamplerSelect\", \"inputs\": {\"sampler_name\": \"euler\"}},"
        "\"13\": {\"class_type\": \"BasicScheduler\", \"inputs\": {\"model\": [\"1\", 0],"
        "         \"scheduler\": \"simple\", \"steps\": 10, \"denoise\": 1.0}},"
        "\"14\": {\"class_type\": \"SamplerCustomAdvanced\", \"inputs\": {\"noise\": [\"10\", 0],"
        "         \"guider\": [\"11\", 0], \"sampler\": [\"12\", 0], \"sigmas\": [\"13\", 0],"
        "         \"latent_image\": [\"4\", 0]}},"
        "\"15\": {\"class_type\": \"ManualSigmas\", \"inputs\": {\"sigmas\": \"1.0, 0.5, 0\"}},"
        "\"16\": {\"class_type\": \"SamplerCustomAdvanced\", \"inputs\": {\"noise\": [\"10\", 0],"
        "         \"guider\": [\"11\", 0], \"sampler\": [\"17\", 0], \"sigmas\": [\"18\", 0],"
        "         \"latent_image\": [\"4\", 0]}},"
        "\"17\": {\"class_type\": \"SamplerFlowUniPC\", \"inputs\": {}},"
        "\"18\": {\"class_type\": \"ReferenceFlowScheduler\", \"inputs\": {\"schedule\":"
        "         \"wan_flow_unipc\", \"steps\": 4, \"shift\": 5.0}},"
        PREVIEW("19", "14") "," PREVIEW("20", "16") "," PREVIEW("21", "15") "}");
    loom_error err = {0};
    rec r = {0};
    CHECK_MSG(run(s, wf, &r, &err) == LOOM_OK, "%s", err.msg);
    loom_tensor *out = latent_of(s, "14", 0), *den = latent_of(s, "14", 1);
    CHECK_MSG(max_rel_diff(out, single_run) == 0.0, "SamplerCustomAdvanced != KSampler (%.3g)",
              max_rel_diff(out, single_run));
    CHECK(den && out && loom_tensor_same_shape(den, out) && max_rel_diff(den, out) > 0.0);
    loom_tensor *wan = latent_of(s, "16", 0);
    CHECK(wan && loom_tensor_numel(wan) == STANDIN_ITEM);
    loom_tensor_unref(out);
    loom_tensor_unref(den);
    loom_tensor_unref(wan);
    /* A typo in explicit sigmas is an error that says what is wrong. */
    CHECK(loom_workflow_apply_set(wf, "15.sigmas=\"1, 0.5x, 0\"", &err) == LOOM_OK);
    CHECK(run(s, wf, &r, &err) != LOOM_OK);
    CHECK_CONTAINS(r.error, "not a number");
    loom_workflow_free(wf);
}

/* Every sampler and scheduler KSampler offers runs through the node, finite; denoise 0.5
 * on a sampled latent (process_latent_in path) equals SamplerCustomAdvanced with
 * BasicScheduler's denoise. */
static void test_all_names_and_denoise(loom_session *s)
{
    static const char *const samplers[] = {"euler", "euler_ancestral", "heun", "dpmpp_2m", "lcm",
                                           "uni_pc", "uni_pc_bh2"};
    static const char *const schedulers[] = {"simple", "sgm_uniform", "karras", "exponential",
                                             "ddim_uniform", "beta", "normal", "linear_quadratic",
                                             "kl_optimal"};
    loom_workflow *wf = load(s, "{" BASE KSAMPLER("5", "[\"4\", 0]") PREVIEW("6", "5") "}");
    loom_error err = {0};
    rec r = {0};
    for (size_t i = 0; i < LOOM_COUNT(samplers) + LOOM_COUNT(schedulers); i++) {
        char set[96];
        if (i < LOOM_COUNT(samplers))
            snprintf(set, sizeof set, "5.sampler_name=%s", samplers[i]);
        else
            snprintf(set, sizeof set, "5.scheduler=%s", schedulers[i - LOOM_COUNT(samplers)]);
        CHECK(loom_workflow_apply_set(wf, set, &err) == LOOM_OK);
        CHECK(loom_workflow_apply_set(wf, "5.steps=6", &err) == LOOM_OK);
        CHECK_MSG(run(s, wf, &r, &err) == LOOM_OK, "%s: %s", set, err.msg);
        loom_tensor *out = latent_of(s, "5", 0);
        bool finite = out != NULL;
        for (int64_t j = 0; out && j < loom_tensor_numel(out); j++)
            finite &= isfinite(((float *)out->data)[j]) != 0;
        CHECK_MSG(finite, "%s: missing or non-finite output", set);
        loom_tensor_unref(out);
    }
    loom_workflow_free(wf);

    wf = load(s, "{" BASE KSAMPLER("5", "[\"4\", 0]")
        "\"7\": {\"class_type\": \"KSampler\", \"inputs\": {\"model\": [\"1\", 0],"
        " \"seed\": 5, \"steps\": 4, \"cfg\": 5.0, \"sampler_name\": \"euler\","
        " \"scheduler\": \"simple\", \"positive\": [\"2\", 0], \"negative\": [\"3\", 0],"
        " \"latent_image\": [\"5\", 0], \"denoise\": 0.5}},"
        "\"10\": {\"class_type\": \"RandomNoise\", \"inputs\": {\"noise_seed\": 5}},"
        "\"11\": {\"class_type\": \"CFGGuider\", \"inputs\": {\"model\": [\"1\", 0],"
        "         \"positive\": [\"2\", 0], \"negative\": [\"3\", 0], \"cfg\": 5.0}},"
        "\"12\": {\"class_type\": \"KSamplerSelect\", \"inputs\": {\"sampler_name\": \"euler\"}},"
        "\"13\": {\"class_type\": \"BasicScheduler\", \"inputs\": {\"model\": [\"1\", 0],"
        "         \"scheduler\": \"simple\", \"steps\": 4, \"denoise\": 0.5}},"
        "\"14\": {\"class_type\": \"SamplerCustomAdvanced\", \"inputs\": {\"noise\": [\"10\", 0],"
        "         \"guider\": [\"11\", 0], \"sampler\": [\"12\", 0], \"sigmas\": [\"13\", 0],"
        "         \"latent_image\": [\"5\", 0]}},"
        PREVIEW("8", "7") "," PREVIEW("9", "14") "}");
    memset(&stats, 0, sizeof stats);
    CHECK_MSG(run(s, wf, &r, &err) == LOOM_OK, "%s", err.msg);
    loom_tensor *a = latent_of(s, "7", 0), *b = latent_of(s, "14", 0), *src = latent_of(s, "5", 0);
    CHECK_MSG(a && b && max_rel_diff(a, b) == 0.0, "denoise 0.5: KSampler != custom sampling");
    CHECK(max_rel_diff(a, src) > 1e-3 && max_rel_diff(a, src) < 10.0);
    loom_tensor_unref(a);
    loom_tensor_unref(b);
    loom_tensor_unref(src);
    loom_workflow_free(wf);
}

static void test_interrupt_and_errors(loom_session *s)
{
    loom_workflow *wf = load(s, "{" BASE KSAMPLER("5", "[\"4\", 0]") PREVIEW("6", "5") "}");
    loom_error err = {0};
    rec r = {.interrupt_at = 3};
    memset(&stats, 0, sizeof stats);
    CHECK(loom_workflow_apply_set(wf, "5.seed=99", &err) == LOOM_OK);
    CHECK(run(s, wf, &r, &err) == LOOM_ERR_INTERRUPTED);
    CHECK_MSG(stats.predicts == 3 && stats.begins == 1 && stats.ends == 1,
              "interrupted run: %d calls, %d begins, %d ends", stats.predicts, stats.begins,
              stats.ends);
    r.interrupt_at = 0;

    /* A sampler loom does not implement is not offered, so validation names it. */
    CHECK(loom_workflow_apply_set(wf, "5.sampler_name=dpm_2", &err) == LOOM_OK);
    loom_validation *v = loom_validate(s, wf);
    bool named = false;
    for (size_t i = 0; i < loom_validation_count(v); i++)
        named |= !strcmp(loom_validation_get(v, i)->type, "value_not_in_list");
    CHECK_MSG(named, "dpm_2 must fail validation with value_not_in_list");
    loom_validation_free(v);
    loom_workflow_free(wf);
}

/* A latent whose channels do not fit the model, and that is not empty, is refused with a
 * message that names both counts. */
static void test_channel_mismatch(loom_session *s)
{
    mkdir("input", 0755);
    int64_t shape[4] = {1, 4, 1, 1};
    loom_error err = {0};
    loom_tensor *t = loom_tensor_new(LOOM_F32, 4, shape, &err);
    for (int i = 0; i < 4; i++)
        ((float *)t->data)[i] = 0.5f;
    const char *names[1] = {"latent_tensor"};
    CHECK(loom_safetensors_write("input/four.latent", 1, names, &t, NULL, &err) == 0);
    loom_tensor_unref(t);
    loom_workflow *wf = load(s, "{" BASE "\"7\": {\"class_type\": \"LoadLatent\", \"inputs\":"
                                " {\"latent\": \"four.latent\"}}," KSAMPLER("5", "[\"7\", 0]")
                                PREVIEW("6", "5") "}");
    rec r = {0};
    CHECK(run(s, wf, &r, &err) != LOOM_OK);
    CHECK_CONTAINS(r.error, "has 4 channels but the model (standin) expects 16");
    loom_workflow_free(wf);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    CHECK(standin_load());
    format.channels = 16;
    format.scale = 1.0f;
    format.temporal_compression = 4;
    format.spatial_compression = 8;
    for (int c = 0; c < 16; c++) {
        format.mean[c] = 0.1f * (float)c - 0.5f;
        format.std[c] = 1.0f + 0.05f * (float)c;
    }
    char dir[] = "/tmp/loom-sampling-XXXXXX", out_dir[4096], cwd[4096];
    CHECK(mkdtemp(dir) != NULL && getcwd(cwd, sizeof cwd) != NULL && chdir(dir) == 0);
    snprintf(out_dir, sizeof out_dir, "%s/output", dir);
    loom_options opt = {.output_dir = out_dir, .quiet = true};
    loom_session *s = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_session_new(&opt, &s, &err) == LOOM_OK, "%s", err.msg);
    for (size_t i = 0; s && i < LOOM_COUNT(test_nodes); i++)
        CHECK(loom_session_register_node(s, &test_nodes[i], NULL, "test", &err) == LOOM_OK);
    if (s && loom_session_node_find(s, "KSampler") && loom_session_node_find(s, "SaveLatent")) {
        test_ksampler(s);
        test_two_stage(s);
        test_custom_sampling(s);
        test_all_names_and_denoise(s);
        test_interrupt_and_errors(s);
        test_channel_mismatch(s);
    } else {
        CHECK_MSG(0, "the sampling and latent plugins did not load");
    }
    loom_tensor_unref(single_run);
    loom_session_free(s);
    standin_unload();
    CHECK(chdir(cwd) == 0);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_ksampler");
}
