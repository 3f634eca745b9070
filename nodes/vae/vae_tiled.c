/* vae_tiled.c: tiled decoding with feathered blending (see vae_tiled.h). The blend weight
 * of a decoded cell is the product of one ramp per axis, so no mask tensor is stored; the
 * summed weights need one plane per output frame (they are the same for the 3 colours). */
#include "vae_tiled.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Where a tile starts along one axis of S cells: ComfyUI's range(0, S - overlap, step),
 * each start clamped to [0, S - overlap]. Returns the number of starts. */
static int64_t tile_starts(int64_t S, int64_t tile, int64_t overlap, int64_t *starts, int64_t cap)
{
    if (S <= tile) {
        starts[0] = 0;
        return 1;
    }
    int64_t n = 0, step = tile - overlap;
    for (int64_t p = 0; p < S - overlap && n < cap; p += step)
        starts[n++] = p < S - overlap ? p : S - overlap;
    return n;
}

/* 1-D blend weights over n decoded cells with `feather` cells of ramp at both ends. */
static void ramp(float *wt, int64_t n, int64_t feather)
{
    for (int64_t i = 0; i < n; i++)
        wt[i] = 1.0f;
    if (feather >= n)
        return;
    for (int64_t k = 0; k < feather; k++) {
        float a = (float)(k + 1) / (float)feather;
        wt[k] *= a;
        wt[n - 1 - k] *= a;
    }
}

typedef struct tile_sink {
    float       *video, *weight;   /* [3, F, H, W] and [F, H, W] accumulators */
    int64_t      F, H, W;
    int64_t      t0, y0, x0;       /* the tile's place in output cells */
    const float *wt, *wy, *wx;     /* the tile's ramps */
} tile_sink;

static int accumulate(void *ud, const float *frames, int64_t t_local, int64_t n, int64_t H, int64_t W)
{
    tile_sink *s = ud;
    for (int64_t t = 0; t < n; t++) {
        int64_t ft = s->t0 + t_local + t;
        for (int64_t i = 0; i < H; i++) {
            float wti = s->wt[t_local + t] * s->wy[i];
            float *wrow = s->weight + (ft * s->H + s->y0 + i) * s->W + s->x0;
            for (int64_t j = 0; j < W; j++)
                wrow[j] += wti * s->wx[j];
            for (int64_t c = 0; c < 3; c++) {
                const float *src = frames + ((c * n + t) * H + i) * W;
                float *dst = s->video + ((c * s->F + ft) * s->H + s->y0 + i) * s->W + s->x0;
                for (int64_t j = 0; j < W; j++)
                    dst[j] += src[j] * wti * s->wx[j];
            }
        }
    }
    return LOOM_OK;
}

typedef struct tile_progress {
    vae_progress_fn fn;
    void           *ud;
    int64_t         tile, n_tiles;
} tile_progress;

/* Inner progress of tile k as k + done/total of all tiles, in thousandths. */
static int forward_progress(void *ud, int64_t done, int64_t total)
{
    tile_progress *p = ud;
    return p->fn(p->ud, p->tile * 1000 + (total ? done * 1000 / total : 0), p->n_tiles * 1000);
}

/* The most tile starts along one axis (a 16k-frame or 64k-pixel axis at step 1). */
#define VAE_MAX_TILE_STARTS 8192

