/* test_image_writers.c: SaveImage, PreviewImage and SaveAnimatedWEBP run through the
 * public API with the built-in plugins, their files read back with libpng / libwebp:
 * pixels (exact after ComfyUI's 8-bit conversion, or within a lossy bound), embedded
 * workflow, counter, never overwriting, path rules, and nothing left by an interrupt. */
#include <json-c/json.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <webp/demux.h>

#include "../support/check.h"
#include "loom/tensor.h"
#include "writers_support.h"

/* A workflow with a non-ASCII title: tEXt is Latin-1, so it must arrive \u-escaped. */
static const char *const ui_workflow =
    "{\"last_node_id\": 2, \"nodes\": [], "
    "\"extra\": {\"title\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}}";

typedef struct png_file {
    int      width, height, channels;
    uint8_t *pixels;             /* rows of width * channels bytes */
    char    *prompt, *workflow;  /* tEXt values, NULL when absent */
    bool     text_is_ascii;
} png_file;

static bool read_png(const char *path, png_file *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(fp);
        return false;
    }
    png_init_io(png, fp);
    png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    out->width = (int)png_get_image_width(png, info);
    out->height = (int)png_get_image_height(png, info);
    out->channels = png_get_channels(png, info);
    CHECK(png_get_bit_depth(png, info) == 8);
    png_bytepp rows = png_get_rows(png, info);
    size_t stride = (size_t)out->width * out->channels;
    out->pixels = malloc(stride * out->height);
    for (int y = 0; y < out->height; y++)
        memcpy(out->pixels + y * stride, rows[y], stride);
    png_textp text;
    int n = png_get_text(png, info, &text, NULL);
    out->text_is_ascii = true;
    for (int i = 0; i < n; i++) {
        CHECK(text[i].compression == PNG_TEXT_COMPRESSION_NONE);   /* tEXt, like Pillow */
        for (const char *c = text[i].text; *c; c++)
            out->text_is_ascii &= (unsigned char)*c < 0x80;
        if (!strcmp(text[i].key, "prompt"))
            out->prompt = strdup(text[i].text);
        if (!strcmp(text[i].key, "workflow"))
            out->workflow = strdup(text[i].text);
    }
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return true;
}

static void free_png(png_file *f)
{
    free(f->pixels);
    free(f->prompt);
    free(f->workflow);
}

static char *path_in(const writers_run *r, const char *rel)
{
    char *p = malloc(strlen(r->out_dir) + strlen(rel) + 2);
    sprintf(p, "%s/%s", r->out_dir, rel);
    return p;
}

static bool exists(const writers_run *r, const char *rel)
{
    char *p = path_in(r, rel);
    struct stat st;
    bool ok = stat(p, &st) == 0;
    free(p);
    return ok;
}

