/* output_pixels.h: what every writer accepts as frames, and ComfyUI's float-to-8-bit
 * conversion of their pixels.
 *
 * Frames are an IMAGE [N, H, W, C] f32 with C = 1 (gray), 3 (RGB) or 4 (RGBA).
 * ComfyUI writes a pixel as `np.clip(255. * x, 0, 255).astype(np.uint8)` (and the video
 * path as `(x * 255).clamp(0, 255).byte()`): multiply in float32, clip, then truncate,
 * never round. NaN becomes 0. Matching this keeps loom's PNGs byte-identical to ComfyUI's.
 */
#ifndef LOOM_OUTPUT_PIXELS_H
#define LOOM_OUTPUT_PIXELS_H

#include <stddef.h>
#include <stdint.h>

#include "loom/tensor.h"

/* Largest frame side a writer accepts: WebP's limit, and far beyond any model output. */
#define OUTPUT_MAX_SIDE 16383

static inline uint8_t output_pixel_u8(float x)
{
    float v = 255.0f * x;
    if (!(v > 0.0f))          /* also catches NaN */
        return 0;
    if (v >= 255.0f)
        return 255;
    return (uint8_t)v;        /* truncation, as astype(uint8) */
}

static inline void output_pixels_u8(const float *src, size_t n, uint8_t *dst)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = output_pixel_u8(src[i]);
}

/* Check that t is an IMAGE a writer can save: [N, H, W, C] f32, N >= 1, C 1, 3 or 4. */
static inline int output_frames_check(const loom_tensor *t, loom_error *err)
{
    if (!t || t->ndim != 4 || t->dtype != LOOM_F32)
        return loom_errorf(err, LOOM_ERR_INVALID, "images must be an f32 [N, H, W, C] tensor");
    if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[2] < 1)
        return loom_errorf(err, LOOM_ERR_INVALID, "images are empty (%lld frames of %lldx%lld)",
                           (long long)t->shape[0], (long long)t->shape[2],
                           (long long)t->shape[1]);
    if (t->shape[1] > OUTPUT_MAX_SIDE || t->shape[2] > OUTPUT_MAX_SIDE)
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED, "frames of %lldx%lld exceed %d pixels a side",
                           (long long)t->shape[2], (long long)t->shape[1], OUTPUT_MAX_SIDE);
    if (t->shape[3] != 1 && t->shape[3] != 3 && t->shape[3] != 4)
        return loom_errorf(err, LOOM_ERR_INVALID, "images have %lld channels; 1, 3 or 4 expected",
                           (long long)t->shape[3]);
    return LOOM_OK;
}

#endif
