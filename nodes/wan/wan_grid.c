/* wan_grid.c: the token grid of a latent — patchify and unpatchify (spec 2.2 steps 1, 6).
 *
 * A latent [C, T, H, W] is cut into patches of pt x ph x pw; token (fi, hi, wi) has index
 * (fi*h + hi)*w + wi, the order the RoPE table and the reference use. Extents that are not
 * multiples of the patch are padded at the far end circularly (position p reads p mod
 * extent), as ComfyUI's pad_to_patch_size does, and the output is cropped back, so odd
 * latent sizes work as they do in ComfyUI.
 *
 * Patch features are ordered (c, kt, kh, kw), the flattening of the Conv3d weight
 * [D, C, pt, ph, pw], so the patch embedding is one linear. Head outputs are ordered
 * (kt, kh, kw, c): patch offsets outermost, channel innermost.
 */
#include "wan_dit.h"

int wan_grid_init(wan_grid *g, const wan_config *c, int64_t T, int64_t H, int64_t W, loom_error *err)
{
    if (T <= 0 || H <= 0 || W <= 0)
        return loom_errorf(err, LOOM_ERR_INVALID, "empty latent %lldx%lldx%lld", (long long)T, (long long)H,
                           (long long)W);
    g->T = T;
    g->H = H;
    g->W = W;
    g->f = (T + c->patch[0] - 1) / c->patch[0];
    g->h = (H + c->patch[1] - 1) / c->patch[1];
    g->w = (W + c->patch[2] - 1) / c->patch[2];
    g->tokens = g->f * g->h * g->w;
    if (g->f > WAN_MAX_GRID_POSITIONS || g->h > WAN_MAX_GRID_POSITIONS || g->w > WAN_MAX_GRID_POSITIONS)
        return loom_errorf(err, LOOM_ERR_INVALID, "latent %lldx%lldx%lld is too large: Wan's RoPE has %d positions per axis",
                           (long long)T, (long long)H, (long long)W, WAN_MAX_GRID_POSITIONS);
    return LOOM_OK;
}

void wan_patchify(const wan_config *c, const wan_grid *g, const float *x, float *patches)
{
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int64_t feat = c->in_dim * pt * ph * pw, plane = g->H * g->W, volume = g->T * plane;
    for (int64_t fi = 0; fi < g->f; fi++)
        for (int64_t hi = 0; hi < g->h; hi++)
            for (int64_t wi = 0; wi < g->w; wi++) {
                float *row = patches + ((fi * g->h + hi) * g->w + wi) * feat;
                for (int64_t ch = 0; ch < c->in_dim; ch++)
                    for (int kt = 0; kt < pt; kt++)
                        for (int kh = 0; kh < ph; kh++)
                            for (int kw = 0; kw < pw; kw++) {
                                int64_t t = (fi * pt + kt) % g->T, y = (hi * ph + kh) % g->H,
                                        xx = (wi * pw + kw) % g->W;
                                *row++ = x[ch * volume + t * plane + y * g->W + xx];
                            }
            }
}

void wan_unpatchify(const wan_config *c, const wan_grid *g, const float *o, float *out)
{
    const int pt = c->patch[0], ph = c->patch[1], pw = c->patch[2];
    const int64_t feat = c->out_dim * pt * ph * pw, plane = g->H * g->W, volume = g->T * plane;
    for (int64_t fi = 0; fi < g->f; fi++)
        for (int64_t hi = 0; hi < g->h; hi++)
            for (int64_t wi = 0; wi < g->w; wi++) {
                const float *row = o + ((fi * g->h + hi) * g->w + wi) * feat;
                for (int kt = 0; kt < pt; kt++)
                    for (int kh = 0; kh < ph; kh++)
                        for (int kw = 0; kw < pw; kw++, row += c->out_dim) {
                            int64_t t = fi * pt + kt, y = hi * ph + kh, xx = wi * pw + kw;
                            if (t >= g->T || y >= g->H || xx >= g->W)
                                continue;   /* padding: cropped */
                            for (int64_t ch = 0; ch < c->out_dim; ch++)
                                out[ch * volume + t * plane + y * g->W + xx] = row[ch];
                        }
            }
}
