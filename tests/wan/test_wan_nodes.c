/* test_wan_nodes.c: UNETLoader and ModelSamplingSD3 through the public API, as a user's
 * workflow drives them: UNETLoader -> ModelSamplingSD3 -> PreviewAny validates and runs
 * against tests/fixtures/models, the patch shares the loader's weights with its own shift,
 * the MODEL predicts what the reference predicts, a changed file reloads, a LoRA gives a new
 * model, a diffusers folder loads through the COMBO, and a missing or garbled file is a
 * clear error naming it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "loom/loom.h"
#include "loom/model.h"
#include "loom/types.h"

static const char workflow_fmt[] =
    "{\"1\": {\"class_type\": \"UNETLoader\", \"inputs\": {\"unet_name\": \"%s\", \"weight_dtype\": \"default\"}},"
    " \"2\": {\"class_type\": \"ModelSamplingSD3\", \"inputs\": {\"model\": [\"1\", 0], \"shift\": 5.0}},"
    " \"3\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"2\", 0]}}}";

static loom_session *session_for(const char *models_dir)
{
    loom_options opt = {.models_dir = models_dir, .quiet = true};
    loom_session *s = NULL;
    loom_error err = {0};
    if (loom_session_new(&opt, &s, &err) != LOOM_OK) {
        CHECK_MSG(0, "session: %s", err.msg);
        return NULL;
    }
    return s;
}

static int loader_runs;     /* UNETLoader executions seen by on_event */

static void on_event(const loom_event *ev, void *user)
{
    if (ev->type == LOOM_EV_EXECUTING && ev->class_type && !strcmp(ev->class_type, "UNETLoader"))
        loader_runs++;
}

/* Load and run the three-node workflow; returns the run status, err filled. */
static int run_workflow(loom_session *s, const char *unet_name, loom_error *err)
{
    char json[1024];
    snprintf(json, sizeof json, workflow_fmt, unet_name);
    loom_workflow *wf = NULL;
    int rc = loom_workflow_load_string(s, json, &wf, err);
    if (rc == LOOM_OK)
        rc = loom_run(s, wf, &(loom_run_options){.on_event = on_event}, err);
    loom_workflow_free(wf);
    return rc;
}

/* The patched MODEL predicts the fixture's cond output (default compute path: bf16
 * products on AMX, so the bf16 tolerance of test_wan_dit applies). */
static void check_predict(const loom_model *model)
{
    loom_safetensors *st = fixture_open("dit/forward.safetensors");
    loom_tensor *x = fixture_tensor(st, "x"), *ctx = fixture_tensor(st, "ctx_cond"),
                *want = fixture_tensor(st, "out_cond");
    if (!x || !ctx || !want) {
        CHECK_MSG(0, "fixtures missing");
    } else {
        loom_cond_entry entry = {ctx, 512};
        const loom_cond_entry *entries[1] = {&entry};
        loom_tensor *v = loom_tensor_new_like(x, LOOM_F32, NULL);
        float t = 937.0f;
        size_t idx = 0;
        void *run = NULL;
        loom_error err = {0};
        int rc = loom_model_begin(model, entries, 1, &run, &err);
        if (rc == LOOM_OK)
            rc = loom_model_predict(model, run, x, &t, &idx, v, &err);
        CHECK_MSG(rc == LOOM_OK, "predict: %s", err.msg);
        if (rc == LOOM_OK)
            CHECK(fixture_compare("MODEL from the workflow, cond (B=1)", v->data, want, (fixture_tol){5e-2, 5e-2},
                                  NULL));
        loom_model_end(model, run);
        loom_tensor_unref(v);
    }
    loom_tensor_unref(x);
    loom_tensor_unref(ctx);
    loom_tensor_unref(want);
    loom_safetensors_close(st);
}

