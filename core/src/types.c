/* types.c: constructors and accessors for the cross-plugin types (loom/types.h). The
 * destructors live here, in libloom, so a value stays valid whatever plugin made it. */
#include <stdlib.h>

#include "loom/types.h"

static size_t tensor_bytes(const loom_tensor *t) { return t ? loom_tensor_nbytes(t) : 0; }

static void latent_free(void *p)
{
    loom_latent *l = p;
    loom_tensor_unref(l->samples);
    loom_tensor_unref(l->noise_mask);
    free(l);
}

loom_value *loom_latent_value(loom_tensor *samples, loom_tensor *noise_mask)
{
    loom_latent *l = calloc(1, sizeof *l);
    if (!l) {
        loom_tensor_unref(samples);
        loom_tensor_unref(noise_mask);
        return NULL;
    }
    l->samples = samples;
    l->noise_mask = noise_mask;
    return loom_value_object(LOOM_TYPE_LATENT, l, latent_free,
                             sizeof *l + tensor_bytes(samples) + tensor_bytes(noise_mask));
}

const loom_latent *loom_in_latent(loom_node_ctx *ctx, const char *name)
{
    return loom_in_object(ctx, name, LOOM_TYPE_LATENT);
}

/* IMAGE and MASK payloads are bare tensors. */
static void image_free(void *p) { loom_tensor_unref(p); }

loom_value *loom_image_value(loom_tensor *frames)
{
    if (!frames)
        return NULL;
    return loom_value_object(LOOM_TYPE_IMAGE, frames, image_free, tensor_bytes(frames));
}

loom_tensor *loom_in_image(loom_node_ctx *ctx, const char *name)
{
    return loom_in_object(ctx, name, LOOM_TYPE_IMAGE);
}

loom_value *loom_mask_value(loom_tensor *mask)
{
    if (!mask)
        return NULL;
    return loom_value_object(LOOM_TYPE_MASK, mask, image_free, tensor_bytes(mask));
}

loom_tensor *loom_in_mask(loom_node_ctx *ctx, const char *name)
{
    return loom_in_object(ctx, name, LOOM_TYPE_MASK);
}

static void conditioning_free(void *p)
{
    loom_conditioning *c = p;
    for (size_t i = 0; i < c->n; i++)
        loom_tensor_unref(c->entries[i].context);
    free(c);
}

loom_value *loom_conditioning_value(loom_tensor *context, int64_t length)
{
    loom_conditioning *c = calloc(1, sizeof *c + sizeof c->entries[0]);
    if (!c) {
        loom_tensor_unref(context);
        return NULL;
    }
    c->n = 1;
    c->entries[0].context = context;
    c->entries[0].length = length;
    return loom_value_object(LOOM_TYPE_CONDITIONING, c, conditioning_free,
                             sizeof *c + sizeof c->entries[0] + tensor_bytes(context));
}

const loom_conditioning *loom_in_conditioning(loom_node_ctx *ctx, const char *name)
{
    return loom_in_object(ctx, name, LOOM_TYPE_CONDITIONING);
}

static void video_free(void *p)
{
    loom_video *v = p;
    loom_tensor_unref(v->frames);
    loom_tensor_unref(v->audio);
    free(v);
}

loom_value *loom_video_value(loom_tensor *frames, double fps, loom_tensor *audio, int audio_rate)
{
    loom_video *v = calloc(1, sizeof *v);
    if (!v) {
        loom_tensor_unref(frames);
        loom_tensor_unref(audio);
        return NULL;
    }
    *v = (loom_video){frames, fps, audio, audio_rate};
    return loom_value_object(LOOM_TYPE_VIDEO, v, video_free,
                             sizeof *v + tensor_bytes(frames) + tensor_bytes(audio));
}

const loom_video *loom_in_video(loom_node_ctx *ctx, const char *name)
{
    return loom_in_object(ctx, name, LOOM_TYPE_VIDEO);
}
