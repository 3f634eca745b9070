/* load_image.c: LoadImage, ComfyUI's image loader: a file of ./input becomes an IMAGE
 * [N, H, W, 3] in 0..1 and a MASK [N, H, W].
 *
 * WebP files (still or animated) are read with libwebp; everything else goes through
 * libavformat / libavcodec, so PNG, JPEG, GIF, BMP and TIFF load too. Every frame of an
 * animated file is kept; frames whose size differs from the first are skipped, as
 * ComfyUI does. The
 * mask is 1 - alpha where the file has alpha (a palette with transparency counts), else
 * zeros of 64 x 64 per frame, ComfyUI's placeholder. Pixels are 8-bit values / 255: exact
 * for 8-bit PNG and WebP lossless; JPEG may differ from Pillow's decoder by a level or so
 * (another IDCT), and EXIF orientation is not applied. The cache fingerprint is the file's
 * size and modification time, so an edited file loads again.
 */
#include <dirent.h>
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "image_nodes.h"
#include "loom/types.h"

/* ComfyUI's input folder, relative to the working directory like its default. */
#define INPUT_DIR "input"
/* ComfyUI's mask for an image without alpha: zeros of this side. */
#define NO_ALPHA_MASK_SIDE 64
/* Frames one file may yield: far beyond any GIF a workflow loads, small enough to fail
 * cleanly on a mislabelled video. */
#define LOAD_MAX_FRAMES 4096

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **load_image_choices(const char *models_dir, void *userdata)
{
    (void)models_dir;
    (void)userdata;
    size_t n = 0, cap = 16;
    char **out = calloc(cap, sizeof *out);
    DIR *d = opendir(INPUT_DIR);
    struct dirent *e;
    while (out && d && (e = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, INPUT_DIR "/%s", e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n + 2 > cap) {
            char **grown = realloc(out, (cap *= 2) * sizeof *out);
            if (!grown)
                break;
            out = grown;
        }
        out[n] = strdup(e->d_name);
        if (out[n])
            out[++n] = NULL;
    }
    if (d)
        closedir(d);
    if (out)
        qsort(out, n, sizeof *out, cmp_str);
    return out;
}

/* input/<name>, refusing names that are not a plain file name of that folder. */
static int input_path(loom_node_ctx *ctx, char *path, size_t cap)
{
    const char *name = loom_in_str(ctx, "image");
    if (!name || !name[0] || strchr(name, '/') || !strcmp(name, ".."))
        return loom_node_fail_code(ctx, LOOM_ERR_INVALID, "'%s' is not a file of %s/",
                                   name ? name : "", INPUT_DIR);
    if (snprintf(path, cap, INPUT_DIR "/%s", name) >= (int)cap)
        return loom_node_fail_code(ctx, LOOM_ERR_INVALID, "image name is too long");
    return LOOM_OK;
}

int load_image_fingerprint(loom_node_ctx *ctx, char *buf, size_t cap)
{
    char path[PATH_MAX];
    struct stat st;
    if (input_path(ctx, path, sizeof path) != LOOM_OK || stat(path, &st) != 0)
        return LOOM_ERR_NOT_FOUND;    /* uncacheable: execute reports the problem */
    snprintf(buf, cap, "%lld:%lld.%09ld", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
             st.st_mtim.tv_nsec);
    return LOOM_OK;
}

/* Frames decoded so far: RGB and alpha as floats, grown one frame at a time. */
typedef struct frames {
    float   *rgb, *alpha;
    int      n, w, h;
    bool     has_alpha;
    uint8_t *rgba;          /* libav path: one frame converted to RGBA8 */
    struct SwsContext *sws;
} frames;

/* Append one RGBA8 frame; a frame of another size is skipped, as ComfyUI does. */
static int add_rgba(frames *fr, const uint8_t *rgba, int w, int h, loom_error *err)
{
    if (fr->n == 0) {
        fr->w = w;
        fr->h = h;
    }
    if (w != fr->w || h != fr->h)
        return LOOM_OK;
    if (fr->n == LOAD_MAX_FRAMES)
        return loom_errorf(err, LOOM_ERR_INVALID, "more than %d frames", LOAD_MAX_FRAMES);
    size_t px = (size_t)w * h;
    float *rgb = realloc(fr->rgb, (fr->n + 1) * px * 3 * sizeof *rgb);
    if (rgb)
        fr->rgb = rgb;
    float *alpha = realloc(fr->alpha, (fr->n + 1) * px * sizeof *alpha);
    if (alpha)
        fr->alpha = alpha;
    if (!rgb || !alpha)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory for %d frames", fr->n + 1);
    float *dst = fr->rgb + fr->n * px * 3, *mask = fr->alpha + fr->n * px;
    for (size_t i = 0; i < px; i++) {
        for (int k = 0; k < 3; k++)
            dst[i * 3 + k] = (float)rgba[i * 4 + k] / 255.0f;
        mask[i] = 1.0f - (float)rgba[i * 4 + 3] / 255.0f;
    }
    fr->n++;
    return LOOM_OK;
}