/* Every pixel of frame f equals ComfyUI's conversion of the pattern. */
static void check_png_frame(const writers_run *r, const char *rel, int f, int w, int h, int c,
                            int n)
{
    char *p = path_in(r, rel);
    png_file png;
    CHECK_MSG(read_png(p, &png), "(%s unreadable)", p);
    CHECK(png.width == w && png.height == h && png.channels == c);
    int bad = 0;
    for (int y = 0; png.pixels && y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                bad += png.pixels[(y * w + x) * c + k] !=
                       writers_pattern_u8("exact", f, y, x, k, w, h, n);
    CHECK_MSG(bad == 0, "(%d pixels differ in %s)", bad, rel);
    /* The prompt is the API workflow; the workflow is the UI one, values intact. */
    CHECK(png.text_is_ascii);
    json_object *prompt = png.prompt ? json_tokener_parse(png.prompt) : NULL;
    json_object *node = NULL, *cls = NULL;
    CHECK(prompt && json_object_object_get_ex(prompt, "2", &node) &&
          json_object_object_get_ex(node, "class_type", &cls));
    CHECK(cls && json_object_get_string(cls)[0] != '\0');
    json_object *wf = png.workflow ? json_tokener_parse(png.workflow) : NULL;
    json_object *want = json_tokener_parse(ui_workflow);
    CHECK_MSG(wf && json_object_equal(wf, want), "(workflow chunk: %s)",
              png.workflow ? png.workflow : "missing");
    json_object_put(prompt);
    json_object_put(wf);
    json_object_put(want);
    free_png(&png);
    free(p);
}

static void test_save_image(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    r.workflow_json = ui_workflow;
    const char *const inputs[] = {"filename_prefix", "\"shots/run\"", NULL};
    loom_workflow *wf = writers_workflow(&r, "SaveImage", 7, 5, 3, 3, "exact", 0, inputs);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    for (int f = 0; f < 3; f++) {
        char rel[64];
        snprintf(rel, sizeof rel, "shots/run_%05d_.png", f + 1);
        check_png_frame(&r, rel, f, 7, 5, 3, 3);
    }
    char *ui = writers_ui(&r);
    CHECK_CONTAINS(ui, "{\"filename\":\"run_00001_.png\",\"subfolder\":\"shots\","
                       "\"type\":\"output\"}");
    CHECK_CONTAINS(ui, "\"run_00003_.png\"");
    free(ui);

    /* The counter continues after the highest number, across extensions, and a file
     * that is already there is never replaced. */
    char *keep = path_in(&r, "shots/run_00007_.mp4");
    FILE *fp = fopen(keep, "w");
    fputs("keep me", fp);
    fclose(fp);
    CHECK(writers_execute(&r, wf) == LOOM_OK);
    CHECK(exists(&r, "shots/run_00008_.png") && exists(&r, "shots/run_00010_.png"));
    CHECK(!exists(&r, "shots/run_00004_.png") && !exists(&r, "shots/run_00011_.png"));
    char buf[16] = {0};
    fp = fopen(keep, "r");
    CHECK(fp && fread(buf, 1, sizeof buf - 1, fp) == 7 && !strcmp(buf, "keep me"));
    if (fp)
        fclose(fp);
    free(keep);
    check_png_frame(&r, "shots/run_00010_.png", 2, 7, 5, 3, 3);
    char *shots = path_in(&r, "shots");
    CHECK(writers_count_files(shots) == 7);       /* 3 + 3 + the kept file: no temporaries */
    CHECK(writers_count_files(r.out_dir) == 1);
    free(shots);
    loom_workflow_free(wf);
    writers_close(&r);
}

static void test_channels(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    r.workflow_json = ui_workflow;
    const char *const inputs[] = {"filename_prefix", "\"rgba\"", NULL};
    loom_workflow *wf = writers_workflow(&r, "SaveImage", 4, 3, 1, 4, "exact", 0, inputs);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    check_png_frame(&r, "rgba_00001_.png", 0, 4, 3, 4, 1);
    loom_workflow_free(wf);
    const char *const gray[] = {"filename_prefix", "\"gray\"", NULL};
    wf = writers_workflow(&r, "SaveImage", 4, 3, 1, 1, "exact", 0, gray);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    check_png_frame(&r, "gray_00001_.png", 0, 4, 3, 1, 1);
    loom_workflow_free(wf);
    const char *const two[] = {"filename_prefix", "\"two\"", NULL};
    wf = writers_workflow(&r, "SaveImage", 4, 3, 1, 2, "exact", 0, two);
    CHECK(writers_execute(&r, wf) != LOOM_OK);
    CHECK_CONTAINS(r.error, "channels");
    loom_workflow_free(wf);
    writers_close(&r);
}

/* Prefixes that leave the output folder are refused before anything is written. */
static void test_prefix_rules(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    const char *bad[] = {"\"../escaped\"", "\"/tmp/escaped\"", "\"a/../../escaped\"", "\"\"",
                         "\"blocker/x\""};
    char *blocker = path_in(&r, "blocker");
    fclose(fopen(blocker, "w"));   /* a file where a folder would have to be */
    free(blocker);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const inputs[] = {"filename_prefix", bad[i], NULL};
        loom_workflow *wf = writers_workflow(&r, "SaveImage", 2, 2, 1, 3, "exact", 0, inputs);
        CHECK_MSG(writers_execute(&r, wf) != LOOM_OK, "(prefix %s accepted)", bad[i]);
        CHECK_MSG(strstr(r.error, "output folder") || strstr(r.error, "names no file"),
                  "(prefix %s: %s)", bad[i], r.error);
        loom_workflow_free(wf);
    }
    char parent_file[512];
    snprintf(parent_file, sizeof parent_file, "%s/../escaped_00001_.png", r.out_dir);
    struct stat st;
    CHECK(stat(parent_file, &st) != 0);
    CHECK(writers_count_files(r.out_dir) == 1);   /* just the blocker */

    /* ".." that stays inside, and %width% / %height%, are fine. */
    const char *const inside[] = {"filename_prefix", "\"a/../in_%width%x%height%\"", NULL};
    loom_workflow *wf = writers_workflow(&r, "SaveImage", 3, 2, 1, 3, "exact", 0, inside);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    CHECK(exists(&r, "in_3x2_00001_.png"));
    loom_workflow_free(wf);
    writers_close(&r);
}

