/* video_encode.h: encode IMAGE frames into a video file with libavformat / libavcodec.
 *
 * Frames are [N, H, W, C] f32 in 0..1; each goes through ComfyUI's 8-bit conversion
 * (output_pixels.h), then to the encoder's YUV format as BT.709 limited range, tagged so
 * (ComfyUI's "sRGB" colour settings). Frame i gets pts i in a time base of 1/fps, with fps
 * rounded to 1/1000 as ComfyUI does, so the file holds exactly N frames at that rate.
 * 4:2:0 needs even sizes: an odd width or height is padded by repeating the last column
 * or row. Audio, when given, is encoded at its own rate and trimmed to the video's length
 * (ceil(rate / fps * frames) samples, as ComfyUI does). Metadata entries become container
 * tags (MP4: movflags=use_metadata_tags, as ComfyUI writes them). The caller owns the path
 * and removes it if this fails.
 */
#ifndef LOOM_VIDEO_ENCODE_H
#define LOOM_VIDEO_ENCODE_H

#include "loom/plugin.h"
#include "loom/tensor.h"
#include "output_meta.h"

typedef struct video_encode_spec {
    const char        *container;   /* libavformat muxer: "mp4", "webm" */
    const char *const *encoders;    /* encoder names, NULL-terminated, first available wins */
    const char        *fallback;    /* used (with a log line) when none is present; NULL: fail */
    const char        *pix_fmt;     /* "yuv420p", "yuv420p10le" */
    double             fps;
    const char        *crf;         /* encoder "crf" option, NULL: the encoder's default */
    const char        *preset;      /* encoder "preset" option, NULL: default */
    const output_meta *meta;
    const loom_tensor *audio;       /* [channels, samples] f32, or NULL for no sound */
    int                audio_rate;  /* samples per second */
    const char        *audio_encoder; /* "aac" */
} video_encode_spec;

/* Write frames to path (a file that may already exist, empty). Reports progress per frame
 * and returns LOOM_ERR_INTERRUPTED when asked to stop. */
int video_encode_file(loom_node_ctx *ctx, const char *path, const loom_tensor *frames,
                      const video_encode_spec *spec, loom_error *err);

#endif
