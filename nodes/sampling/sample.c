/* sample.c: the sampling run shared by the sampler nodes (see sample.h for the steps). */
#include <stdio.h>
#include <string.h>

#include "loom/random.h"
#include "sample.h"

static bool all_zero(const loom_tensor *t)
{
    const float *p = t->data;
    for (int64_t i = 0, n = loom_tensor_numel(t); i < n; i++)
        if (p[i] != 0.0f)
            return false;
    return true;
}

/* Per-channel mean/std/scale of the model's latent format (identity without a format). */
static void format_at(const loom_latent_format *f, int64_t c, float *mean, float *std, float *scale)
{
    bool known = f->channels > 0 && c < f->channels && f->std[c] != 0.0f;
    *mean = known ? f->mean[c] : 0.0f;
    *std = known ? f->std[c] : 1.0f;
    *scale = f->scale != 0.0f ? f->scale : 1.0f;
}

/* process_latent_in (inverse = false): (x - mean)·scale/std; out: x·std/scale + mean. */
static void apply_format(const loom_latent_format *f, loom_tensor *t, bool inverse)
{
    int64_t batch = t->shape[0], channels = t->shape[1];
    int64_t inner = loom_tensor_numel(t) / (batch * channels);
    float *p = t->data;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t c = 0; c < channels; c++) {
            float mean, std, scale;
            format_at(f, c, &mean, &std, &scale);
            float *q = p + (b * channels + c) * inner;
            for (int64_t i = 0; i < inner; i++)
                q[i] = inverse ? q[i] * std / scale + mean : (q[i] - mean) * scale / std;
        }
}

static loom_tensor *copy_tensor(const loom_tensor *t, loom_error *err)
{
    loom_tensor *c = loom_tensor_new_like(t, LOOM_F32, err);
    if (c)
        memcpy(c->data, t->data, loom_tensor_nbytes(t));
    return c;
}

/* The latent the sampler starts from: f32 [B, C, ...], channels fixed when empty. */
static int input_latent(const sample_request *req, const loom_model *m, loom_tensor **out,
                        loom_error *err)
{
    const loom_tensor *l = req->latent->samples;
    char desc[96];
    if (!l || l->dtype != LOOM_F32 || l->ndim < 3 || loom_tensor_numel(l) == 0)
        return loom_errorf(err, LOOM_ERR_INVALID,
                           "the latent must be a non-empty f32 [B, C, (T,) H, W] tensor, got %s",
                           l ? loom_tensor_describe(l, desc, sizeof desc) : "nothing");
    int channels = m->format.channels;
    /* A video model given an image latent [B, C, H, W] samples it as one frame. */
    bool add_frames = l->ndim == 4 && m->format.temporal_compression > 1;
    if ((channels > 0 && l->shape[1] != channels) || add_frames) {
        bool empty = all_zero(l);
        if (channels > 0 && l->shape[1] != channels && !empty)
            return loom_errorf(err, LOOM_ERR_INVALID,
                               "the latent has %lld channels but the model (%s) expects %d",
                               (long long)l->shape[1], loom_model_vtbl_of(m)->family, channels);
        int64_t shape[LOOM_MAX_DIMS] = {l->shape[0], channels > 0 ? channels : l->shape[1]};
        int ndim = add_frames ? 5 : l->ndim;
        if (add_frames)
            shape[2] = 1;
        memcpy(shape + (add_frames ? 3 : 2), l->shape + 2, (size_t)(l->ndim - 2) * sizeof *shape);
        *out = loom_tensor_new(LOOM_F32, ndim, shape, err);
        if (*out && !empty)   /* only the frame axis changed: same values */
            memcpy((*out)->data, l->data, loom_tensor_nbytes(l));
        return *out ? LOOM_OK : sample_alloc_status(err);
    }
    *out = loom_tensor_ref((loom_tensor *)l);
    return LOOM_OK;
}

