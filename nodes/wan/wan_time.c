/* wan_time.c: the timestep embedding (spec 2.2 step 2).
 *
 * s = [cos(t*w_j), sin(t*w_j)] with w_j = 10000^(-j/half), cos first; then
 * e = W2 SiLU(W1 s + b1) + b2 and e0 = Wp SiLU(e) + bp, the six modulation rows of every
 * block. The sinusoid is computed in float32 the way ComfyUI and diffusers do (the
 * frequency as exp of a float32 exponent, the angle as a float32 product), so the
 * embedding matches theirs to the rounding of cos/sin. All of this is f32; only the three
 * matrix products follow the model's precision.
 */
#include <math.h>

#include "wan_dit.h"

int wan_time_embed(wan_dit *m, const float *t, int64_t B, float *e, float *e0, loom_arena *a,
                   loom_error *err)
{
    const int64_t D = m->cfg.dim, F = m->cfg.freq_dim, half = F / 2;
    size_t mark = loom_arena_mark(a);
    float *s = loom_arena_f32(a, B * F), *h = loom_arena_f32(a, B * D);
    if (!s || !h)
        return loom_errorf(err, LOOM_ERR_NOMEM, "out of memory in the time embedding");
    const float log_period = (float)log(10000.0);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < half; j++) {
            float freq = expf(-log_period * (float)j / (float)half);
            float angle = t[b] * freq;
            s[b * F + j] = cosf(angle);
            s[b * F + half + j] = sinf(angle);
        }
    int rc = loom_linear_forward_ex(m->time_in, s, B, F, h, D, LOOM_ACT_SILU, 0);
    if (!rc)
        rc = loom_linear_forward(m->time_out, h, B, e);
    if (!rc) {
        loom_silu(e, B * D, h);
        rc = loom_linear_forward(m->time_proj, h, B, e0);
    }
    loom_arena_reset(a, mark);
    return rc ? loom_errorf(err, rc, "time embedding: matrix product failed") : LOOM_OK;
}
