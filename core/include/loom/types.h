/* loom/types.h: the data types that cross plugins, with their ownership rules.
 *
 * Each is an immutable object value (loom_value_object) whose payload struct is declared
 * here and whose constructor lives in libloom, so any plugin can make or read one.
 * The payload holds its own references (tensors are refcounted); the value's destructor
 * drops them. A node that wants to change one makes a new value, sharing tensors it does
 * not change (take a reference with loom_tensor_ref).
 *
 *   LATENT        loom_latent: samples [B, C, T, H, W] (video) or [B, C, H, W] (image),
 *                 f32, in "VAE space" as ComfyUI hands latents between nodes; samplers
 *                 apply the model's latent format on the way in and out.
 *   IMAGE         loom_tensor: [N, H, W, C] f32 in 0..1 (ComfyUI's layout; a video's
 *                 frames are N).
 *   MASK          loom_tensor: [N, H, W] f32 in 0..1 (1 = masked, ComfyUI's convention).
 *   CONDITIONING  loom_conditioning: one or more entries, each a context tensor
 *                 [1, n, d] f32 with the number of real (unpadded) tokens.
 *   VIDEO         loom_video: frames (an IMAGE tensor), fps, optional audio.
 *   MODEL         loom_model: see loom/model.h.
 */
#ifndef LOOM_TYPES_H
#define LOOM_TYPES_H

#include "loom/plugin.h"
#include "loom/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LOOM_TYPE_LATENT       "LATENT"
#define LOOM_TYPE_IMAGE        "IMAGE"
#define LOOM_TYPE_MASK         "MASK"
#define LOOM_TYPE_CONDITIONING "CONDITIONING"
#define LOOM_TYPE_VIDEO        "VIDEO"
#define LOOM_TYPE_MODEL        "MODEL"

/* ---- LATENT ---------------------------------------------------------------------- */

typedef struct loom_latent {
    loom_tensor *samples;      /* [B, C, T, H, W] or [B, C, H, W], f32 */
    loom_tensor *noise_mask;   /* optional, NULL when absent */
} loom_latent;

/* A LATENT value owning the given references (both stolen; noise_mask may be NULL). */
loom_value  *loom_latent_value(loom_tensor *samples, loom_tensor *noise_mask);
const loom_latent *loom_in_latent(loom_node_ctx *ctx, const char *name);

/* ---- IMAGE ----------------------------------------------------------------------- */

/* An IMAGE value owning `frames` ([N, H, W, C] f32, stolen). */
loom_value  *loom_image_value(loom_tensor *frames);
loom_tensor *loom_in_image(loom_node_ctx *ctx, const char *name);   /* borrowed */

/* ---- MASK ------------------------------------------------------------------------ */

/* A MASK value owning `mask` ([N, H, W] f32, stolen). */
loom_value  *loom_mask_value(loom_tensor *mask);
loom_tensor *loom_in_mask(loom_node_ctx *ctx, const char *name);    /* borrowed */

/* ---- CONDITIONING ---------------------------------------------------------------- */

typedef struct loom_cond_entry {
    loom_tensor *context;      /* [1, n, d] f32; rows past `length` are padding */
    int64_t      length;       /* real tokens, EOS included */
} loom_cond_entry;

typedef struct loom_conditioning {
    size_t          n;
    loom_cond_entry entries[]; /* n entries */
} loom_conditioning;

/* A CONDITIONING value with one entry (context stolen). */
loom_value  *loom_conditioning_value(loom_tensor *context, int64_t length);
const loom_conditioning *loom_in_conditioning(loom_node_ctx *ctx, const char *name);

/* ---- VIDEO ----------------------------------------------------------------------- */

typedef struct loom_video {
    loom_tensor *frames;       /* [N, H, W, 3] f32 in 0..1 */
    double       fps;
    loom_tensor *audio;        /* optional [channels, samples] f32, NULL when absent */
    int          audio_rate;   /* samples per second when audio is set */
} loom_video;

/* A VIDEO value owning frames and audio (stolen; audio may be NULL). */
loom_value  *loom_video_value(loom_tensor *frames, double fps, loom_tensor *audio, int audio_rate);
const loom_video *loom_in_video(loom_node_ctx *ctx, const char *name);

/* ---- reading tensors out of values ---------------------------------------------- */

/* The main tensor of a tensor-bearing value: LATENT's samples, IMAGE, MASK, the first
 * CONDITIONING context, VIDEO's frames. NULL for anything else. Borrowed. */
const loom_tensor *loom_value_tensor(const loom_value *v);

typedef struct loom_stats {
    int64_t count;
    double  min, max, mean, std;   /* over every element, NaN-free input assumed */
} loom_stats;

/* Summary statistics of a float tensor (f32, f16, bf16, fp8). */
int loom_tensor_stats(const loom_tensor *t, loom_stats *out, loom_error *err);

#ifdef __cplusplus
}
#endif
#endif
