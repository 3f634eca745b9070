/* video_encode.c: the libavformat / libavcodec side of SaveVideo and SaveWEBM (see
 * video_encode.h for what a file holds).
 *
 * One muxer per file with a video stream and, when the VIDEO carries sound, an audio
 * stream. Video frame i has pts i; after it, the audio up to the end of that frame is
 * encoded, so both streams advance together and memory stays one frame of each. Every
 * packet is written as soon as its encoder gives it back; then both encoders are
 * flushed and the trailer written. All libav state lives in one struct so every exit
 * path frees it the same way.
 */
#include "video_encode.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "output_pixels.h"

typedef struct track {
    AVCodecContext *codec;
    AVStream       *stream;
    AVFrame        *frame;
} track;

typedef struct encoder {
    AVFormatContext   *mux;
    AVPacket          *packet;
    track              video, audio;     /* audio.codec is NULL without sound */
    struct SwsContext *sws;
    uint8_t           *rgb;              /* one padded frame, RGB24 */
    int                width, height;    /* even (padded) size */
    AVRational         fps;
    const loom_tensor *samples;          /* [channels, n] f32, or NULL */
    int64_t            samples_used;     /* samples handed to the audio encoder */
    int64_t            samples_total;    /* what the video's length covers */
} encoder;

static int av_fail(loom_error *err, int averr, const char *what)
{
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(averr, msg, sizeof msg);
    return loom_errorf(err, LOOM_ERR_IO, "%s: %s", what, msg);
}

static const AVCodec *pick_encoder(loom_node_ctx *ctx, const video_encode_spec *spec,
                                   loom_error *err)
{
    for (const char *const *name = spec->encoders; *name; name++) {
        const AVCodec *c = avcodec_find_encoder_by_name(*name);
        if (c)
            return c;
    }
    const AVCodec *c = spec->fallback ? avcodec_find_encoder_by_name(spec->fallback) : NULL;
    if (c) {
        loom_node_log(ctx, "encoder %s is not in this libavcodec; writing %s instead",
                      spec->encoders[0], spec->fallback);
        return c;
    }
    loom_errorf(err, LOOM_ERR_UNSUPPORTED,
                "this libavcodec has no %s encoder; install an FFmpeg build with it",
                spec->encoders[0]);
    return NULL;
}

/* A stream for an encoder set up by `configure`, opened with opts. */
static int open_track(encoder *e, track *t, const AVCodec *codec, AVDictionary **opts,
                      const char *what, loom_error *err)
{
    int rc = avcodec_open2(t->codec, codec, opts);
    if (rc < 0)
        return av_fail(err, rc, what);
    t->stream = avformat_new_stream(e->mux, NULL);
    if (!t->stream)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for a stream");
    if ((rc = avcodec_parameters_from_context(t->stream->codecpar, t->codec)) < 0)
        return av_fail(err, rc, what);
    t->stream->time_base = t->codec->time_base;
    return LOOM_OK;
}

static int open_video(loom_node_ctx *ctx, encoder *e, const loom_tensor *frames,
                      const video_encode_spec *spec, loom_error *err)
{
    const AVCodec *codec = pick_encoder(ctx, spec, err);
    if (!codec)
        return err->code;
    enum AVPixelFormat pix = av_get_pix_fmt(spec->pix_fmt);
    e->width = (int)(frames->shape[2] + 1) & ~1;
    e->height = (int)(frames->shape[1] + 1) & ~1;
    AVCodecContext *c = e->video.codec = avcodec_alloc_context3(codec);
    AVFrame *f = e->video.frame = av_frame_alloc();
    e->rgb = malloc((size_t)e->width * e->height * 3);
    if (!c || !f || !e->rgb)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for the video encoder");
    c->width = e->width;
    c->height = e->height;
    c->pix_fmt = pix;
    c->time_base = av_inv_q(e->fps);
    c->framerate = e->fps;
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_IEC61966_2_1;
    c->colorspace = AVCOL_SPC_BT709;
    c->color_range = AVCOL_RANGE_MPEG;
    c->bit_rate = 0;    /* quality-driven (crf), as ComfyUI asks */
    if (e->mux->oformat->flags & AVFMT_GLOBALHEADER)
        c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *opts = NULL;
    if (spec->crf)
        av_dict_set(&opts, "crf", spec->crf, 0);
    if (spec->preset)
        av_dict_set(&opts, "preset", spec->preset, 0);
    char what[128];
    snprintf(what, sizeof what, "%s cannot encode %dx%d frames at %s", codec->name, e->width,
             e->height, spec->pix_fmt);
    int rc = open_track(e, &e->video, codec, &opts, what, err);
    av_dict_free(&opts);
    if (rc != LOOM_OK)
        return rc;
    e->video.stream->avg_frame_rate = e->fps;
    f->format = pix;
    f->width = e->width;
    f->height = e->height;
    f->color_primaries = c->color_primaries;
    f->color_trc = c->color_trc;
    f->colorspace = c->colorspace;
    f->color_range = c->color_range;
    if ((rc = av_frame_get_buffer(f, 0)) < 0)
        return av_fail(err, rc, "cannot allocate a video frame");
    e->sws = sws_getContext(e->width, e->height, AV_PIX_FMT_RGB24, e->width, e->height, pix,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL, NULL,
                            NULL);
    if (!e->sws)
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "no RGB to %s conversion", spec->pix_fmt);
    const int *bt709 = sws_getCoefficients(SWS_CS_ITU709);
    sws_setColorspaceDetails(e->sws, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
    return LOOM_OK;
}

