/* test_latent.c: the latent nodes through a session with the built-in plugins.
 * EmptyHunyuanLatentVideo is [B, 16, (length-1)/4 + 1, H/8, W/8], EmptyLatentImage
 * [B, 4, H/8, W/8], Wan22ImageToVideoLatent without a start image [1, 48, ..., H/16, W/16];
 * LoadLatent -> SaveLatent round-trips values exactly in ComfyUI's
 * .latent layout (latent_tensor + empty latent_format_version_0, prompt metadata) under
 * latents/<prefix>_00001_.latent, never overwrites, scales legacy files by 1/0.18215,
 * and refuses bad prefixes and broken files with messages that name them. */
#define _GNU_SOURCE
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/check.h"
#include "loom/loom.h"
#include "loom/random.h"
#include "loom/safetensors.h"
#include "loom/types.h"

/* Wan22ImageToVideoLatent takes a VAE it does not use without a start image. */
static int fake_vae_exec(loom_node_ctx *ctx)
{
    return loom_out(ctx, 0, loom_value_object("VAE", malloc(1), free, 1));
}
static const loom_output vae_out[] = {{.type = "VAE"}};
static const loom_node_type fake_vae = {.name = "FakeVAE", .outputs = vae_out, .n_outputs = 1,
                                        .execute = fake_vae_exec};

typedef struct rec {
    char error[1024];
} rec;

static void on_event(const loom_event *ev, void *user)
{
    rec *r = user;
    if (ev->type == LOOM_EV_EXECUTION_ERROR)
        snprintf(r->error, sizeof r->error, "%s", ev->message ? ev->message : "");
}

static int run_json(loom_session *s, const char *json, rec *r)
{
    loom_workflow *wf = NULL;
    loom_error err = {0};
    r->error[0] = 0;
    if (loom_workflow_load_string(s, json, &wf, &err) != LOOM_OK) {
        snprintf(r->error, sizeof r->error, "%s", err.msg);
        return err.code;
    }
    loom_run_options opt = {.on_event = on_event, .user = r};
    int rc = loom_run(s, wf, &opt, &err);
    if (rc && !r->error[0])
        snprintf(r->error, sizeof r->error, "%s", err.msg);
    loom_workflow_free(wf);
    return rc;
}

static loom_tensor *latent_of(loom_session *s, const char *node)
{
    loom_value *v = loom_session_last_value(s, node, 0);
    const loom_latent *l = v ? loom_value_object_ptr(v, LOOM_TYPE_LATENT) : NULL;
    loom_tensor *t = l ? loom_tensor_ref(l->samples) : NULL;
    loom_value_unref(v);
    return t;
}

static bool shape_is(const loom_tensor *t, const char *want)
{
    char buf[96] = "";
    if (t)
        loom_tensor_describe(t, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "  shape %s, expected %s\n", buf, want);
    return strcmp(buf, want) == 0;
}

#define PREVIEW(ID, SRC) \
    "\"" ID "\": {\"class_type\": \"PreviewAny\", \"inputs\": {\"source\": [\"" SRC "\", 0]}}"

