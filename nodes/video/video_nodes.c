/* video_nodes.c: the video plugin's node table: CreateVideo, SaveVideo, SaveWEBM, with
 * ComfyUI's names and inputs. CreateVideo lives here (it only pairs frames with a rate);
 * the writers are in save_video.c. */
#include <libavutil/log.h>

#include "loom/types.h"
#include "output_pixels.h"
#include "video_nodes.h"

/* CreateVideo: a VIDEO that shares the IMAGE tensor (no copy). AUDIO has no loom type
 * yet, so a connected audio input is refused rather than silently dropped. */
static int create_video_execute(loom_node_ctx *ctx)
{
    loom_tensor *frames = loom_in_image(ctx, "images");
    loom_error err;
    if (output_frames_check(frames, &err) != LOOM_OK)   /* fail here, not at the writer */
        return loom_node_fail_err(ctx, &err);
    if (loom_in(ctx, "audio"))
        return loom_node_fail_code(ctx, LOOM_ERR_UNSUPPORTED,
                                   "audio is not supported by this build's CreateVideo yet");
    loom_value *v = loom_video_value(loom_tensor_ref(frames), loom_in_float(ctx, "fps"), NULL, 0);
    if (!v)
        return loom_node_fail_code(ctx, LOOM_ERR_NOMEM, "out of memory");
    return loom_out(ctx, 0, v);
}

static const char *const formats[] = {"auto", "mp4", NULL};
static const char *const codecs[] = {"auto", "h264", NULL};
static const char *const webm_codecs[] = {"vp9", "av1", NULL};

static const loom_input create_in[] = {
    {.name = "images", .type = "IMAGE", .tooltip = "The images to create a video from."},
    {.name = "fps", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 30.0, .min = 1.0, .max = 120.0, .step = 1.0},
    {.name = "audio", .type = "AUDIO", .flags = LOOM_IN_OPTIONAL,
     .tooltip = "The audio to add to the video."}};
static const loom_output video_out[] = {{.type = "VIDEO"}};

static const loom_input save_in[] = {
    {.name = "video", .type = "VIDEO", .tooltip = "The video to save."},
    {.name = "filename_prefix", .type = LOOM_T_STRING, .def_str = "video/ComfyUI",
     .tooltip = "The prefix for the file to save."},
    {.name = "format", .type = LOOM_T_COMBO, .choices = formats, .def_str = "auto",
     .tooltip = "The format to save the video as."},
    {.name = "codec", .type = LOOM_T_COMBO, .choices = codecs, .def_str = "auto",
     .tooltip = "The codec to use for the video."},
    {.name = "prompt", .type = LOOM_T_PROMPT, .flags = LOOM_IN_HIDDEN},
    {.name = "extra_pnginfo", .type = LOOM_T_EXTRA_PNGINFO, .flags = LOOM_IN_HIDDEN}};

static const loom_input webm_in[] = {
    {.name = "images", .type = "IMAGE"},
    {.name = "filename_prefix", .type = LOOM_T_STRING, .def_str = "ComfyUI"},
    {.name = "codec", .type = LOOM_T_COMBO, .choices = webm_codecs, .def_str = "vp9"},
    {.name = "fps", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 24.0, .min = 0.01, .max = 1000.0, .step = 0.01},
    {.name = "crf", .type = LOOM_T_FLOAT, .flags = LOOM_IN_HAS_RANGE | LOOM_IN_HAS_STEP,
     .def = 32.0, .min = 0, .max = 63.0, .step = 1},
    {.name = "prompt", .type = LOOM_T_PROMPT, .flags = LOOM_IN_HIDDEN},
    {.name = "extra_pnginfo", .type = LOOM_T_EXTRA_PNGINFO, .flags = LOOM_IN_HIDDEN}};

static const loom_node_type video_nodes[] = {
    {.name = "CreateVideo", .display_name = "Create Video", .category = "image/video",
     .description = "Create a video from images.", .inputs = create_in,
     .n_inputs = LOOM_COUNT(create_in), .outputs = video_out, .n_outputs = 1,
     .execute = create_video_execute},
    {.name = "SaveVideo", .display_name = "Save Video", .category = "image/video",
     .description = "Saves the input images to your output directory.", .inputs = save_in,
     .n_inputs = LOOM_COUNT(save_in), .flags = LOOM_NODE_OUTPUT, .execute = save_video_execute},
    {.name = "SaveWEBM", .category = "image/video", .inputs = webm_in,
     .n_inputs = LOOM_COUNT(webm_in), .flags = LOOM_NODE_OUTPUT | LOOM_NODE_EXPERIMENTAL,
     .execute = save_webm_execute},
};

static int register_video(loom_registrar *reg, loom_error *err)
{
    /* libav's encoders log statistics to stderr at INFO; loom's progress lines are the
     * user's view of a run, so only libav's errors get through. */
    av_log_set_level(AV_LOG_ERROR);
    return loom_register_nodes(reg, video_nodes, LOOM_COUNT(video_nodes), err);
}

LOOM_PLUGIN_DEFINE("loom.video", "0.1.0", register_video);