static void test_interrupt_leaves_nothing(void)
{
    const char *writers[] = {"SaveImage", "SaveAnimatedWEBP"};
    for (size_t i = 0; i < 2; i++) {
        writers_run r;
        CHECK(writers_open(&r) == 0);
        r.interrupt_at = 2;
        const char *const inputs[] = {"filename_prefix", "\"cut/x\"", NULL};
        loom_workflow *wf = writers_workflow(&r, writers[i], 8, 8, 4, 3, "exact", 0, inputs);
        CHECK(writers_execute(&r, wf) == LOOM_ERR_INTERRUPTED);
        CHECK(r.interrupted);
        char *dir = path_in(&r, "cut");
        CHECK_MSG(writers_count_files(dir) <= 0, "(%s left %d files)", writers[i],
                  writers_count_files(dir));
        free(dir);
        loom_workflow_free(wf);
        writers_close(&r);
    }
}

/* A long batch holds one file open at a time: 200 frames under a 64-descriptor limit. */
static void test_long_batch(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    struct rlimit old, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    loom_workflow *wf = writers_workflow(&r, "SaveImage", 2, 2, 200, 3, "exact", 0,
                                         (const char *const[]){"filename_prefix", "\"long\"",
                                                               NULL});
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    setrlimit(RLIMIT_NOFILE, &old);
    CHECK(exists(&r, "long_00200_.png") && writers_count_files(r.out_dir) == 200);
    loom_workflow_free(wf);
    writers_close(&r);
}

static void test_preview_image(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    loom_workflow *wf = writers_workflow(&r, "PreviewImage", 3, 3, 2, 3, "exact", 0, NULL);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    char *ui = writers_ui(&r);
    CHECK_CONTAINS(ui, "\"filename\":\"ComfyUI_temp_");
    CHECK_CONTAINS(ui, "_00002_.png\",\"subfolder\":\"\",\"type\":\"temp\"");
    char *temp = path_in(&r, "temp");
    CHECK(writers_count_files(temp) == 2);
    free(temp);
    free(ui);
    loom_workflow_free(wf);
    writers_close(&r);
}

/* The EXIF block holds ASCII entries "<key>:<json>"; find the one for key. */
static char *exif_entry(const uint8_t *b, size_t size, const char *key, unsigned *tag)
{
    if (size < 10 || memcmp(b, "II*\0", 4))
        return NULL;
    unsigned n = b[8] | b[9] << 8;
    for (unsigned i = 0; i < n && 10 + 12 * (i + 1) <= size; i++) {
        const uint8_t *e = b + 10 + 12 * i;
        uint32_t len = e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24;
        uint32_t at = e[8] | e[9] << 8 | e[10] << 16 | (uint32_t)e[11] << 24;
        if (at + len > size || len < 2)
            continue;
        if (!strncmp((const char *)b + at, key, strlen(key)) && b[at + strlen(key)] == ':') {
            *tag = e[0] | e[1] << 8;
            return strndup((const char *)b + at + strlen(key) + 1, len - strlen(key) - 2);
        }
    }
    return NULL;
}

