/* test_text_nodes.c: CLIPLoader, CLIPTextEncode and TextEncodeWanOfficial through the
 * public API, as a workflow drives them (models dir = tests/fixtures/models):
 *   - CLIPLoader -> CLIPTextEncode -> PreviewAny runs and the CONDITIONING holds the
 *     reference context ([1, 512, 32], length 18) of the `english` prompt;
 *   - running it again reports both nodes cached; a new prompt re-runs only the encoder;
 *   - `(A cat:1.5) walks ...` gives z = (z - z_empty) * 1.5 + z_empty on the weighted rows
 *     (z_empty from the `empty` reference: row 0 real, the rest zero) and z elsewhere;
 *   - a prompt of more than 512 tokens is not truncated;
 *   - the Wan official node cleans, truncates to 512 and matches the cleaned length;
 *   - a diffusers text_encoder/ folder loads through the COMBO with its sibling tokenizer/;
 *   - an interrupt stops the encoder at the next layer;
 *   - a garbled file fails with a message naming it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/check.h"
#include "../support/fixture.h"
#include "loom/loom.h"
#include "loom/types.h"

/* fp32 weights and kernels: the parity bound of test_umt5. */
static const fixture_tol f32_tol = {.abs_tol = 2e-5, .rel_tol = 1e-4};

typedef struct events {
    char cached[8][16];
    int  n_cached;
    char executed[8][16];
    int  n_executed;
    int  progress;
    loom_session *interrupt_on_progress;   /* when set, interrupt at the first progress report */
} events;

static void on_event(const loom_event *ev, void *user)
{
    events *e = user;
    if (ev->type == LOOM_EV_EXECUTION_CACHED)
        for (size_t i = 0; i < ev->n_nodes && e->n_cached < 8; i++)
            snprintf(e->cached[e->n_cached++], 16, "%s", ev->nodes[i]);
    if (ev->type == LOOM_EV_EXECUTED && e->n_executed < 8)
        snprintf(e->executed[e->n_executed++], 16, "%s", ev->node_id);
    if (ev->type == LOOM_EV_PROGRESS) {
        e->progress++;
        if (e->interrupt_on_progress)
            loom_interrupt(e->interrupt_on_progress);
    }
}

static int listed(char list[][16], int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], id))
            return 1;
    return 0;
}

/* Build and run loader -> encoder(class) -> PreviewAny; returns the run status. */
static int run(loom_session *s, const char *clip_name, const char *encoder, const char *text, events *ev,
               loom_error *err)
{
    loom_workflow *wf = loom_workflow_new();
    char json[256];
    int rc = 0;
    loom_workflow_add_node(wf, "1", "CLIPLoader", err);
    snprintf(json, sizeof json, "\"%s\"", clip_name);
    rc |= loom_workflow_set_input_json(wf, "1", "clip_name", json, err);
    rc |= loom_workflow_set_input_json(wf, "1", "type", "\"wan\"", err);
    loom_workflow_add_node(wf, "2", encoder, err);
    rc |= loom_workflow_set_link(wf, "2", "clip", "1", 0, err);
    rc |= loom_workflow_set_input_json(wf, "2", "text", text, err);   /* plain text is taken as a string */
    loom_workflow_add_node(wf, "3", "PreviewAny", err);
    rc |= loom_workflow_set_link(wf, "3", "source", "2", 0, err);
    loom_session *interrupt = ev->interrupt_on_progress;
    memset(ev, 0, sizeof *ev);
    ev->interrupt_on_progress = interrupt;
    loom_run_options opt = {.on_event = on_event, .user = ev};
    if (rc == LOOM_OK)
        rc = loom_run(s, wf, &opt, err);
    loom_workflow_free(wf);
    return rc;
}

/* The CONDITIONING of node 2 after a run (new reference), or NULL. */
static loom_value *conditioning(loom_session *s, const loom_conditioning **c)
{
    loom_value *v = loom_session_last_value(s, "2", 0);
    *c = v ? loom_value_object_ptr(v, LOOM_TYPE_CONDITIONING) : NULL;
    CHECK_MSG(*c && (*c)->n == 1, "node 2 left no CONDITIONING");
    return v;
}