static void check_fixture_models(void)
{
    char models[4096];
    snprintf(models, sizeof models, "%s/models", fixture_dir());
    loom_session *s = session_for(models);
    if (!s)
        return;
    loom_error err = {0};
    int rc = run_workflow(s, "wan2.1_t2v_tiny_fp32.safetensors", &err);
    CHECK_MSG(rc == LOOM_OK, "run: %s", err.msg);
    loom_value *base = loom_session_last_value(s, "1", 0), *patched = loom_session_last_value(s, "2", 0);
    const loom_model *mb = loom_value_object_ptr(base, LOOM_TYPE_MODEL),
                     *mp = loom_value_object_ptr(patched, LOOM_TYPE_MODEL);
    CHECK(mb && mp);
    if (mb && mp) {
        CHECK_MSG(mb->sampling.shift == 8.0 && mp->sampling.shift == 5.0, "shift %g / %g", mb->sampling.shift,
                  mp->sampling.shift);
        CHECK(mp->sampling.multiplier == 1000.0);
        CHECK_MSG(loom_model_impl(mb) == loom_model_impl(mp), "the patch must share the weights");
        CHECK(mp->format.channels == 16 && mp->format.temporal_compression == 4 &&
              mp->format.spatial_compression == 8 && mp->format.mean[0] == -0.7571f && mp->format.std[15] == 1.9160f);
        CHECK_STR(loom_model_vtbl_of(mp)->family, "wan2.1");
        check_predict(mp);
    }
    loom_value_unref(base);
    loom_value_unref(patched);

    char *outputs = loom_session_last_outputs(s);
    CHECK_CONTAINS(outputs, "\"3\"");
    free(outputs);

    /* A name not in the folder is a validation error naming the value. */
    rc = run_workflow(s, "no_such_model.safetensors", &err);
    CHECK(rc != LOOM_OK);
    CHECK_CONTAINS(err.msg, "no_such_model.safetensors");
    loom_session_free(s);
}