/* The audio track: planar f32 at the source rate, trimmed to the video's length
 * (ComfyUI keeps ceil(rate / fps * frames) samples). */
static int open_audio(encoder *e, const video_encode_spec *spec, int64_t n_frames,
                      loom_error *err)
{
    const loom_tensor *a = spec->audio;
    if (a->ndim != 2 || a->dtype != LOOM_F32 || a->shape[0] < 1 || a->shape[0] > 8 ||
        spec->audio_rate <= 0)
        return loom_errorf(err, LOOM_ERR_INVALID, "the video's audio must be [channels, "
                           "samples] f32 with 1 to 8 channels and a positive rate");
    const AVCodec *codec = avcodec_find_encoder_by_name(spec->audio_encoder);
    if (!codec)
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "this libavcodec has no %s encoder",
                           spec->audio_encoder);
    AVCodecContext *c = e->audio.codec = avcodec_alloc_context3(codec);
    AVFrame *f = e->audio.frame = av_frame_alloc();
    if (!c || !f)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for the audio encoder");
    c->sample_fmt = AV_SAMPLE_FMT_FLTP;
    c->sample_rate = spec->audio_rate;
    c->time_base = (AVRational){1, spec->audio_rate};
    av_channel_layout_default(&c->ch_layout, (int)a->shape[0]);
    if (e->mux->oformat->flags & AVFMT_GLOBALHEADER)
        c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int rc = open_track(e, &e->audio, codec, NULL, "cannot open the audio encoder", err);
    if (rc != LOOM_OK)
        return rc;
    e->samples = a;
    int64_t covered = (int64_t)ceil((double)spec->audio_rate * n_frames / av_q2d(e->fps));
    e->samples_total = covered < a->shape[1] ? covered : a->shape[1];
    f->format = AV_SAMPLE_FMT_FLTP;
    f->sample_rate = c->sample_rate;
    f->nb_samples = c->frame_size ? c->frame_size : 1024;
    if ((rc = av_channel_layout_copy(&f->ch_layout, &c->ch_layout)) < 0 ||
        (rc = av_frame_get_buffer(f, 0)) < 0)
        return av_fail(err, rc, "cannot allocate an audio frame");
    return LOOM_OK;
}

static int open_file(loom_node_ctx *ctx, encoder *e, const char *path,
                     const loom_tensor *frames, const video_encode_spec *spec, loom_error *err)
{
    e->fps = av_d2q(round(spec->fps * 1000.0) / 1000.0, 1000 * 1000);
    int rc = avformat_alloc_output_context2(&e->mux, NULL, spec->container, path);
    if (rc < 0)
        return av_fail(err, rc, "cannot set up the video container");
    for (size_t i = 0; spec->meta && i < spec->meta->n; i++)
        av_dict_set(&e->mux->metadata, spec->meta->key[i], spec->meta->json[i], 0);
    if (!(e->packet = av_packet_alloc()))
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for the video encoder");
    if ((rc = open_video(ctx, e, frames, spec, err)) != LOOM_OK)
        return rc;
    if (spec->audio && (rc = open_audio(e, spec, frames->shape[0], err)) != LOOM_OK)
        return rc;
    if ((rc = avio_open(&e->mux->pb, path, AVIO_FLAG_WRITE)) < 0)
        return av_fail(err, rc, "cannot open the video file");
    AVDictionary *mux_opts = NULL;
    if (!strcmp(spec->container, "mp4"))
        av_dict_set(&mux_opts, "movflags", "use_metadata_tags+faststart", 0);
    rc = avformat_write_header(e->mux, &mux_opts);
    av_dict_free(&mux_opts);
    return rc < 0 ? av_fail(err, rc, "cannot write the video header") : LOOM_OK;
}

/* Fill the padded RGB24 buffer with frame i, repeating the last column / row. */
static void frame_to_rgb(encoder *e, const loom_tensor *frames, int64_t i)
{
    const int64_t h = frames->shape[1], w = frames->shape[2], c = frames->shape[3];
    const float *src = (const float *)frames->data + i * h * w * c;
    for (int y = 0; y < e->height; y++) {
        const float *row = src + (y < h ? y : h - 1) * w * c;
        uint8_t *out = e->rgb + (size_t)y * e->width * 3;
        for (int x = 0; x < e->width; x++) {
            const float *p = row + (x < w ? x : w - 1) * c;
            for (int k = 0; k < 3; k++)
                out[x * 3 + k] = output_pixel_u8(p[c == 1 ? 0 : k]);
        }
    }
}

