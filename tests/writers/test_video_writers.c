/* test_video_writers.c: CreateVideo, SaveVideo and SaveWEBM run through the public API,
 * their files decoded again with libavformat / libavcodec: codec, frame count, size,
 * frame rate, the workflow tags, pixels within a stated bound of the input, the sound
 * track of a VIDEO with audio, and nothing left behind by an interrupt.
 *
 * Why the bounds: the frames are smooth gradients (writers_support.h), which H.264 at
 * x264's default crf 23 and VP9 / AV1 at crf 32 reproduce to about one or two levels of
 * 255 on average; 4:2:0 chroma halves colour resolution, which costs most at the
 * gradient's edges. A mean absolute error of 6 / 255 leaves room for encoder versions
 * while still failing on any real mistake (a swapped channel, a wrong range or matrix, a
 * frame out of order each cost tens of levels).
 */
#include <json-c/json.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../support/check.h"
#include "loom/types.h"
#include "writers_support.h"

#define VIDEO_MEAN_ERROR_MAX 6.0

static const char *const ui_workflow = "{\"last_node_id\": 3, \"nodes\": [], \"note\": \"w\"}";

typedef struct decoded {
    char   codec[32];
    int    width, height, frames;
    double fps;
    double mean_error;          /* over the input's own width x height */
    char  *prompt, *workflow;   /* container tags */
} decoded;

static char *tag(AVDictionary *d, const char *key)
{
    AVDictionaryEntry *e = av_dict_get(d, key, NULL, 0);
    return e ? strdup(e->value) : NULL;
}

/* Running comparison of decoded frames with the pattern of a w x h x n input. */
typedef struct compare {
    struct SwsContext *sws;
    uint8_t           *rgb;
    int                w, h, n;
    double             err_sum;
} compare;

static void take_frames(AVCodecContext *dec, AVFrame *frame, compare *c, decoded *out)
{
    while (avcodec_receive_frame(dec, frame) == 0) {
        if (!c->sws) {
            /* Back to full-range RGB with the BT.709 matrix the writer tagged. */
            c->sws = sws_getContext(frame->width, frame->height, frame->format, frame->width,
                                    frame->height, AV_PIX_FMT_RGB24,
                                    SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL,
                                    NULL, NULL);
            const int *bt709 = sws_getCoefficients(SWS_CS_ITU709);
            sws_setColorspaceDetails(c->sws, bt709, 0, bt709, 1, 0, 1 << 16, 1 << 16);
            c->rgb = malloc((size_t)frame->width * frame->height * 3);
        }
        int stride = frame->width * 3;
        sws_scale(c->sws, (const uint8_t *const *)frame->data, frame->linesize, 0,
                  frame->height, &c->rgb, &stride);
        int f = out->frames++;
        for (int y = 0; f < c->n && y < c->h; y++)
            for (int x = 0; x < c->w; x++)
                for (int k = 0; k < 3; k++)
                    c->err_sum += fabs((double)c->rgb[(y * frame->width + x) * 3 + k] -
                                       writers_pattern_u8("smooth", f, y, x, k, c->w, c->h, c->n));
    }
}

/* Decode every frame of path, comparing it with the pattern of a w x h x n input. */
static bool decode(const char *path, int w, int h, int n, decoded *out)
{
    memset(out, 0, sizeof *out);
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0)
        return false;
    avformat_find_stream_info(fmt, NULL);
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    const AVCodec *codec =
        si < 0 ? NULL : avcodec_find_decoder(fmt->streams[si]->codecpar->codec_id);
    if (!codec) {
        avformat_close_input(&fmt);
        return false;
    }
    AVStream *st = fmt->streams[si];
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dec, st->codecpar);
    avcodec_open2(dec, codec, NULL);
    snprintf(out->codec, sizeof out->codec, "%s", avcodec_get_name(st->codecpar->codec_id));
    out->width = st->codecpar->width;
    out->height = st->codecpar->height;
    out->fps = av_q2d(st->avg_frame_rate);
    out->prompt = tag(fmt->metadata, "prompt");
    out->workflow = tag(fmt->metadata, "workflow");
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    compare c = {.w = w, .h = h, .n = n};
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == si && avcodec_send_packet(dec, pkt) == 0)
            take_frames(dec, frame, &c, out);
        av_packet_unref(pkt);
    }
    avcodec_send_packet(dec, NULL);
    take_frames(dec, frame, &c, out);
    int compared = out->frames < n ? out->frames : n;
    out->mean_error = compared ? c.err_sum / ((double)w * h * 3 * compared) : 1e9;
    sws_freeContext(c.sws);
    free(c.rgb);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return true;
}