static void check_webp(const writers_run *r, const char *rel, int w, int h, int n,
                       int frame_ms, double max_mean_error)
{
    char *p = path_in(r, rel);
    FILE *fp = fopen(p, "rb");
    CHECK_MSG(fp, "(%s missing)", p);
    free(p);
    if (!fp)
        return;
    fseek(fp, 0, SEEK_END);
    size_t size = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *bytes = malloc(size);
    CHECK(fread(bytes, 1, size, fp) == size);
    fclose(fp);
    WebPData data = {bytes, size};
    WebPAnimDecoderOptions opts;
    WebPAnimDecoderOptionsInit(&opts);
    opts.color_mode = MODE_RGBA;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &opts);
    WebPAnimInfo info;
    CHECK(dec && WebPAnimDecoderGetInfo(dec, &info));
    CHECK(info.canvas_width == (uint32_t)w && info.canvas_height == (uint32_t)h);
    CHECK(info.frame_count == (uint32_t)n && info.loop_count == 0);
    double err_sum = 0;
    int f = 0;
    uint8_t *rgba;
    int ts;
    while (dec && WebPAnimDecoderHasMoreFrames(dec) && WebPAnimDecoderGetNext(dec, &rgba, &ts)) {
        CHECK_MSG(ts == (f + 1) * frame_ms, "(frame %d ends at %d ms)", f, ts);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < 3; k++)
                    err_sum += abs(rgba[(y * w + x) * 4 + k] -
                                   writers_pattern_u8("smooth", f, y, x, k, w, h, n));
        f++;
    }
    CHECK(f == n);
    double mean = err_sum / ((double)w * h * 3 * n);
    CHECK_MSG(mean <= max_mean_error, "(mean error %.3f > %.3f)", mean, max_mean_error);
    WebPAnimDecoderDelete(dec);

    WebPDemuxer *demux = WebPDemux(&data);
    WebPChunkIterator chunk;
    CHECK(demux && WebPDemuxGetChunk(demux, "EXIF", 1, &chunk));
    if (demux && WebPDemuxGetChunk(demux, "EXIF", 1, &chunk)) {
        unsigned tag = 0;
        char *prompt = exif_entry(chunk.chunk.bytes, chunk.chunk.size, "prompt", &tag);
        json_object *pj = prompt ? json_tokener_parse(prompt) : NULL;
        CHECK(pj && tag == 0x0110 && json_object_object_get_ex(pj, "2", NULL));
        char *workflow = exif_entry(chunk.chunk.bytes, chunk.chunk.size, "workflow", &tag);
        json_object *wj = workflow ? json_tokener_parse(workflow) : NULL;
        json_object *want = json_tokener_parse(ui_workflow);
        CHECK(wj && tag == 0x010f && json_object_equal(wj, want));
        json_object_put(pj);
        json_object_put(wj);
        json_object_put(want);
        free(prompt);
        free(workflow);
        WebPDemuxReleaseChunkIterator(&chunk);
    }
    WebPDemuxDelete(demux);
    free(bytes);
}

static void test_animated_webp(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    r.workflow_json = ui_workflow;
    /* Lossless is exact; lossy at quality 90 on a smooth gradient stays within about one
     * level on average (4:2:0 chroma plus quantisation), bounded here at 3 of 255. */
    const char *const lossless[] = {"filename_prefix", "\"anim\"", "fps", "4", "lossless",
                                    "true", "quality", "80", "method", "\"fastest\"", NULL};
    loom_workflow *wf =
        writers_workflow(&r, "SaveAnimatedWEBP", 16, 12, 3, 3, "smooth", 0, lossless);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    check_webp(&r, "anim_00001_.webp", 16, 12, 3, 250, 0.0);
    char *ui = writers_ui(&r);
    CHECK_CONTAINS(ui, "\"images\":[{\"filename\":\"anim_00001_.webp\"");
    CHECK_CONTAINS(ui, "\"animated\":[true]");
    free(ui);
    loom_workflow_free(wf);
    const char *const lossy[] = {"filename_prefix", "\"anim\"", "fps", "16", "lossless",
                                 "false", "quality", "90", "method", "\"default\"", NULL};
    wf = writers_workflow(&r, "SaveAnimatedWEBP", 32, 24, 4, 3, "smooth", 0, lossy);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    check_webp(&r, "anim_00002_.webp", 32, 24, 4, 62, 3.0);   /* int(1000 / 16) ms */
    loom_workflow_free(wf);
    writers_close(&r);
}