/* ---- WebP (libav's decoder cannot read animated WebP, so libwebp reads them all) ---- */

static bool is_webp(const uint8_t *b, size_t size)
{
    return size >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4);
}

static int decode_webp(const uint8_t *bytes, size_t size, const char *path, frames *fr,
                       loom_error *err)
{
    WebPData data = {bytes, size};
    WebPAnimDecoderOptions opts;
    WebPAnimDecoderOptionsInit(&opts);
    opts.color_mode = MODE_RGBA;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &opts);
    WebPAnimInfo info;
    if (!dec || !WebPAnimDecoderGetInfo(dec, &info)) {
        WebPAnimDecoderDelete(dec);
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s' is not a readable WebP file", path);
    }
    WebPBitstreamFeatures features;
    fr->has_alpha = WebPGetFeatures(bytes, size, &features) == VP8_STATUS_OK &&
                    features.has_alpha;
    int rc = LOOM_OK;
    uint8_t *rgba;
    int timestamp;
    while (rc == LOOM_OK && WebPAnimDecoderHasMoreFrames(dec) &&
           WebPAnimDecoderGetNext(dec, &rgba, &timestamp))
        rc = add_rgba(fr, rgba, (int)info.canvas_width, (int)info.canvas_height, err);
    WebPAnimDecoderDelete(dec);
    return rc;
}

/* ---- everything else, through libavformat / libavcodec ---------------------------- */

static bool frame_alpha(const AVFrame *f)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
    if (d && (d->flags & AV_PIX_FMT_FLAG_ALPHA))
        return true;
    if (f->format != AV_PIX_FMT_PAL8)
        return false;
    const uint32_t *pal = (const uint32_t *)f->data[1];   /* ARGB in native order */
    for (int i = 0; i < 256; i++)
        if ((pal[i] >> 24) != 0xff)
            return true;
    return false;
}

/* JPEG's full-range "yuvj" formats are plain YUV with a full-range flag to swscale. */
static enum AVPixelFormat unjpeg(enum AVPixelFormat f, int *full_range)
{
    static const enum AVPixelFormat pairs[][2] = {
        {AV_PIX_FMT_YUVJ420P, AV_PIX_FMT_YUV420P}, {AV_PIX_FMT_YUVJ422P, AV_PIX_FMT_YUV422P},
        {AV_PIX_FMT_YUVJ444P, AV_PIX_FMT_YUV444P}, {AV_PIX_FMT_YUVJ440P, AV_PIX_FMT_YUV440P},
        {AV_PIX_FMT_YUVJ411P, AV_PIX_FMT_YUV411P}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (f == pairs[i][0]) {
            *full_range = 1;
            return pairs[i][1];
        }
    return f;
}

static int take_frame(frames *fr, const AVFrame *f, loom_error *err)
{
    if (!fr->sws) {
        int full = f->color_range == AVCOL_RANGE_JPEG;
        enum AVPixelFormat src = unjpeg(f->format, &full);
        fr->has_alpha = frame_alpha(f);
        fr->rgba = malloc((size_t)f->width * f->height * 4);
        fr->sws = sws_getContext(f->width, f->height, src, f->width, f->height,
                                 AV_PIX_FMT_RGBA, SWS_POINT | SWS_ACCURATE_RND |
                                 SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
        if (!fr->rgba || !fr->sws)
            return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "cannot convert %s pixels to RGB",
                               av_get_pix_fmt_name(f->format));
        const int *bt601 = sws_getCoefficients(SWS_CS_DEFAULT);
        sws_setColorspaceDetails(fr->sws, bt601, full, bt601, 1, 0, 1 << 16, 1 << 16);
    }
    if (fr->n && (f->width != fr->w || f->height != fr->h))
        return LOOM_OK;
    int stride = f->width * 4;
    sws_scale(fr->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, &fr->rgba,
              &stride);
    return add_rgba(fr, fr->rgba, f->width, f->height, err);
}

static int receive_all(AVCodecContext *dec, AVFrame *f, frames *fr, loom_error *err)
{
    int rc = LOOM_OK;
    while (rc == LOOM_OK && avcodec_receive_frame(dec, f) == 0) {
        rc = take_frame(fr, f, err);
        av_frame_unref(f);
    }
    return rc;
}

static int decode_libav(const char *path, frames *fr, loom_error *err)
{
    AVFormatContext *fmt = NULL;
    if (avformat_open_input(&fmt, path, NULL, NULL) < 0)
        return loom_errorf(err, LOOM_ERR_INVALID, "'%s' is not an image this build can read",
                           path);
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int si = avformat_find_stream_info(fmt, NULL) < 0
                 ? -1 : av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    const AVCodec *codec = si >= 0 ? avcodec_find_decoder(fmt->streams[si]->codecpar->codec_id)
                                   : NULL;
    int rc = codec && pkt && f ? LOOM_OK
                               : loom_errorf(err, LOOM_ERR_INVALID, "'%s' is not an image "
                                             "this build can read", path);
    if (rc == LOOM_OK && (!(dec = avcodec_alloc_context3(codec)) ||
                          avcodec_parameters_to_context(dec, fmt->streams[si]->codecpar) < 0 ||
                          avcodec_open2(dec, codec, NULL) < 0))
        rc = loom_errorf(err, LOOM_ERR_UNSUPPORTED, "cannot decode '%s'", path);
    while (rc == LOOM_OK && av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == si && avcodec_send_packet(dec, pkt) == 0)
            rc = receive_all(dec, f, fr, err);
        av_packet_unref(pkt);
    }
    if (rc == LOOM_OK && avcodec_send_packet(dec, NULL) == 0)
        rc = receive_all(dec, f, fr, err);
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return rc;
}