static void free_decoded(decoded *d)
{
    free(d->prompt);
    free(d->workflow);
}

static void check_tags(const decoded *d)
{
    json_object *p = d->prompt ? json_tokener_parse(d->prompt) : NULL;
    CHECK_MSG(p && json_object_object_get_ex(p, "2", NULL), "(prompt tag: %s)",
              d->prompt ? d->prompt : "missing");
    json_object *w = d->workflow ? json_tokener_parse(d->workflow) : NULL;
    json_object *want = json_tokener_parse(ui_workflow);
    CHECK_MSG(w && json_object_equal(w, want), "(workflow tag: %s)",
              d->workflow ? d->workflow : "missing");
    json_object_put(p);
    json_object_put(w);
    json_object_put(want);
}

static void check_file(const writers_run *r, const char *rel, const char *codec, int w, int h,
                       int n, double fps)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", r->out_dir, rel);
    decoded d;
    CHECK_MSG(decode(path, w, h, n, &d), "(%s unreadable)", path);
    printf("%s: %s %dx%d, %d frames at %.3f fps, mean error %.2f / 255\n", rel, d.codec,
           d.width, d.height, d.frames, d.fps, d.mean_error);
    CHECK_STR(d.codec, codec);
    CHECK_MSG(d.frames == n, "(%d frames, %d expected)", d.frames, n);
    CHECK_MSG(d.width == ((w + 1) & ~1) && d.height == ((h + 1) & ~1), "(%dx%d)", d.width,
              d.height);
    CHECK_MSG(fabs(d.fps - fps) < 1e-6, "(fps %.6f, %.6f expected)", d.fps, fps);
    CHECK_MSG(d.mean_error <= VIDEO_MEAN_ERROR_MAX, "(%s: mean error %.2f)", rel, d.mean_error);
    check_tags(&d);
    free_decoded(&d);
}

static void test_save_video(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    r.workflow_json = ui_workflow;
    loom_workflow *wf = writers_workflow(&r, "SaveVideo", 64, 48, 9, 3, "smooth", 16, NULL);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    bool x264 = avcodec_find_encoder_by_name("libx264") != NULL;
    check_file(&r, "video/ComfyUI_00001_.mp4", x264 ? "h264" : "mpeg4", 64, 48, 9, 16);
    char *ui = writers_ui(&r);
    CHECK_CONTAINS(ui, "{\"images\":[{\"filename\":\"ComfyUI_00001_.mp4\",\"subfolder\":"
                       "\"video\",\"type\":\"output\"}],\"animated\":[true]}");
    free(ui);
    /* CreateVideo's VIDEO shares the frames and carries the rate. */
    loom_value *v = loom_session_last_value(r.s, "3", 0);
    const loom_video *video = loom_value_object_ptr(v, LOOM_TYPE_VIDEO);
    CHECK(video && video->fps == 16 && video->frames->shape[0] == 9 && !video->audio);
    loom_value_unref(v);
    loom_workflow_free(wf);

    /* Odd sizes are padded to even; a fractional rate keeps its thousandths. */
    wf = writers_workflow(&r, "SaveVideo", 33, 25, 5, 3, "smooth", 23.976,
                          (const char *const[]){"filename_prefix", "\"odd\"", NULL});
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    check_file(&r, "odd_00001_.mp4", x264 ? "h264" : "mpeg4", 33, 25, 5, 23.976);
    loom_workflow_free(wf);
    writers_close(&r);
}

static void test_save_webm(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    r.workflow_json = ui_workflow;
    bool vp9 = avcodec_find_encoder_by_name("libvpx-vp9") != NULL;
    const char *const in_vp9[] = {"codec", "\"vp9\"", "fps", "24", "crf", "32", NULL};
    loom_workflow *wf = writers_workflow(&r, "SaveWEBM", 64, 48, 6, 3, "smooth", 0, in_vp9);
    int rc = writers_execute(&r, wf);
    if (vp9) {
        CHECK_MSG(rc == LOOM_OK, "(%s)", r.error);
        check_file(&r, "ComfyUI_00001_.webm", "vp9", 64, 48, 6, 24);
        char *ui = writers_ui(&r);
        CHECK_CONTAINS(ui, "\"animated\":[true]");
        free(ui);
    } else {
        CHECK(rc != LOOM_OK);
        CHECK_CONTAINS(r.error, "no libvpx-vp9 encoder");
    }
    loom_workflow_free(wf);

    bool av1 = avcodec_find_encoder_by_name("libsvtav1") ||
               avcodec_find_encoder_by_name("libaom-av1");
    const char *const in_av1[] = {"codec", "\"av1\"", "fps", "12.5", "crf", "32",
                                  "filename_prefix", "\"av1/clip\"", NULL};
    wf = writers_workflow(&r, "SaveWEBM", 64, 64, 4, 3, "smooth", 0, in_av1);
    rc = writers_execute(&r, wf);
    if (av1) {
        CHECK_MSG(rc == LOOM_OK, "(%s)", r.error);
        check_file(&r, "av1/clip_00001_.webm", "av1", 64, 64, 4, 12.5);
    } else {
        CHECK(rc != LOOM_OK);
        CHECK_CONTAINS(r.error, "no libsvtav1 encoder");
    }
    loom_workflow_free(wf);
    writers_close(&r);
}