/* Send one frame (NULL: flush) and write every packet the encoder has ready. */
static int push(encoder *e, track *t, AVFrame *frame, loom_error *err)
{
    int rc = avcodec_send_frame(t->codec, frame);
    if (rc < 0)
        return av_fail(err, rc, "encoder refused a frame");
    for (;;) {
        rc = avcodec_receive_packet(t->codec, e->packet);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return LOOM_OK;
        if (rc < 0)
            return av_fail(err, rc, "encoder failed");
        av_packet_rescale_ts(e->packet, t->codec->time_base, t->stream->time_base);
        e->packet->stream_index = t->stream->index;
        rc = av_interleaved_write_frame(e->mux, e->packet);
        if (rc < 0)
            return av_fail(err, rc, "cannot write to the video file");
    }
}

/* Encode whole audio frames up to sample `end`; with `last`, the short remainder too. */
static int push_audio(encoder *e, int64_t end, bool last, loom_error *err)
{
    AVFrame *f = e->audio.frame;
    const int64_t per_frame = f->nb_samples, channels = e->samples->shape[0];
    const int64_t stride = e->samples->shape[1];
    int rc = LOOM_OK;
    while (rc == LOOM_OK && e->samples_used < end &&
           (last || end - e->samples_used >= per_frame)) {
        int64_t n = end - e->samples_used < per_frame ? end - e->samples_used : per_frame;
        if ((rc = av_frame_make_writable(f)) < 0)
            return av_fail(err, rc, "cannot reuse an audio frame");
        f->nb_samples = (int)n;
        for (int64_t ch = 0; ch < channels; ch++)
            memcpy(f->data[ch], (const float *)e->samples->data + ch * stride + e->samples_used,
                   (size_t)n * sizeof(float));
        f->pts = e->samples_used;
        e->samples_used += n;
        rc = push(e, &e->audio, f, err);
        f->nb_samples = (int)per_frame;
    }
    return rc;
}

static void close_encoder(encoder *e)
{
    if (e->mux && e->mux->pb)
        avio_closep(&e->mux->pb);
    avformat_free_context(e->mux);
    track *tracks[] = {&e->video, &e->audio};
    for (size_t i = 0; i < 2; i++) {
        avcodec_free_context(&tracks[i]->codec);
        av_frame_free(&tracks[i]->frame);
    }
    sws_freeContext(e->sws);
    av_packet_free(&e->packet);
    free(e->rgb);
}

/* Frames (and the audio they cover) in order, then the flushes. */
static int encode_all(loom_node_ctx *ctx, encoder *e, const loom_tensor *frames,
                      loom_error *err)
{
    const int64_t n = frames->shape[0];
    int rc = LOOM_OK;
    for (int64_t i = 0; rc == LOOM_OK && i < n; i++) {
        frame_to_rgb(e, frames, i);
        int av = av_frame_make_writable(e->video.frame);
        if (av < 0)
            return av_fail(err, av, "cannot reuse a video frame");
        const uint8_t *src[1] = {e->rgb};
        const int stride[1] = {e->width * 3};
        sws_scale(e->sws, src, stride, 0, e->height, e->video.frame->data,
                  e->video.frame->linesize);
        e->video.frame->pts = i;
        rc = push(e, &e->video, e->video.frame, err);
        if (rc == LOOM_OK && e->samples) {
            int64_t end = (int64_t)ceil((double)e->audio.codec->sample_rate * (double)(i + 1) /
                                        av_q2d(e->fps));
            rc = push_audio(e, end < e->samples_total ? end : e->samples_total, false, err);
        }
        if (rc == LOOM_OK && loom_progress(ctx, i + 1, n) != LOOM_OK)
            rc = loom_errorf(err, LOOM_ERR_INTERRUPTED, "interrupted");
    }
    if (rc == LOOM_OK)
        rc = push(e, &e->video, NULL, err);
    if (rc == LOOM_OK && e->samples)
        rc = push_audio(e, e->samples_total, true, err);
    if (rc == LOOM_OK && e->samples)
        rc = push(e, &e->audio, NULL, err);
    return rc;
}

int video_encode_file(loom_node_ctx *ctx, const char *path, const loom_tensor *frames,
                      const video_encode_spec *spec, loom_error *err)
{
    encoder e = {0};
    char url[PATH_MAX + 8];
    snprintf(url, sizeof url, "file:%s", path);   /* never read ':' in a path as a protocol */
    int rc = open_file(ctx, &e, url, frames, spec, err);
    if (rc == LOOM_OK)
        rc = encode_all(ctx, &e, frames, err);
    if (rc == LOOM_OK) {
        int av = av_write_trailer(e.mux);
        if (av < 0)
            rc = av_fail(err, av, "cannot finish the video file");
    }
    if (rc == LOOM_OK) {
        int av = avio_closep(&e.mux->pb);   /* the last flush: a full disk shows here */
        if (av < 0)
            rc = av_fail(err, av, "cannot write the video file");
    }
    close_encoder(&e);
    return rc;
}
