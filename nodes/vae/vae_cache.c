/* vae_cache.c: chunk activations and the per-conv frame caches (see vae_cache.h). */
#include "vae_cache.h"

#include <stdlib.h>
#include <string.h>

#include "loom/tensor.h"
#include "loom/threads.h"

int vae_act_alloc(vae_cache *c, vae_act *a, int64_t C, int64_t T, int64_t H, int64_t W, loom_error *err)
{
    size_t need = (size_t)(C * T * H * W) * sizeof(float);
    need = need ? need : sizeof(float);
    int best = -1;
    for (int i = 0; i < VAE_POOL_SLOTS; i++) {
        if (!c->pool[i])
            continue;
        if (c->pool_cap[i] < need) {           /* too small for this: let it go */
            loom_aligned_free(c->pool[i]);
            c->pool[i] = NULL;
        } else if (best < 0 || c->pool_cap[i] < c->pool_cap[best]) {
            best = i;
        }
    }
    *a = (vae_act){NULL, C, T, H, W, need};
    if (best >= 0) {
        a->d = c->pool[best], a->cap = c->pool_cap[best];
        c->pool[best] = NULL;
        return LOOM_OK;
    }
    a->d = loom_aligned_alloc(need);
    if (!a->d)
        return loom_errorf(err, LOOM_ERR_NOMEM, "VAE: out of memory for a %lldx%lldx%lldx%lld activation",
                           (long long)C, (long long)T, (long long)H, (long long)W);
    return LOOM_OK;
}

void vae_act_free(vae_cache *c, vae_act *a)
{
    /* Keep it in an empty slot, or instead of the smallest pooled buffer if that is smaller. */
    int slot = -1;
    for (int i = 0; i < VAE_POOL_SLOTS && a->d; i++) {
        if (!c->pool[i]) {
            slot = i;
            break;
        }
        if (slot < 0 || c->pool_cap[i] < c->pool_cap[slot])
            slot = i;
    }
    if (slot >= 0 && c->pool[slot] && c->pool_cap[slot] >= a->cap)
        slot = -1;
    if (slot >= 0) {
        loom_aligned_free(c->pool[slot]);
        c->pool[slot] = a->d, c->pool_cap[slot] = a->cap;
    } else {
        loom_aligned_free(a->d);
    }
    *a = (vae_act){0};
}

int64_t vae_act_numel(const vae_act *a) { return a->C * a->T * a->H * a->W; }

int vae_cache_init(vae_cache *c, int n_slots, loom_error *err)
{
    *c = (vae_cache){.n_slots = n_slots};
    c->slot = calloc((size_t)(n_slots > 0 ? n_slots : 1), sizeof *c->slot);
    return c->slot ? LOOM_OK : loom_errorf(err, LOOM_ERR_NOMEM, "VAE: out of memory for the time cache");
}

void vae_cache_free(vae_cache *c)
{
    for (int i = 0; i < c->n_slots; i++)
        loom_aligned_free(c->slot[i].d);
    for (int i = 0; i < VAE_POOL_SLOTS; i++)
        loom_aligned_free(c->pool[i]);
    free(c->slot);
    *c = (vae_cache){0};
}

typedef struct frame_copy {
    float       *dst;
    const float *src;
    int64_t      dst_T, dst_t0, src_T, src_t0, n, HW;
} frame_copy;

static void copy_channels(void *ctx, int64_t c0, int64_t c1, int tid)
{
    const frame_copy *f = ctx;
    (void)tid;
    size_t bytes = (size_t)(f->n * f->HW) * sizeof(float);
    for (int64_t c = c0; c < c1; c++) {
        float *dst = f->dst + (c * f->dst_T + f->dst_t0) * f->HW;
        if (f->src)
            memcpy(dst, f->src + (c * f->src_T + f->src_t0) * f->HW, bytes);
        else
            memset(dst, 0, bytes);
    }
}

void vae_copy_frames(float *dst, int64_t dst_T, int64_t dst_t0, const float *src, int64_t src_T,
                     int64_t src_t0, int64_t n, int64_t C, int64_t HW)
{
    frame_copy f = {dst, src, dst_T, dst_t0, src_T, src_t0, n, HW};
    if (n > 0)
        loom_parallel_for(C, copy_channels, &f);
}

/* Keep frames [from, from + n) of each channel of a [C, T, HW] buffer in the slot. */
static int keep_frames(vae_frames *s, const float *src, int64_t C, int64_t T, int64_t HW, int64_t from,
                       int n, loom_error *err)
{
    if (!s->d || s->C != C || s->HW != HW) {
        loom_aligned_free(s->d);
        s->d = loom_aligned_alloc((size_t)(C * 2 * HW) * sizeof(float));   /* 2: the largest keep */
        if (!s->d)
            return loom_errorf(err, LOOM_ERR_NOMEM, "VAE: out of memory for the time cache");
        s->C = C, s->HW = HW;
    }
    vae_copy_frames(s->d, n, 0, src, T, from, n, C, HW);
    s->n = n;
    return LOOM_OK;
}

int vae_frames_concat(vae_cache *c, int slot, vae_act *x, int keep, vae_act *y, loom_error *err)
{
    vae_frames *s = &c->slot[slot];
    int64_t HW = x->H * x->W, held = s->n && s->C == x->C && s->HW == HW ? s->n : 0;
    int64_t pad = held < keep ? keep - held : 0, T = pad + held + x->T;
    int rc = vae_act_alloc(c, y, x->C, T, x->H, x->W, err);
    if (rc) {
        vae_act_free(c, x);
        return rc;
    }
    vae_copy_frames(y->d, T, 0, NULL, 0, 0, pad, x->C, HW);
    vae_copy_frames(y->d, T, pad, s->d, held, 0, held, x->C, HW);
    vae_copy_frames(y->d, T, pad + held, x->d, x->T, 0, x->T, x->C, HW);
    vae_act_free(c, x);
    int n = T < keep ? (int)T : keep;
    return keep_frames(s, y->d, y->C, T, HW, T - n, n, err);
}

int vae_frames_remember(vae_frames *s, const vae_act *x, int keep, loom_error *err)
{
    int n = x->T < keep ? (int)x->T : keep;
    return keep_frames(s, x->d, x->C, x->T, x->H * x->W, x->T - n, n, err);
}