/* ---- sound: a VIDEO with audio, made by a test node (no loom node makes AUDIO yet) ---- */

#define TONE_RATE 44100
#define TONE_HZ   440.0

static float tone(int64_t ch, int64_t i)
{
    return (ch ? 0.25f : 0.5f) * sinf(2.0f * 3.14159265f * (float)(TONE_HZ * i / TONE_RATE));
}

/* [n, 32, 32, 3] smooth frames at `fps` with 2 s of a stereo tone, longer than the video. */
static int video_with_sound(loom_node_ctx *ctx)
{
    const int n = (int)loom_in_int(ctx, "frames");
    loom_error err;
    loom_tensor *frames = loom_tensor_new(LOOM_F32, 4, (int64_t[]){n, 32, 32, 3}, &err);
    loom_tensor *audio = loom_tensor_new(LOOM_F32, 2, (int64_t[]){2, 2 * TONE_RATE}, &err);
    float *p = frames->data, *a = audio->data;
    for (int f = 0; f < n; f++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int k = 0; k < 3; k++)
                    *p++ = writers_pattern("smooth", f, y, x, k, 32, 32, n);
    for (int64_t ch = 0; ch < 2; ch++)
        for (int64_t i = 0; i < 2 * TONE_RATE; i++)
            *a++ = tone(ch, i);
    return loom_out(ctx, 0, loom_video_value(frames, loom_in_float(ctx, "fps"), audio, TONE_RATE));
}

static const loom_input sound_in[] = {{.name = "frames", .type = LOOM_T_INT},
                                      {.name = "fps", .type = LOOM_T_FLOAT}};
static const loom_output sound_out[] = {{.type = "VIDEO"}};
static const loom_node_type sound_node = {
    .name = "WriterTestVideoWithSound", .inputs = sound_in, .n_inputs = 2,
    .outputs = sound_out, .n_outputs = 1, .execute = video_with_sound};

typedef struct heard {
    char    codec[32];
    int     channels, rate;
    int64_t samples;
    double  rms[2];
} heard;

static bool listen(const char *path, heard *out)
{
    memset(out, 0, sizeof *out);
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0)
        return false;
    avformat_find_stream_info(fmt, NULL);
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    const AVCodec *codec =
        si < 0 ? NULL : avcodec_find_decoder(fmt->streams[si]->codecpar->codec_id);
    if (!codec) {
        avformat_close_input(&fmt);
        return false;
    }
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar);
    avcodec_open2(dec, codec, NULL);
    snprintf(out->codec, sizeof out->codec, "%s", codec->name);
    out->channels = dec->ch_layout.nb_channels;
    out->rate = dec->sample_rate;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    double sum[2] = {0};
    for (bool more = true; more;) {
        more = av_read_frame(fmt, pkt) >= 0;
        if (!more)
            avcodec_send_packet(dec, NULL);
        else if (pkt->stream_index == si)
            avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
        while (avcodec_receive_frame(dec, f) == 0) {
            for (int ch = 0; ch < 2 && ch < out->channels && f->format == AV_SAMPLE_FMT_FLTP; ch++)
                for (int i = 0; i < f->nb_samples; i++)
                    sum[ch] += (double)((float *)f->data[ch])[i] * ((float *)f->data[ch])[i];
            out->samples += f->nb_samples;
        }
    }
    for (int ch = 0; ch < 2; ch++)
        out->rms[ch] = out->samples ? sqrt(sum[ch] / (double)out->samples) : 0;
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return true;
}

/* The tone comes back as AAC at its own rate, trimmed to the video's length (12 frames
 * at 24 fps: 0.5 s, 22050 samples; AAC pads the last 1024-sample frame), each channel at
 * its own loudness (a sine of amplitude a has RMS a / sqrt 2; AAC keeps that within 5 %). */
