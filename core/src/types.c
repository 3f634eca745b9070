/* types.c: constructors and accessors for the cross-plugin types (loom/types.h). The
 * destructors live here, in libloom, so a value stays valid whatever plugin made it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

const loom_tensor *loom_value_tensor(const loom_value *v)
{
    const char *type = v && loom_value_kind(v) == LOOM_KIND_OBJECT ? loom_value_type(v) : "";
    void *p = loom_value_object_ptr(v, NULL);
    if (!strcmp(type, LOOM_TYPE_LATENT))
        return ((const loom_latent *)p)->samples;
    if (!strcmp(type, LOOM_TYPE_IMAGE) || !strcmp(type, LOOM_TYPE_MASK))
        return p;
    if (!strcmp(type, LOOM_TYPE_CONDITIONING))
        return ((const loom_conditioning *)p)->n ? ((const loom_conditioning *)p)->entries[0].context
                                                 : NULL;
    if (!strcmp(type, LOOM_TYPE_VIDEO))
        return ((const loom_video *)p)->frames;
    return NULL;
}

int loom_tensor_stats(const loom_tensor *t, loom_stats *out, loom_error *err)
{
    loom_tensor *f = t->dtype == LOOM_F32 ? loom_tensor_ref((loom_tensor *)t) : loom_tensor_to_f32(t, err);
    if (!f)
        return err && err->code ? err->code : LOOM_ERR_UNSUPPORTED;
    const float *x = f->data;
    int64_t n = loom_tensor_numel(f);
    double sum = 0, sq = 0, lo = n ? x[0] : 0, hi = n ? x[0] : 0;
    for (int64_t i = 0; i < n; i++) {
        sum += x[i];
        sq += (double)x[i] * x[i];
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    double mean = n ? sum / n : 0;
    *out = (loom_stats){n, lo, hi, mean, n ? sqrt(fmax(sq / n - mean * mean, 0)) : 0};
    loom_tensor_unref(f);
    return LOOM_OK;
}
