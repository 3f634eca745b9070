/* writers_support.c: session, test node, workflow and folder helpers for the writer tests
 * (see writers_support.h). */
#define _GNU_SOURCE
#include "writers_support.h"

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loom/types.h"

float writers_pattern(const char *pattern, int f, int y, int x, int k, int w, int h, int n)
{
    if (!strcmp(pattern, "exact"))
        return (float)((x * 7 + y * 13 + f * 29 + k * 5) % 281) / 265.0f - 0.04f;
    if (k == 0)
        return (float)(x + 2 * f) / (float)(w + 2 * n);
    if (k == 1)
        return (float)y / (float)h;
    return 0.5f + 0.4f * sinf((float)(x + y) / (float)(w + h) * 3.14159f + 0.1f * (float)f);
}

uint8_t writers_pattern_u8(const char *pattern, int f, int y, int x, int k, int w, int h, int n)
{
    float v = 255.0f * writers_pattern(pattern, f, y, x, k, w, h, n);
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

static int frames_execute(loom_node_ctx *ctx)
{
    const int w = (int)loom_in_int(ctx, "width"), h = (int)loom_in_int(ctx, "height");
    const int n = (int)loom_in_int(ctx, "frames"), c = (int)loom_in_int(ctx, "channels");
    const char *pattern = loom_in_str(ctx, "pattern");
    loom_error err;
    loom_tensor *t = loom_tensor_new(LOOM_F32, 4, (int64_t[]){n, h, w, c}, &err);
    if (!t)
        return loom_node_fail_err(ctx, &err);
    float *p = t->data;
    for (int f = 0; f < n; f++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    *p++ = writers_pattern(pattern, f, y, x, k, w, h, n);
    return loom_out(ctx, 0, loom_image_value(t));
}

static const char *const patterns[] = {"exact", "smooth", NULL};
#define INT_IN(NAME, MAX) \
    {.name = NAME, .type = LOOM_T_INT, .flags = LOOM_IN_HAS_RANGE, .min = 1, .max = MAX}
static const loom_input frames_in[] = {
    INT_IN("width", 4096), INT_IN("height", 4096), INT_IN("frames", 512), INT_IN("channels", 8),
    {.name = "pattern", .type = LOOM_T_COMBO, .choices = patterns, .def_str = "exact"}};
static const loom_output frames_out[] = {{.type = "IMAGE"}};
static const loom_node_type frames_node = {
    .name = "WriterTestFrames", .inputs = frames_in, .n_inputs = LOOM_COUNT(frames_in),
    .outputs = frames_out, .n_outputs = 1, .execute = frames_execute};

int writers_open(writers_run *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->out_dir, sizeof r->out_dir, "%s/loom-writers-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(r->out_dir))
        return -1;
    loom_options opt = {.output_dir = r->out_dir, .quiet = true};
    loom_error err;
    if (loom_session_new(&opt, &r->s, &err) != LOOM_OK) {
        fprintf(stderr, "session: %s\n", err.msg);
        return -1;
    }
    return loom_session_register_node(r->s, &frames_node, NULL, "writers_test", &err);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void writers_close(writers_run *r)
{
    loom_session_free(r->s);
    r->s = NULL;
    if (r->out_dir[0])
        nftw(r->out_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void set(loom_workflow *wf, const char *node, const char *input, const char *json)
{
    loom_error err;
    if (loom_workflow_set_input_json(wf, node, input, json, &err) != LOOM_OK)
        fprintf(stderr, "set %s.%s: %s\n", node, input, err.msg);
}

/* Set every widget input of node `id` that the workflow lacks to its declared default. */
static void fill_defaults(writers_run *r, loom_workflow *wf, const char *id, const char *cls)
{
    const loom_node_type *t = loom_session_node_find(r->s, cls);
    for (size_t i = 0; t && i < t->n_inputs; i++) {
        const loom_input *in = &t->inputs[i];
        char *have = loom_workflow_get_input_json(wf, id, in->name);
        char json[256] = "";
        if (have || (in->flags & (LOOM_IN_HIDDEN | LOOM_IN_OPTIONAL)))
            ;
        else if (!strcmp(in->type, LOOM_T_INT))
            snprintf(json, sizeof json, "%lld", (long long)in->def);
        else if (!strcmp(in->type, LOOM_T_FLOAT))
            snprintf(json, sizeof json, "%.17g", in->def);
        else if (!strcmp(in->type, LOOM_T_BOOLEAN))
            snprintf(json, sizeof json, "%s", in->def ? "true" : "false");
        else if (!strcmp(in->type, LOOM_T_STRING) || !strcmp(in->type, LOOM_T_COMBO))
            snprintf(json, sizeof json, "\"%s\"", in->def_str ? in->def_str : "");
        if (json[0])
            set(wf, id, in->name, json);
        free(have);
    }
}

loom_workflow *writers_workflow(writers_run *r, const char *writer, int w, int h, int n, int c,
                                const char *pattern, double video_fps,
                                const char *const *inputs)
{
    loom_workflow *wf = loom_workflow_new();
    loom_error err;
    char num[64];
    loom_workflow_add_node(wf, "1", "WriterTestFrames", &err);
    snprintf(num, sizeof num, "%d", w);
    set(wf, "1", "width", num);
    snprintf(num, sizeof num, "%d", h);
    set(wf, "1", "height", num);
    snprintf(num, sizeof num, "%d", n);
    set(wf, "1", "frames", num);
    snprintf(num, sizeof num, "%d", c);
    set(wf, "1", "channels", num);
    snprintf(num, sizeof num, "\"%s\"", pattern);
    set(wf, "1", "pattern", num);
    loom_workflow_add_node(wf, "2", writer, &err);
    for (size_t i = 0; inputs && inputs[i]; i += 2)
        set(wf, "2", inputs[i], inputs[i + 1]);
    if (video_fps > 0) {
        loom_workflow_add_node(wf, "3", "CreateVideo", &err);
        snprintf(num, sizeof num, "%.17g", video_fps);
        set(wf, "3", "fps", num);
        loom_workflow_set_link(wf, "3", "images", "1", 0, &err);
        loom_workflow_set_link(wf, "2", "video", "3", 0, &err);
    } else {
        loom_workflow_set_link(wf, "2", "images", "1", 0, &err);
    }
    fill_defaults(r, wf, "2", writer);
    if (video_fps > 0)
        fill_defaults(r, wf, "3", "CreateVideo");
    return wf;
}

static void on_event(const loom_event *ev, void *user)
{
    writers_run *r = user;
    if (ev->type == LOOM_EV_PROGRESS && r->interrupt_at && ev->value == r->interrupt_at &&
        ev->node_id && !strcmp(ev->node_id, "2"))
        loom_interrupt(r->s);
    if (ev->type == LOOM_EV_EXECUTION_ERROR)
        snprintf(r->error, sizeof r->error, "%s", ev->message ? ev->message : "");
    if (ev->type == LOOM_EV_EXECUTION_INTERRUPTED)
        r->interrupted = true;
}

int writers_execute(writers_run *r, loom_workflow *wf)
{
    r->error[0] = '\0';
    r->interrupted = false;
    loom_cache_clear(r->s);
    loom_run_options opt = {.on_event = on_event, .user = r, .workflow_json = r->workflow_json};
    loom_error err;
    int rc = loom_run(r->s, wf, &opt, &err);
    if (rc != LOOM_OK && !r->error[0])
        snprintf(r->error, sizeof r->error, "%s", err.msg);
    return rc;
}

char *writers_ui(writers_run *r)
{
    return loom_session_last_outputs(r->s);
}

int writers_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}