static const char *fixture_path_of(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", fixture_dir(), rel);
    return buf;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char chunk[65536];
    size_t n;
    while (in && out && (n = fread(chunk, 1, sizeof chunk, in)) > 0)
        fwrite(chunk, 1, n, out);
    CHECK_MSG(in && out, "copying %s", from);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

static const char lora_workflow[] =
    "{\"1\": {\"class_type\": \"UNETLoader\", \"inputs\": {\"unet_name\": \"tiny.safetensors\", \"weight_dtype\": \"default\"}},"
    " \"2\": {\"class_type\": \"ModelSamplingSD3\", \"inputs\": {\"model\": [\"1\", 0], \"shift\": 5.0}},"
    " \"3\": {\"class_type\": \"LoraLoaderModelOnly\", \"inputs\": {\"model\": [\"2\", 0],"
    " \"lora_name\": \"head.safetensors\", \"strength_model\": 0.5}},"
    " \"4\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"3\", 0]}}}";

/* LoraLoaderModelOnly after ModelSamplingSD3 gives a new model (its own weights) with the
 * same shift; test_wan_dit checks the LoRA arithmetic itself. */
static void check_lora_node(loom_session *s, const char *models_dir)
{
    char loras[512], path[600];
    snprintf(loras, sizeof loras, "%s/loras", models_dir);
    mkdir(loras, 0755);
    snprintf(path, sizeof path, "%s/head.safetensors", loras);
    int64_t shape[2] = {64, 48};
    loom_tensor *diff = loom_tensor_new(LOOM_F32, 2, shape, NULL);
    for (int64_t i = 0; i < 64 * 48; i++)
        ((float *)diff->data)[i] = 0.01f;
    const char *name = "diffusion_model.head.head.diff";
    loom_error err = {0};
    CHECK(loom_safetensors_write(path, 1, &name, &diff, NULL, &err) == LOOM_OK);
    loom_tensor_unref(diff);

    loom_workflow *wf = NULL;
    int rc = loom_workflow_load_string(s, lora_workflow, &wf, &err);
    if (rc == LOOM_OK)
        rc = loom_run(s, wf, NULL, &err);
    CHECK_MSG(rc == LOOM_OK, "LoRA workflow: %s", err.msg);
    loom_value *base = loom_session_last_value(s, "2", 0), *lora = loom_session_last_value(s, "3", 0);
    const loom_model *mb = loom_value_object_ptr(base, LOOM_TYPE_MODEL), *ml = loom_value_object_ptr(lora, LOOM_TYPE_MODEL);
    CHECK(mb && ml);
    if (mb && ml) {
        CHECK_MSG(ml->sampling.shift == 5.0, "the LoRA'd model keeps the shift: %g", ml->sampling.shift);
        CHECK(loom_model_impl(ml) != loom_model_impl(mb));
    }
    loom_value_unref(base);
    loom_value_unref(lora);
    loom_workflow_free(wf);
    unlink(path);
    rmdir(loras);
}

/* A scratch models dir: a garbled file, a copy of the tiny model (the fingerprint: cached
 * while unchanged, reloaded after a touch), and the diffusers folder linked in. */
static void check_scratch_models(void)
{
    char dir[] = "/tmp/loom_wan_models_XXXXXX", sub[256], path[512], target[PATH_MAX];
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp");
        return;
    }
    snprintf(sub, sizeof sub, "%s/diffusion_models", dir);
    mkdir(sub, 0755);
    snprintf(path, sizeof path, "%s/garbled.safetensors", sub);
    FILE *f = fopen(path, "wb");
    fputs("not a safetensors file at all", f);
    fclose(f);
    char link[512];
    snprintf(link, sizeof link, "%s/wan_diffusers", sub);
    char rel[4096];
    snprintf(rel, sizeof rel, "%s/diffusers/wan2.1_t2v_tiny/transformer", fixture_dir());
    CHECK(realpath(rel, target) != NULL);   /* the link must not depend on the cwd */
    char copy[512];
    snprintf(copy, sizeof copy, "%s/tiny.safetensors", sub);
    copy_file(fixture_path_of("models/diffusion_models/wan2.1_t2v_tiny_fp32.safetensors"), copy);
    CHECK(symlink(target, link) == 0);

    loom_session *s = session_for(dir);
    if (s) {
        loom_error err = {0};
        int rc = run_workflow(s, "garbled.safetensors", &err);
        CHECK(rc != LOOM_OK);
        CHECK_CONTAINS(err.msg, "garbled.safetensors");

        /* Cached while the file is unchanged; a new mtime reloads it. */
        loader_runs = 0;
        rc = run_workflow(s, "tiny.safetensors", &err);
        CHECK_MSG(rc == LOOM_OK, "copied file: %s", err.msg);
        rc = run_workflow(s, "tiny.safetensors", &err);
        CHECK_MSG(rc == LOOM_OK && loader_runs == 1, "unchanged file: %d loads", loader_runs);
        struct timespec later[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = 1000000000}};
        CHECK(utimensat(AT_FDCWD, copy, later, 0) == 0);
        rc = run_workflow(s, "tiny.safetensors", &err);
        CHECK_MSG(rc == LOOM_OK && loader_runs == 2, "touched file: %d loads", loader_runs);

        check_lora_node(s, dir);

        rc = run_workflow(s, "wan_diffusers", &err);
        CHECK_MSG(rc == LOOM_OK, "diffusers folder through the COMBO: %s", err.msg);
        loom_value *mv = loom_session_last_value(s, "2", 0);
        const loom_model *m = loom_value_object_ptr(mv, LOOM_TYPE_MODEL);
        CHECK(m != NULL);
        if (m)
            check_predict(m);
        loom_value_unref(mv);
        loom_session_free(s);
    }
    unlink(link);
    unlink(copy);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}

int main(void)
{
    check_fixture_models();
    check_scratch_models();
    return check_summary("wan_nodes");
}
