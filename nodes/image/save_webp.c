/* save_webp.c: SaveAnimatedWEBP, every frame of the batch in one animated WebP, as
 * ComfyUI writes it through Pillow.
 *
 * Frames last int(1000 / fps) ms each and the animation loops forever. `lossless`,
 * `quality` and `method` (default 4, fastest 0, slowest 6) go to libwebp as Pillow passes
 * them. The workflow travels in an EXIF chunk the way ComfyUI stores it: tag 0x0110
 * (Model) holds "prompt:<json>" and tags counting down from 0x010f (Make) hold
 * "<key>:<json>" for each extra_pnginfo key, "workflow" first. The UI output is ComfyUI's
 * {"images": [...], "animated": [true]} (false for a single frame).
 */
#include <stdlib.h>
#include <string.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "image_nodes.h"
#include "loom/types.h"
#include "output_file.h"
#include "output_meta.h"
#include "output_pixels.h"

/* EXIF tags ComfyUI uses: prompt in Model, extra_pnginfo keys from Make downwards. */
#define EXIF_TAG_PROMPT     0x0110
#define EXIF_TAG_FIRST_INFO 0x010f
#define EXIF_TIFF_ASCII     2

static int webp_method(const char *name)
{
    if (name && !strcmp(name, "fastest"))
        return 0;
    if (name && !strcmp(name, "slowest"))
        return 6;
    return 4;
}

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }

/* A little-endian TIFF block with one IFD of ASCII entries "<key>:<json>", as Pillow
 * writes ComfyUI's metadata (without the "Exif\0\0" marker, which WebP omits). */
static int build_exif(const output_meta *meta, WebPData *out, loom_error *err)
{
    uint16_t tags[OUTPUT_META_MAX_KEYS];
    size_t order[OUTPUT_META_MAX_KEYS], n = meta->n, data = 0;
    for (size_t i = 0, info = 0; i < n; i++) {
        tags[i] = strcmp(meta->key[i], "prompt") ? (uint16_t)(EXIF_TAG_FIRST_INFO - info++)
                                                 : EXIF_TAG_PROMPT;
        order[i] = i;
        data += (strlen(meta->key[i]) + strlen(meta->json[i]) + 2 + 1) & ~(size_t)1;
    }
    for (size_t i = 1; i < n; i++)         /* IFD entries must ascend by tag */
        for (size_t j = i; j > 0 && tags[order[j]] < tags[order[j - 1]]; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t head = 8 + 2 + 12 * n + 4;
    uint8_t *b = calloc(1, head + data);
    if (!b)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    memcpy(b, "II*\0", 4);
    put32(b + 4, 8);
    put16(b + 8, (unsigned)n);
    size_t at = head;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        int len = sprintf((char *)b + at, "%s:%s", meta->key[i], meta->json[i]) + 1;
        uint8_t *e = b + 10 + 12 * k;
        put16(e, tags[i]);
        put16(e + 2, EXIF_TIFF_ASCII);
        put32(e + 4, (uint32_t)len);
        put32(e + 8, (uint32_t)at);
        at += ((size_t)len + 1) & ~(size_t)1;
    }
    out->bytes = b;
    out->size = head + data;
    return LOOM_OK;
}