static void test_empty_latents(loom_session *s)
{
    rec r;
    CHECK_MSG(run_json(s,
        "{\"1\": {\"class_type\": \"EmptyHunyuanLatentVideo\", \"inputs\": {\"width\": 832,"
        " \"height\": 480, \"length\": 81, \"batch_size\": 2}},"
        " \"2\": {\"class_type\": \"EmptyHunyuanLatentVideo\", \"inputs\": {\"width\": 48,"
        " \"height\": 32, \"length\": 4, \"batch_size\": 1}},"
        " \"3\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 512,"
        " \"height\": 768, \"batch_size\": 3}},"
        PREVIEW("4", "1") "," PREVIEW("5", "2") "," PREVIEW("6", "3") "}", &r) == LOOM_OK,
        "%s", r.error);
    loom_tensor *a = latent_of(s, "1"), *b = latent_of(s, "2"), *c = latent_of(s, "3");
    CHECK(shape_is(a, "[2, 16, 21, 60, 104] F32"));   /* 832x480x81, Wan2.1's default */
    CHECK(shape_is(b, "[1, 16, 1, 4, 6] F32"));        /* 4 frames still make 1 latent frame */
    CHECK(shape_is(c, "[3, 4, 96, 64] F32"));
    bool zero = a != NULL;
    for (int64_t i = 0; a && i < loom_tensor_numel(a); i++)
        zero &= ((float *)a->data)[i] == 0.0f;
    CHECK_MSG(zero, "an empty latent must be zeros");
    loom_tensor_unref(a);
    loom_tensor_unref(b);
    loom_tensor_unref(c);
    /* Wan2.2-TI2V text-to-video: 48 channels, 16x spatial compression, batch ignored. */
    CHECK_MSG(run_json(s,
        "{\"1\": {\"class_type\": \"FakeVAE\", \"inputs\": {}},"
        " \"2\": {\"class_type\": \"Wan22ImageToVideoLatent\", \"inputs\": {\"vae\": [\"1\", 0],"
        " \"width\": 1280, \"height\": 704, \"length\": 121, \"batch_size\": 2}},"
        PREVIEW("3", "2") "}", &r) == LOOM_OK, "%s", r.error);
    a = latent_of(s, "2");
    CHECK(shape_is(a, "[1, 48, 31, 44, 80] F32"));
    loom_tensor_unref(a);
    /* The widgets' limits are validated before anything runs. */
    CHECK(run_json(s, "{\"1\": {\"class_type\": \"EmptyHunyuanLatentVideo\", \"inputs\": {"
                      "\"width\": 8, \"height\": 480, \"length\": 81, \"batch_size\": 1}},"
                      PREVIEW("2", "1") "}", &r) != LOOM_OK);
    CHECK_CONTAINS(r.error, "width");
}

static loom_tensor *write_source(const char *path, bool with_marker, float scale)
{
    int64_t shape[5] = {1, 16, 2, 3, 4};
    loom_error err = {0};
    loom_tensor *t = loom_tensor_new(LOOM_F32, 5, shape, &err);
    loom_randn(7, t->data, loom_tensor_numel(t));
    for (int64_t i = 0; i < loom_tensor_numel(t); i++)
        ((float *)t->data)[i] *= scale;
    int64_t empty[1] = {0};
    loom_tensor *marker = loom_tensor_new(LOOM_F32, 1, empty, &err);
    const char *names[2] = {"latent_tensor", "latent_format_version_0"};
    loom_tensor *tensors[2] = {t, marker};
    CHECK_MSG(loom_safetensors_write(path, with_marker ? 2 : 1, names, tensors, NULL, &err) == 0,
              "%s", err.msg);
    loom_tensor_unref(marker);
    return t;
}

static bool same_values(const loom_tensor *a, const loom_tensor *b, float factor)
{
    if (!a || !b || loom_tensor_numel(a) != loom_tensor_numel(b))
        return false;
    for (int64_t i = 0; i < loom_tensor_numel(a); i++)
        if (fabsf(((float *)a->data)[i] - ((float *)b->data)[i] * factor) >
            1e-6f * fabsf(((float *)a->data)[i]))
            return false;
    return true;
}