/* comfy.sampler_helpers.prepare_mask for masks already at the latent's size: the mask's
 * batch and channels repeat to the latent's (a 5-D latent also takes [T, H, W]-shaped
 * masks); resizing a mask (bilinear / trilinear) is not supported yet. */
static int expand_mask(const loom_tensor *mask, const loom_tensor *latent, loom_tensor **out,
                       loom_error *err)
{
    char md[96], ld[96];
    int nd = latent->ndim, spatial = nd - 2;
    int64_t mb = 1, mc = 1, inner = 1;
    for (int d = 2; d < nd; d++)
        inner *= latent->shape[d];
    bool fits = mask->ndim >= 2 && loom_dtype_is_float(mask->dtype);
    for (int d = 0; fits && d < 2 && d < spatial; d++)   /* the last two dims are H, W */
        fits = mask->shape[mask->ndim - 1 - d] == latent->shape[nd - 1 - d];
    if (fits && mask->ndim == nd) {
        mb = mask->shape[0];
        mc = mask->shape[1];
        for (int d = 2; d < nd; d++)
            fits &= mask->shape[d] == latent->shape[d];
    } else if (fits && mask->ndim < nd) {
        /* reshape((-1, 1, H, W)) for images; reshape((1, 1, -1, H, W)) for video */
        int64_t rest = loom_tensor_numel(mask) / (latent->shape[nd - 1] * latent->shape[nd - 2]);
        if (nd == 5)
            fits = rest == latent->shape[2];
        else
            mb = rest;
    }
    fits &= mb >= 1 && mc >= 1 && mc <= latent->shape[1];
    if (!fits)
        return loom_errorf(err, LOOM_ERR_UNSUPPORTED,
                           "noise_mask %s does not match the latent %s; loom does not resize "
                           "masks yet", loom_tensor_describe(mask, md, sizeof md),
                           loom_tensor_describe(latent, ld, sizeof ld));
    loom_tensor *m32 = loom_tensor_to_f32(mask, err);
    *out = m32 ? loom_tensor_new_like(latent, LOOM_F32, err) : NULL;
    if (!*out) {
        loom_tensor_unref(m32);
        return sample_alloc_status(err);
    }
    const float *src = m32->data;
    float *dst = (*out)->data;
    int64_t batch = latent->shape[0], channels = latent->shape[1];
    for (int64_t b = 0; b < batch; b++)
        for (int64_t c = 0; c < channels; c++)
            memcpy(dst + (b * channels + c) * inner, src + ((b % mb) * mc + c % mc) * inner,
                   (size_t)inner * sizeof *dst);
    loom_tensor_unref(m32);
    return LOOM_OK;
}

typedef struct progress_ctx {
    loom_node_ctx     *node;
    const loom_tensor *denoised;   /* the latest x0-prediction */
} progress_ctx;

/* Each step reports progress with the x0-prediction's statistics, for callbacks that
 * watch a run converge (Lua's on_step, a future latent preview). */
static int report_step(void *user, int step, int total)
{
    progress_ctx *p = user;
    if (!p->node)
        return LOOM_OK;
    loom_stats st;
    char json[256];
    if (p->denoised && loom_tensor_stats(p->denoised, &st, NULL) == LOOM_OK) {
        snprintf(json, sizeof json, "{\"mean\":%.9g,\"std\":%.9g,\"min\":%.9g,\"max\":%.9g}",
                 st.mean, st.std, st.min, st.max);
        return loom_progress_detail(p->node, step + 1, total, json);
    }
    return loom_progress(p->node, step + 1, total);
}