/* Encode all frames into one animated WebP in memory (out, freed with WebPDataClear). */
static int encode_webp(loom_node_ctx *ctx, const loom_tensor *frames, const output_meta *meta,
                       WebPData *out, loom_error *err)
{
    const int n = (int)frames->shape[0], h = (int)frames->shape[1], w = (int)frames->shape[2];
    const int c = (int)frames->shape[3];
    const int frame_ms = (int)(1000.0 / loom_in_float(ctx, "fps"));
    WebPAnimEncoderOptions opts;
    WebPConfig config;
    if (!WebPAnimEncoderOptionsInit(&opts) || !WebPConfigInit(&config))
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "libwebp version mismatch");
    opts.anim_params.loop_count = 0;
    opts.anim_params.bgcolor = 0;                 /* Pillow's default: transparent black */
    opts.kmin = loom_in_bool(ctx, "lossless") ? 9 : 3;   /* Pillow's keyframe spacing */
    opts.kmax = loom_in_bool(ctx, "lossless") ? 17 : 5;
    config.lossless = loom_in_bool(ctx, "lossless");
    config.quality = (float)loom_in_int(ctx, "quality");
    config.method = webp_method(loom_in_str(ctx, "method"));
    if (!WebPValidateConfig(&config))
        return loom_errorf(err, LOOM_ERR_INVALID, "invalid WebP settings");
    WebPAnimEncoder *enc = WebPAnimEncoderNew(w, h, &opts);
    uint8_t *rgba = malloc((size_t)w * h * 4);
    float *px = malloc((size_t)w * h * 4 * sizeof *px);
    int rc = enc && rgba && px ? LOOM_OK : loom_errorf(err, LOOM_ERR_NOMEM, "out of memory");
    for (int i = 0; rc == LOOM_OK && i < n; i++) {
        /* Gray and RGB become RGBA with opaque alpha; RGBA keeps its alpha. */
        const float *src = (const float *)frames->data + (size_t)i * w * h * c;
        for (size_t p = 0; p < (size_t)w * h; p++)
            for (int k = 0; k < 4; k++)
                px[p * 4 + k] = k == 3 ? (c == 4 ? src[p * 4 + 3] : 1.0f)
                                       : src[p * c + (c == 1 ? 0 : k)];
        output_pixels_u8(px, (size_t)w * h * 4, rgba);
        WebPPicture pic;
        WebPPictureInit(&pic);
        pic.width = w;
        pic.height = h;
        pic.use_argb = 1;
        if (!WebPPictureImportRGBA(&pic, rgba, w * 4) ||
            !WebPAnimEncoderAdd(enc, &pic, i * frame_ms, &config))
            rc = loom_errorf(err, LOOM_ERR_IO, "WebP encoder failed on frame %d: %s", i,
                             WebPAnimEncoderGetError(enc));
        WebPPictureFree(&pic);
        if (rc == LOOM_OK && loom_progress(ctx, i + 1, n) != LOOM_OK)
            rc = loom_errorf(err, LOOM_ERR_INTERRUPTED, "interrupted");
    }
    WebPData anim;
    WebPDataInit(&anim);
    if (rc == LOOM_OK && (!WebPAnimEncoderAdd(enc, NULL, n * frame_ms, NULL) ||
                          !WebPAnimEncoderAssemble(enc, &anim)))
        rc = loom_errorf(err, LOOM_ERR_IO, "WebP encoder failed: %s",
                         WebPAnimEncoderGetError(enc));
    free(px);
    free(rgba);
    WebPAnimEncoderDelete(enc);
    if (rc != LOOM_OK || meta->n == 0) {
        *out = anim;
        return rc;
    }
    WebPData exif = {0};
    WebPMux *mux = NULL;
    rc = build_exif(meta, &exif, err);
    if (rc == LOOM_OK && (!(mux = WebPMuxCreate(&anim, 0)) ||
                          WebPMuxSetChunk(mux, "EXIF", &exif, 0) != WEBP_MUX_OK ||
                          WebPMuxAssemble(mux, out) != WEBP_MUX_OK))
        rc = loom_errorf(err, LOOM_ERR_IO, "cannot add the workflow to the WebP file");
    WebPMuxDelete(mux);
    free((void *)exif.bytes);
    WebPDataClear(&anim);
    return rc;
}

int save_animated_webp_execute(loom_node_ctx *ctx)
{
    loom_error err = {0};
    loom_tensor *frames = loom_in_image(ctx, "images");
    if (output_frames_check(frames, &err) != LOOM_OK)
        return loom_node_fail_err(ctx, &err);
    output_meta meta;
    output_target target;
    output_tmp tmp = {{0}};
    WebPData webp;
    WebPDataInit(&webp);
    char name[NAME_MAX + 1];
    int rc = output_meta_collect(&meta, loom_in_str(ctx, "prompt"),
                                 loom_in_str(ctx, "extra_pnginfo"), &err);
    if (rc == LOOM_OK)
        rc = encode_webp(ctx, frames, &meta, &webp, &err);
    if (rc == LOOM_OK)
        rc = output_target_open(&target, loom_output_dir(ctx),
                                loom_in_str(ctx, "filename_prefix"), (int)frames->shape[2],
                                (int)frames->shape[1], &err);
    if (rc == LOOM_OK)
        rc = output_tmp_create(&target, &tmp, &err);
    if (rc == LOOM_OK && fwrite(webp.bytes, 1, webp.size, tmp.fp) != webp.size)
        rc = loom_errorf(&err, LOOM_ERR_IO, "cannot write to '%s'", target.dir);
    if (rc == LOOM_OK)
        rc = output_tmp_commit(&target, &tmp, "webp", name, sizeof name, &err);
    output_tmp_discard(&tmp);
    WebPDataClear(&webp);
    output_meta_free(&meta);
    if (rc == LOOM_OK)
        rc = loom_ui_file(ctx, "images", name, target.subfolder, "output");
    if (rc == LOOM_OK)
        rc = loom_ui_append(ctx, "animated", frames->shape[0] != 1 ? "true" : "false");
    if (rc == LOOM_ERR_INTERRUPTED || rc == LOOM_OK)
        return rc;
    return loom_node_fail_err(ctx, &err);
}