int wan_vae_decode_tiled(const wan_vae *v, const float *z, int64_t T, int64_t h, int64_t w,
                         const vae_tiling *tl, float *video, vae_progress_fn progress,
                         void *progress_ud, loom_error *err)
{
    if (tl->tile_t < 1 || tl->tile_h < 1 || tl->tile_w < 1 || tl->overlap_t < 0 || tl->overlap_h < 0 ||
        tl->overlap_w < 0 || tl->overlap_t >= tl->tile_t || tl->overlap_h >= tl->tile_h ||
        tl->overlap_w >= tl->tile_w)
        return loom_errorf(err, LOOM_ERR_INVALID, "VAE tiled decode: each overlap must be smaller than its tile");
    int64_t F = wan_vae_video_frames(T), H = h * WAN_VAE_SPATIAL, W = w * WAN_VAE_SPATIAL;
    int64_t *st = malloc(3 * VAE_MAX_TILE_STARTS * sizeof *st);
    float *weight = calloc((size_t)(F * H * W), sizeof *weight);
    float *ramps = malloc((size_t)(F + H + W) * sizeof *ramps);
    float *sub = malloc((size_t)(v->z_dim * (tl->tile_t < T ? tl->tile_t : T) *
                                 (tl->tile_h < h ? tl->tile_h : h) * (tl->tile_w < w ? tl->tile_w : w)) *
                        sizeof *sub);
    int rc = st && weight && ramps && sub ? LOOM_OK
                                          : loom_errorf(err, LOOM_ERR_NOMEM, "VAE tiled decode: out of memory");
    int64_t *sy = st + VAE_MAX_TILE_STARTS, *sx = sy + VAE_MAX_TILE_STARTS, nt = 0, ny = 0, nx = 0;
    if (!rc) {
        memset(video, 0, (size_t)(3 * F * H * W) * sizeof *video);
        nt = tile_starts(T, tl->tile_t, tl->overlap_t, st, VAE_MAX_TILE_STARTS);
        ny = tile_starts(h, tl->tile_h, tl->overlap_h, sy, VAE_MAX_TILE_STARTS);
        nx = tile_starts(w, tl->tile_w, tl->overlap_w, sx, VAE_MAX_TILE_STARTS);
    }
    tile_progress tp = {progress, progress_ud, 0, nt * ny * nx};
    for (int64_t a = 0; a < nt && !rc; a++)
        for (int64_t b = 0; b < ny && !rc; b++)
            for (int64_t c = 0; c < nx && !rc; c++, tp.tile++) {
                int64_t lt = T - st[a] < tl->tile_t ? T - st[a] : tl->tile_t;
                int64_t lh = h - sy[b] < tl->tile_h ? h - sy[b] : tl->tile_h;
                int64_t lw = w - sx[c] < tl->tile_w ? w - sx[c] : tl->tile_w;
                for (int64_t k = 0; k < v->z_dim; k++)
                    for (int64_t t = 0; t < lt; t++)
                        for (int64_t i = 0; i < lh; i++)
                            memcpy(sub + ((k * lt + t) * lh + i) * lw,
                                   z + ((k * T + st[a] + t) * h + sy[b] + i) * w + sx[c],
                                   (size_t)lw * sizeof *sub);
                /* A latent that fits one tile is decoded as is, as ComfyUI does. */
                bool alone = tp.n_tiles == 1;
                int64_t ft = wan_vae_video_frames(lt), feather_t = alone ? 0 : 4 * tl->overlap_t - 3;
                int64_t feather_h = alone ? 0 : WAN_VAE_SPATIAL * tl->overlap_h;
                int64_t feather_w = alone ? 0 : WAN_VAE_SPATIAL * tl->overlap_w;
                tile_sink s = {video, weight, F, H, W, WAN_VAE_TEMPORAL * st[a], WAN_VAE_SPATIAL * sy[b],
                               WAN_VAE_SPATIAL * sx[c], ramps, ramps + ft, ramps + ft + lh * WAN_VAE_SPATIAL};
                ramp(ramps, ft, feather_t > 0 ? feather_t : 0);
                ramp(ramps + ft, lh * WAN_VAE_SPATIAL, feather_h);
                ramp(ramps + ft + lh * WAN_VAE_SPATIAL, lw * WAN_VAE_SPATIAL, feather_w);
                rc = wan_vae_decode(v, sub, lt, lh, lw, accumulate, &s, progress ? forward_progress : NULL,
                                    &tp, err);
            }
    for (int64_t c = 0; c < 3 && !rc; c++)
        for (int64_t i = 0; i < F * H * W; i++)
            video[c * F * H * W + i] /= weight[i];
    free(st);
    free(weight);
    free(ramps);
    free(sub);
    return rc;
}