static int decode_file(const char *path, frames *fr, loom_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return loom_errorf(err, LOOM_ERR_NOT_FOUND, "cannot open image '%s': %s", path,
                           strerror(errno));
    uint8_t *bytes = NULL;
    size_t size = 0;
    int rc = LOOM_OK;
    uint8_t head[12];
    if (fread(head, 1, sizeof head, fp) == sizeof head && is_webp(head, sizeof head)) {
        fseek(fp, 0, SEEK_END);
        long end = ftell(fp);
        rewind(fp);
        size = end > 0 ? (size_t)end : 0;
        bytes = malloc(size ? size : 1);
        if (!bytes || fread(bytes, 1, size, fp) != size)
            rc = loom_errorf(err, LOOM_ERR_IO, "cannot read '%s'", path);
    }
    fclose(fp);
    if (rc == LOOM_OK)
        rc = bytes ? decode_webp(bytes, size, path, fr, err) : decode_libav(path, fr, err);
    free(bytes);
    if (rc == LOOM_OK && fr->n == 0)
        rc = loom_errorf(err, LOOM_ERR_INVALID, "'%s' holds no picture", path);
    return rc;
}

int load_image_execute(loom_node_ctx *ctx)
{
    char path[PATH_MAX];
    if (input_path(ctx, path, sizeof path) != LOOM_OK)
        return LOOM_ERR_INVALID;
    frames fr = {0};
    loom_error err = {0};
    int rc = decode_file(path, &fr, &err);
    loom_tensor *image = NULL, *mask = NULL;
    if (rc == LOOM_OK) {
        size_t px = (size_t)fr.w * fr.h;
        image = loom_tensor_new(LOOM_F32, 4, (int64_t[]){fr.n, fr.h, fr.w, 3}, &err);
        mask = fr.has_alpha
                   ? loom_tensor_new(LOOM_F32, 3, (int64_t[]){fr.n, fr.h, fr.w}, &err)
                   : loom_tensor_new(LOOM_F32, 3, (int64_t[]){fr.n, NO_ALPHA_MASK_SIDE,
                                                             NO_ALPHA_MASK_SIDE}, &err);
        if (!image || !mask)
            rc = err.code ? err.code : LOOM_ERR_NOMEM;
        else {
            memcpy(image->data, fr.rgb, fr.n * px * 3 * sizeof(float));
            if (fr.has_alpha)     /* else the new tensor's zeros are the mask */
                memcpy(mask->data, fr.alpha, fr.n * px * sizeof(float));
        }
    }
    sws_freeContext(fr.sws);
    free(fr.rgba);
    free(fr.rgb);
    free(fr.alpha);
    if (rc != LOOM_OK) {
        loom_tensor_unref(image);
        loom_tensor_unref(mask);
        return loom_node_fail_err(ctx, &err);
    }
    rc = loom_out(ctx, 0, loom_image_value(image));
    if (rc == LOOM_OK)
        rc = loom_out(ctx, 1, loom_mask_value(mask));
    else
        loom_tensor_unref(mask);
    return rc;
}