static void test_save_video_with_sound(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    loom_error err;
    CHECK(loom_session_register_node(r.s, &sound_node, NULL, "writers_test", &err) == LOOM_OK);
    loom_workflow *wf = loom_workflow_new();
    loom_workflow_add_node(wf, "1", "WriterTestVideoWithSound", &err);
    loom_workflow_set_input_json(wf, "1", "frames", "12", &err);
    loom_workflow_set_input_json(wf, "1", "fps", "24", &err);
    loom_workflow_add_node(wf, "2", "SaveVideo", &err);
    loom_workflow_set_input_json(wf, "2", "filename_prefix", "\"sound\"", &err);
    loom_workflow_set_input_json(wf, "2", "format", "\"auto\"", &err);
    loom_workflow_set_input_json(wf, "2", "codec", "\"auto\"", &err);
    loom_workflow_set_link(wf, "2", "video", "1", 0, &err);
    CHECK_MSG(writers_execute(&r, wf) == LOOM_OK, "(%s)", r.error);
    char path[512];
    snprintf(path, sizeof path, "%s/sound_00001_.mp4", r.out_dir);
    decoded d;
    CHECK(decode(path, 32, 32, 12, &d) && d.frames == 12 && d.mean_error <= VIDEO_MEAN_ERROR_MAX);
    free_decoded(&d);
    heard h;
    CHECK(listen(path, &h));
    printf("sound_00001_.mp4: %s %d ch at %d Hz, %lld samples, rms %.3f %.3f\n", h.codec,
           h.channels, h.rate, (long long)h.samples, h.rms[0], h.rms[1]);
    CHECK_STR(h.codec, "aac");
    CHECK(h.channels == 2 && h.rate == TONE_RATE);
    CHECK_MSG(h.samples >= 22050 && h.samples <= 22050 + 1024, "(%lld samples)",
              (long long)h.samples);
    CHECK(fabs(h.rms[0] - 0.5 / sqrt(2.0)) < 0.05 * 0.5 / sqrt(2.0));
    CHECK(fabs(h.rms[1] - 0.25 / sqrt(2.0)) < 0.05 * 0.25 / sqrt(2.0));
    loom_workflow_free(wf);
    writers_close(&r);
}

static void test_interrupt_leaves_nothing(void)
{
    writers_run r;
    CHECK(writers_open(&r) == 0);
    r.interrupt_at = 3;
    loom_workflow *wf = writers_workflow(&r, "SaveVideo", 32, 32, 6, 3, "smooth", 8,
                                         (const char *const[]){"filename_prefix", "\"cut/v\"",
                                                               NULL});
    CHECK(writers_execute(&r, wf) == LOOM_ERR_INTERRUPTED);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cut", r.out_dir);
    CHECK_MSG(writers_count_files(dir) == 0, "(%d files left)", writers_count_files(dir));
    loom_workflow_free(wf);
    writers_close(&r);
}

/* Tiny frames push every encoder to its limits. Whatever an encoder makes of them, a run
 * either leaves exactly one finished file or fails with a message and leaves nothing: no
 * partial file, no temporary. */
static void test_tiny_frames_all_or_nothing(void)
{
    const struct { const char *writer; const char *codec; double fps; } cases[] = {
        {"SaveVideo", NULL, 8}, {"SaveWEBM", "\"vp9\"", 0}, {"SaveWEBM", "\"av1\"", 0}};
    const int sizes[] = {1, 2, 3};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            writers_run r;
            CHECK(writers_open(&r) == 0);
            const char *const in[] = {"filename_prefix", "\"tiny/t\"",
                                      cases[c].codec ? "codec" : NULL, cases[c].codec, NULL};
            loom_workflow *wf = writers_workflow(&r, cases[c].writer, sizes[k], sizes[k], 2, 3,
                                                 "smooth", cases[c].fps, in);
            int rc = writers_execute(&r, wf);
            char dir[512];
            snprintf(dir, sizeof dir, "%s/tiny", r.out_dir);
            int files = writers_count_files(dir);
            printf("%s %s %dx%d: %s\n", cases[c].writer, cases[c].codec ? cases[c].codec : "",
                   sizes[k], sizes[k], rc == LOOM_OK ? "written" : r.error);
            CHECK_MSG(rc == LOOM_OK ? files == 1 : files <= 0 && r.error[0],
                      "(%s %dx%d: rc %d, %d files)", cases[c].writer, sizes[k], sizes[k], rc,
                      files);
            loom_workflow_free(wf);
            writers_close(&r);
        }
}

int main(void)
{
    av_log_set_level(AV_LOG_ERROR);
    setenv("SVT_LOG", "1", 0);   /* SVT-AV1 prints its banner unless told otherwise */
    test_save_video();
    test_save_webm();
    test_save_video_with_sound();
    test_tiny_frames_all_or_nothing();
    test_interrupt_leaves_nothing();
    return check_summary("video_writers");
}
