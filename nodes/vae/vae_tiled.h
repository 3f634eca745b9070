/* vae_tiled.h: decoding a latent in overlapping tiles, ComfyUI's VAEDecodeTiled way.
 *
 * The latent is cut into tiles of tile_t x tile_h x tile_w latent cells that overlap by
 * overlap_* cells (ComfyUI's tiled_scale_multidim: starts every tile - overlap cells, the
 * last tile pulled back to end at the edge). Each tile is decoded on its own, as a video
 * that starts at its first latent frame, and placed at 4*t0, 8*y0, 8*x0. Where tiles overlap
 * they are blended with linear ramps (weights (k+1)/feather over the first and last
 * `feather` decoded cells of each side, feather = the overlap in output units) and
 * normalised by the summed weights. Peak memory is one tile's decode plus the output.
 */
#ifndef VAE_TILED_H
#define VAE_TILED_H

#include "vae_model.h"

typedef struct vae_tiling {
    int64_t tile_t, tile_h, tile_w;          /* latent cells, >= 1 */
    int64_t overlap_t, overlap_h, overlap_w; /* latent cells, < the tile size */
} vae_tiling;

/* z [z_dim, T, h, w] -> video [3, wan_vae_video_frames(T), 8h, 8w] (unclamped). */
int wan_vae_decode_tiled(const wan_vae *v, const float *z, int64_t T, int64_t h, int64_t w,
                         const vae_tiling *tiling, float *video, vae_progress_fn progress,
                         void *progress_ud, loom_error *err);

#endif