/* LoadImage "1" (image) -> SaveImage "2" (prefix), built by hand. */
static loom_workflow *load_save(const char *image, const char *prefix)
{
    loom_workflow *wf = loom_workflow_new();
    loom_error err;
    char json[256];
    loom_workflow_add_node(wf, "1", "LoadImage", &err);
    snprintf(json, sizeof json, "\"%s\"", image);
    loom_workflow_set_input_json(wf, "1", "image", json, &err);
    loom_workflow_add_node(wf, "2", "SaveImage", &err);
    snprintf(json, sizeof json, "\"%s\"", prefix);
    loom_workflow_set_input_json(wf, "2", "filename_prefix", json, &err);
    loom_workflow_set_link(wf, "2", "images", "1", 0, &err);
    return wf;
}

/* The MASK of the last LoadImage run: [n, h, w] f32, or NULL. */
static loom_tensor *last_mask(writers_run *r, loom_value **hold)
{
    *hold = loom_session_last_value(r->s, "1", 1);
    return loom_value_object_ptr(*hold, "MASK");
}

/* Files written by SaveImage load back to the same 8-bit values (ComfyUI's /255 and
 * 255·x truncation round-trip exactly), alpha becomes 1 - mask, and animated WebP keeps
 * every frame. LoadImage reads ./input, so the test works inside the output folder. */
static void test_load_image(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(r.out_dir) == 0);
    r.workflow_json = ui_workflow;
    loom_workflow *wf = writers_workflow(&r, "SaveImage", 6, 5, 1, 4, "exact", 0,
                                         (const char *const[]){"filename_prefix",
                                                               "\"input/rgba\"", NULL});
    CHECK(writers_execute(&r, wf) == LOOM_OK);
    loom_workflow_free(wf);
    wf = writers_workflow(&r, "SaveAnimatedWEBP", 8, 6, 3, 3, "smooth", 0,
                          (const char *const[]){"filename_prefix", "\"input/anim\"", NULL});
    CHECK(writers_execute(&r, wf) == LOOM_OK);
    loom_workflow_free(wf);

    wf = load_save("rgba_00001_.png", "again");
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    png_file png;
    CHECK(read_png("again_00001_.png", &png));
    CHECK(png.width == 6 && png.height == 5 && png.channels == 3);
    int bad = 0;
    for (int i = 0; png.pixels && i < 6 * 5 * 3; i++)
        bad += png.pixels[i] != writers_pattern_u8("exact", 0, i / 18, i / 3 % 6, i % 3, 6, 5, 1);
    CHECK_MSG(bad == 0, "(%d values changed on the round trip)", bad);
    free_png(&png);
    loom_value *hold;
    loom_tensor *mask = last_mask(&r, &hold);
    CHECK(mask && mask->ndim == 3 && mask->shape[0] == 1 && mask->shape[1] == 5 &&
          mask->shape[2] == 6);
    float want = 1.0f - (float)writers_pattern_u8("exact", 0, 4, 5, 3, 6, 5, 1) / 255.0f;
    CHECK(mask && ((float *)mask->data)[4 * 6 + 5] == want);
    loom_value_unref(hold);
    loom_workflow_free(wf);

    wf = load_save("anim_00001_.webp", "frames");
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    CHECK(exists(&r, "frames_00003_.png") && !exists(&r, "frames_00004_.png"));
    mask = last_mask(&r, &hold);   /* no alpha: ComfyUI's 64 x 64 zeros per frame */
    CHECK(mask && mask->shape[0] == 3 && mask->shape[1] == 64 && mask->shape[2] == 64 &&
          ((float *)mask->data)[0] == 0.0f);
    loom_value_unref(hold);
    loom_workflow_free(wf);

    wf = load_save("missing.png", "never");
    CHECK(writers_execute(&r, wf) != LOOM_OK);
    loom_workflow_free(wf);
    CHECK(chdir(cwd) == 0);
    writers_close(&r);
}

int main(void)
{
    test_save_image();
    test_channels();
    test_prefix_rules();
    test_interrupt_leaves_nothing();
    test_long_batch();
    test_preview_image();
    test_animated_webp();
    test_load_image();
    return check_summary("image_writers");
}