static void test_latent_files(loom_session *s, const char *out_dir)
{
    mkdir("input", 0755);
    loom_tensor *src = write_source("input/src.latent", true, 1.0f);
    loom_tensor *legacy = write_source("input/legacy.latent", false, 0.18215f);
    static const char *save_json =
        "{\"1\": {\"class_type\": \"LoadLatent\", \"inputs\": {\"latent\": \"src.latent\"}},"
        " \"2\": {\"class_type\": \"SaveLatent\", \"inputs\": {\"samples\": [\"1\", 0],"
        "        \"filename_prefix\": \"latents/rt\"}},"
        " \"3\": {\"class_type\": \"LoadLatent\", \"inputs\": {\"latent\": \"legacy.latent\"}},"
        PREVIEW("4", "3") "}";
    rec r;
    CHECK_MSG(run_json(s, save_json, &r) == LOOM_OK, "%s", r.error);
    char *outputs = loom_session_last_outputs(s);
    CHECK_CONTAINS(outputs, "\"latents\"");
    CHECK_CONTAINS(outputs, "rt_00001_.latent");
    free(outputs);

    char path[4200];
    snprintf(path, sizeof path, "%s/latents/rt_00001_.latent", out_dir);
    loom_safetensors *st = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_safetensors_open(path, &st, &err) == LOOM_OK, "%s", err.msg);
    loom_tensor *saved = st ? loom_safetensors_get(st, "latent_tensor") : NULL;
    loom_tensor *saved32 = saved ? loom_tensor_to_f32(saved, &err) : NULL;
    CHECK_MSG(same_values(saved32, src, 1.0f), "saved values differ from the loaded file");
    int ndim = -1;
    int64_t shape[LOOM_MAX_DIMS];
    CHECK(st && loom_safetensors_info(st, "latent_format_version_0", NULL, &ndim, shape) == 0 &&
          ndim == 1 && shape[0] == 0);
    const char *prompt = st ? loom_safetensors_metadata(st, "prompt") : NULL;
    CHECK_CONTAINS(prompt, "LoadLatent");
    loom_tensor_unref(saved);
    loom_tensor_unref(saved32);
    loom_safetensors_close(st);

    /* Legacy files (no format marker) were scaled by 0.18215: LoadLatent undoes it. */
    loom_tensor *back = latent_of(s, "3");
    CHECK_MSG(same_values(back, legacy, 1.0f / 0.18215f), "legacy latent not rescaled");
    loom_tensor_unref(back);

    /* Saving again never overwrites: the counter moves on and the first file stays. */
    struct stat before, after;
    CHECK(stat(path, &before) == 0);
    loom_cache_clear(s);
    CHECK_MSG(run_json(s, save_json, &r) == LOOM_OK, "%s", r.error);
    snprintf(path, sizeof path, "%s/latents/rt_00002_.latent", out_dir);
    CHECK_MSG(access(path, F_OK) == 0, "%s missing", path);
    snprintf(path, sizeof path, "%s/latents/rt_00001_.latent", out_dir);
    CHECK(stat(path, &after) == 0 && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec &&
          after.st_mtim.tv_sec == before.st_mtim.tv_sec);
    loom_tensor_unref(src);
    loom_tensor_unref(legacy);
}

static void test_latent_errors(loom_session *s)
{
    rec r;
    /* A prefix may not leave the output folder. */
    CHECK(run_json(s, "{\"1\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 64,"
                      " \"height\": 64, \"batch_size\": 1}},"
                      " \"2\": {\"class_type\": \"SaveLatent\", \"inputs\": {\"samples\": [\"1\", 0],"
                      " \"filename_prefix\": \"../escape\"}}}", &r) != LOOM_OK);
    CHECK_MSG(r.error[0] != 0, "no message for an escaping prefix");
    printf("  escaping prefix: %s\n", r.error);
    /* A file that is not in ./input fails validation, naming the value. */
    CHECK(run_json(s, "{\"1\": {\"class_type\": \"LoadLatent\", \"inputs\": {\"latent\":"
                      " \"missing.latent\"}}," PREVIEW("2", "1") "}", &r) != LOOM_OK);
    CHECK_CONTAINS(r.error, "missing.latent");
    /* A broken file is a runtime error that names it. */
    FILE *f = fopen("input/broken.latent", "wb");
    if (f) {
        fputs("not a safetensors file", f);
        fclose(f);
    }
    CHECK(run_json(s, "{\"1\": {\"class_type\": \"LoadLatent\", \"inputs\": {\"latent\":"
                      " \"broken.latent\"}}," PREVIEW("2", "1") "}", &r) != LOOM_OK);
    CHECK_CONTAINS(r.error, "broken.latent");
    printf("  broken file: %s\n", r.error);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    char dir[] = "/tmp/loom-latent-XXXXXX", out_dir[4096], cwd[4096];
    CHECK(mkdtemp(dir) != NULL && getcwd(cwd, sizeof cwd) != NULL && chdir(dir) == 0);
    snprintf(out_dir, sizeof out_dir, "%s/output", dir);
    loom_options opt = {.output_dir = out_dir, .quiet = true};
    loom_session *s = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_session_new(&opt, &s, &err) == LOOM_OK, "%s", err.msg);
    CHECK(s && loom_session_register_node(s, &fake_vae, NULL, "test", &err) == LOOM_OK);
    if (s && loom_session_node_find(s, "SaveLatent") && loom_session_node_find(s, "PreviewAny")) {
        test_empty_latents(s);
        test_latent_files(s, out_dir);
        test_latent_errors(s);
    } else {
        CHECK_MSG(0, "the latent and core plugins did not load");
    }
    loom_session_free(s);
    CHECK(chdir(cwd) == 0);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_latent");
}