/* Run the sampler on x; with a mask, latent_in and noise feed the inpainting blend. */
static int run_sampler(const sample_request *req, const loom_model *m, loom_tensor *x,
                       loom_tensor *denoised, const loom_tensor *latent_in,
                       const loom_tensor *noise, loom_error *err)
{
    progress_ctx progress = {req->node, denoised};
    sample_run run = {.sched = req->sigmas, .multiplier = m->sampling.multiplier,
                      .seed = req->seed, .on_step = report_step, .user = &progress,
                      .denoised = denoised, .mask_latent = latent_in, .mask_noise = noise};
    loom_tensor *mask = NULL;
    int rc = LOOM_OK;
    if (req->latent->noise_mask) {
        rc = expand_mask(req->latent->noise_mask, x, &mask, err);
        if (!rc && !(run.mask_x = sample_scratch(x, err)))
            rc = sample_alloc_status(err);
        run.mask = mask;
    }
    if (!rc)
        rc = guider_begin(req->guider, x, &run.guider, err);
    if (!rc) {
        rc = req->sampler->fn(&run, x, err);
        guider_end(run.guider);
    }
    loom_tensor_unref(mask);
    loom_tensor_unref(run.mask_x);
    return rc;
}

int sample_latent(const sample_request *req, loom_tensor **samples, loom_tensor **denoised,
                  loom_error *err)
{
    *samples = NULL;
    if (denoised)
        *denoised = NULL;
    const loom_model *m = guider_model(req->guider);
    loom_tensor *latent = NULL;
    int rc = input_latent(req, m, &latent, err);
    if (rc)
        return rc;
    const sigma_schedule *sc = req->sigmas;
    if (sc->n == 0) {
        *samples = latent;
        if (denoised)
            *denoised = loom_tensor_ref(latent);
        return LOOM_OK;
    }

    loom_tensor *x = loom_tensor_new_like(latent, LOOM_F32, err);
    loom_tensor *den = x ? loom_tensor_new_like(latent, LOOM_F32, err) : NULL;
    loom_tensor *latent_in = den ? copy_tensor(latent, err) : NULL;
    /* The unscaled noise, kept for inpainting's blend. */
    loom_tensor *noise = latent_in ? loom_tensor_new_like(latent, LOOM_F32, err) : NULL;
    if (!noise) {
        rc = sample_alloc_status(err);
        goto done;
    }
    int64_t n = loom_tensor_numel(latent);
    float *xs = x->data, *li = latent_in->data;
    if (req->noise) {
        if (req->noise->dtype != LOOM_F32 || loom_tensor_numel(req->noise) != n) {
            rc = loom_errorf(err, LOOM_ERR_INVALID, "the given noise does not match the latent");
            goto done;
        }
        memcpy(xs, req->noise->data, (size_t)n * sizeof *xs);
    } else if (req->add_noise) {
        loom_randn(req->seed, xs, n);   /* torch.manual_seed(seed); torch.randn(shape) */
    }
    memcpy(noise->data, xs, (size_t)n * sizeof *xs);
    bool empty = all_zero(latent);
    if (!empty)                         /* ComfyUI does not shift the empty latent */
        apply_format(&m->format, latent_in, false);
    float sigma0 = sc->sigmas[0];
    if (!(empty && sc->pure_noise_start))
        for (int64_t i = 0; i < n; i++)
            xs[i] = sigma0 * xs[i] + (1.0f - sigma0) * li[i];

    if ((rc = run_sampler(req, m, x, den, latent_in, noise, err)))
        goto done;

    float keep = 1.0f - sc->sigmas[sc->n - 1];
    for (int64_t i = 0; i < n; i++)
        xs[i] = xs[i] / keep;
    apply_format(&m->format, x, true);
    *samples = loom_tensor_ref(x);
    if (denoised) {
        if (sc->n > 1) {
            apply_format(&m->format, den, true);
            *denoised = loom_tensor_ref(den);
        } else {
            *denoised = loom_tensor_ref(x);
        }
    }
done:
    loom_tensor_unref(noise);
    loom_tensor_unref(x);
    loom_tensor_unref(den);
    loom_tensor_unref(latent_in);
    loom_tensor_unref(latent);
    return rc;
}