static void check_weighting(loom_session *s, loom_safetensors *ref)
{
    events ev = {0};
    loom_error err = {0};
    const loom_conditioning *plain, *weighted;
    CHECK_MSG(run(s, "umt5_tiny_fp32.safetensors", "CLIPTextEncode", "A cat walks on the grass", &ev, &err) == LOOM_OK,
              "%s", err.msg);
    loom_value *vp = conditioning(s, &plain);
    CHECK_MSG(run(s, "umt5_tiny_fp32.safetensors", "CLIPTextEncode", "(A cat:1.5) walks on the grass", &ev, &err) ==
                  LOOM_OK, "%s", err.msg);
    loom_value *vw = conditioning(s, &weighted);
    loom_tensor *empty = fixture_tensor(ref, "empty.context");
    if (plain && weighted && empty) {
        const float *z = plain->entries[0].context->data, *zw = weighted->entries[0].context->data;
        const float *e = empty->data;
        const int64_t D = 32, weighted_rows = 3;   /* "A cat" -> ▁A ▁ca t */
        CHECK(plain->entries[0].length == weighted->entries[0].length);
        float *want = malloc(512 * D * sizeof *want);
        for (int64_t j = 0; j < 512; j++)
            for (int64_t d = 0; d < D; d++)
                want[j * D + d] = j < weighted_rows ? (z[j * D + d] - e[j * D + d]) * 1.5f + e[j * D + d] : z[j * D + d];
        loom_tensor *want_t = loom_tensor_wrap(LOOM_F32, 2, (int64_t[]){512, D}, want, NULL, NULL, NULL);
        CHECK(fixture_compare("(A cat:1.5): z = (z - z_empty) * 1.5 + z_empty", zw, want_t, f32_tol, NULL));
        /* and the weighting did something */
        CHECK(fabsf(zw[D + 3] - z[D + 3]) > 1e-3f);
        loom_tensor_unref(want_t);
        free(want);
    }
    loom_tensor_unref(empty);
    loom_value_unref(vp);
    loom_value_unref(vw);
}

