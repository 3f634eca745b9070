/* save_video.c: SaveVideo (MP4 / H.264) and SaveWEBM (VP9 or AV1 in WebM), as ComfyUI's
 * nodes write them.
 *
 * SaveVideo: libx264 at its defaults (crf 23, preset medium), falling back to
 * libopenh264 and then to MPEG-4 part 2 in the same MP4 (with a log line) on a libavcodec
 * without them; a VIDEO with sound gets an AAC track. SaveWEBM: libvpx-vp9 (yuv420p) or
 * libsvtav1 (yuv420p10le, preset 6; libaom-av1 if SVT is absent) at the node's crf; a
 * missing codec is a clear error.
 * Both embed "prompt" and the extra_pnginfo keys as container tags and answer ComfyUI's
 * UI shape {"images": [{filename, subfolder, type}], "animated": [true]}.
 *
 * The encoder writes into a temporary in the target folder; the file gets its numbered
 * name only once the trailer is written, and any failure or interrupt removes it.
 */
#include <stdio.h>
#include <string.h>

#include "loom/types.h"
#include "output_file.h"
#include "output_meta.h"
#include "output_pixels.h"
#include "video_encode.h"
#include "video_nodes.h"

static const char *const h264_encoders[] = {"libx264", "libopenh264", NULL};
static const char *const vp9_encoders[] = {"libvpx-vp9", NULL};
static const char *const av1_encoders[] = {"libsvtav1", "libaom-av1", NULL};

/* Encode frames to a new "<prefix>_<counter>_.<ext>" and report it in the UI. */
static int write_video(loom_node_ctx *ctx, const loom_tensor *frames, const char *prefix,
                       const char *ext, video_encode_spec *spec)
{
    loom_error err = {0};
    output_meta meta = {0};
    output_target target;
    output_tmp tmp = {{0}};
    char name[NAME_MAX + 1];
    int rc = output_frames_check(frames, &err);
    if (rc == LOOM_OK)
        rc = output_meta_collect(&meta, loom_in_str(ctx, "prompt"),
                                 loom_in_str(ctx, "extra_pnginfo"), &err);
    if (rc == LOOM_OK)
        rc = output_target_open(&target, loom_output_dir(ctx), prefix, (int)frames->shape[2],
                                (int)frames->shape[1], &err);
    if (rc == LOOM_OK)
        rc = output_tmp_create(&target, &tmp, &err);
    if (rc == LOOM_OK)
        rc = output_tmp_close(&tmp, &err);    /* libavformat reopens it by path */
    if (rc == LOOM_OK) {
        spec->meta = &meta;
        rc = video_encode_file(ctx, tmp.path, frames, spec, &err);
    }
    if (rc == LOOM_OK)
        rc = output_tmp_commit(&target, &tmp, ext, name, sizeof name, &err);
    output_tmp_discard(&tmp);
    output_meta_free(&meta);
    if (rc == LOOM_OK)
        rc = loom_ui_file(ctx, "images", name, target.subfolder, "output");
    if (rc == LOOM_OK)
        rc = loom_ui_append(ctx, "animated", "true");
    if (rc == LOOM_OK || rc == LOOM_ERR_INTERRUPTED)
        return rc;
    return loom_node_fail_err(ctx, &err);
}

int save_video_execute(loom_node_ctx *ctx)
{
    const loom_video *video = loom_in_video(ctx, "video");
    if (!video)
        return loom_node_fail(ctx, "video input is missing");
    /* format auto|mp4 and codec auto|h264 all mean MP4 / H.264 (+ AAC), as in ComfyUI. */
    video_encode_spec spec = {.container = "mp4", .encoders = h264_encoders,
                              .fallback = "mpeg4", .pix_fmt = "yuv420p", .fps = video->fps,
                              .audio = video->audio, .audio_rate = video->audio_rate,
                              .audio_encoder = "aac"};
    return write_video(ctx, video->frames, loom_in_str(ctx, "filename_prefix"), "mp4", &spec);
}

int save_webm_execute(loom_node_ctx *ctx)
{
    const char *codec = loom_in_str(ctx, "codec");
    bool av1 = codec && !strcmp(codec, "av1");
    char crf[32];
    snprintf(crf, sizeof crf, "%g", loom_in_float(ctx, "crf"));
    video_encode_spec spec = {.container = "webm", .encoders = av1 ? av1_encoders : vp9_encoders,
                              .pix_fmt = av1 ? "yuv420p10le" : "yuv420p",
                              .fps = loom_in_float(ctx, "fps"), .crf = crf,
                              .preset = av1 ? "6" : NULL};
    return write_video(ctx, loom_in_image(ctx, "images"), loom_in_str(ctx, "filename_prefix"),
                       "webm", &spec);
}