static void check_folder_and_errors(const char *fixtures)
{
    char dir[] = "/tmp/loom_text_nodes_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[PATH_MAX], target[PATH_MAX];
    snprintf(path, sizeof path, "%s/text_encoders", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/text_encoders/wan_te", dir);
    snprintf(target, sizeof target, "%s/diffusers/wan2.1_t2v_tiny/text_encoder", fixtures);
    CHECK(symlink(target, path) == 0);
    snprintf(path, sizeof path, "%s/text_encoders/garbled.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fputs("this is not a safetensors file", f);
    fclose(f);
    loom_options opt = {.models_dir = dir, .quiet = true};
    loom_session *s = NULL;
    loom_error err = {0};
    events ev = {0};
    CHECK(loom_session_new(&opt, &s, &err) == LOOM_OK);
    if (s) {
        int rc = run(s, "wan_te", "CLIPTextEncode", "A cat walks on the grass, realistic style.", &ev, &err);
        CHECK_MSG(rc == LOOM_OK, "diffusers folder: %s", err.msg);
        const loom_conditioning *c;
        loom_value *v = rc == LOOM_OK ? conditioning(s, &c) : NULL;
        if (v) {
            loom_safetensors *ref = fixture_open("text_encoder/umt5_outputs.safetensors");
            loom_tensor *want = fixture_tensor(ref, "english.context");
            CHECK(c->entries[0].length == 18);
            CHECK(want && fixture_compare("diffusers folder via CLIPLoader: english", c->entries[0].context->data,
                                          want, f32_tol, NULL));
            loom_tensor_unref(want);
            loom_safetensors_close(ref);
        }
        loom_value_unref(v);
        rc = run(s, "garbled.safetensors", "CLIPTextEncode", "x", &ev, &err);
        CHECK(rc != LOOM_OK);
        CHECK_CONTAINS(err.msg, "garbled.safetensors");
        loom_session_free(s);
    }
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    char models[PATH_MAX];
    snprintf(models, sizeof models, "%s/models", fixture_dir());
    loom_options opt = {.models_dir = models, .quiet = true};
    loom_session *s = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_session_new(&opt, &s, &err) == LOOM_OK, "%s", err.msg);
    loom_safetensors *ref = fixture_open("text_encoder/umt5_outputs.safetensors");
    if (!s || !ref)
        return check_summary("test_text_nodes");
    events ev = {0};
    const char *english = "A cat walks on the grass, realistic style.";
    CHECK_MSG(run(s, "umt5_tiny_fp32.safetensors", "CLIPTextEncode", english, &ev, &err) == LOOM_OK, "%s", err.msg);
    CHECK(listed(ev.executed, ev.n_executed, "3"));
    CHECK(ev.progress >= 3);   /* one report per layer */
    const loom_conditioning *c;
    loom_value *v = conditioning(s, &c);
    if (v) {
        loom_tensor *ctx = c->entries[0].context, *want = fixture_tensor(ref, "english.context");
        CHECK(ctx->ndim == 3 && ctx->shape[0] == 1 && ctx->shape[1] == 512 && ctx->shape[2] == 32);
        CHECK(c->entries[0].length == 18);
        CHECK(want && fixture_compare("CLIPTextEncode english vs transformers", ctx->data, want, f32_tol, NULL));
        loom_tensor_unref(want);
    }
    loom_value_unref(v);

    /* the same prompt again: everything comes from the cache */
    CHECK(run(s, "umt5_tiny_fp32.safetensors", "CLIPTextEncode", english, &ev, &err) == LOOM_OK);
    CHECK(listed(ev.cached, ev.n_cached, "1") && listed(ev.cached, ev.n_cached, "2"));
    /* a new prompt: the loader is cached, the encoder runs */
    CHECK(run(s, "umt5_tiny_fp32.safetensors", "CLIPTextEncode", "a dog", &ev, &err) == LOOM_OK);
    CHECK(listed(ev.cached, ev.n_cached, "1") && !listed(ev.cached, ev.n_cached, "2"));

    check_weighting(s, ref);

    /* no truncation: 600 words give more than 512 rows, all real */
    char *long_text = malloc(600 * 4 + 1);
    for (int i = 0; i < 600; i++)
        memcpy(long_text + 4 * i, "cat ", 4);
    long_text[600 * 4 - 1] = 0;
    CHECK(run(s, "umt5_tiny_fp32.safetensors", "CLIPTextEncode", long_text, &ev, &err) == LOOM_OK);
    if ((v = conditioning(s, &c))) {
        CHECK_MSG(c->entries[0].length > 512 && c->entries[0].context->shape[1] == c->entries[0].length,
                  "long prompt: length %lld, rows %lld", (long long)c->entries[0].length,
                  (long long)c->entries[0].context->shape[1]);
        loom_value_unref(v);
    }
    /* Wan's official path truncates to 512 */
    CHECK(run(s, "umt5_tiny_fp32.safetensors", "TextEncodeWanOfficial", long_text, &ev, &err) == LOOM_OK);
    if ((v = conditioning(s, &c))) {
        CHECK(c->entries[0].length == 512 && c->entries[0].context->shape[1] == 512);
        loom_value_unref(v);
    }
    free(long_text);
    /* ... and cleans: the html_entities prompt has 33 tokens after cleaning (prompts.json) */
    CHECK(run(s, "umt5_tiny_fp32.safetensors", "TextEncodeWanOfficial",
              "Tom &amp; Jerry &lt;3 &quot;run&quot; &#39;fast&#39; &amp;amp; caf&eacute; &nbsp;end", &ev, &err) == LOOM_OK);
    if ((v = conditioning(s, &c))) {
        CHECK_MSG(c->entries[0].length == 33, "cleaned length %lld", (long long)c->entries[0].length);
        loom_value_unref(v);
    }
    /* an interrupt during the encoder stops it at the next layer */
    ev.interrupt_on_progress = s;
    CHECK(run(s, "umt5_tiny_fp32.safetensors", "CLIPTextEncode", "an interrupted prompt", &ev, &err) ==
          LOOM_ERR_INTERRUPTED);
    CHECK(ev.progress == 1);
    ev.interrupt_on_progress = NULL;
    /* the fp8 checkpoint loads and encodes through the node too */
    CHECK_MSG(run(s, "umt5_tiny_fp8_e4m3fn_scaled.safetensors", "CLIPTextEncode", english, &ev, &err) == LOOM_OK,
              "%s", err.msg);

    loom_safetensors_close(ref);
    loom_session_free(s);
    check_folder_and_errors(fixture_dir());
    return check_summary("test_text_nodes");
}
