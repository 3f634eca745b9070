/* sampler_unipc_comfy.c: ComfyUI's own UniPC (comfy/extra_samplers/uni_pc.py), variants
 * bh1 ("uni_pc") and bh2 ("uni_pc_bh2").
 *
 * ComfyUI runs UniPC in the variance-preserving view of the k-diffusion sigmas:
 * alpha(s) = 1/sqrt(1+s²), sigma_vp(s) = s/sqrt(1+s²), lambda(s) = -log s, on the state
 * x_vp = x / sqrt(1 + s0²), with the model as a data predictor D (its noise-prediction
 * round trip is D again, up to float rounding). A final sigma of 0 becomes 0.001. The
 * solver is multistep of order min(3, len(sigmas) - 2), warmed up with lower orders,
 * lower_order_final, predictor + corrector (UniC) on every step but the last; the
 * corrector's model evaluation is the next step's model value, so model calls = steps.
 * Invariant: history[0..count) holds the x0-predictions at times[0..count), newest last.
 * Coefficients are computed in double (ComfyUI's newest tree computes b in float64 too).
 */
#include <math.h>
#include <string.h>

#include "samplers.h"

#define UNIPC_MAX_ORDER 3

typedef struct unipc {
    sample_run  *run;
    int          bh2;
    int64_t      n;
    double       times[UNIPC_MAX_ORDER];       /* sigmas of the history, oldest first */
    loom_tensor *history[UNIPC_MAX_ORDER];     /* x0-predictions, oldest first */
    int          count;
    loom_tensor *x_in, *x_pred, *d1[UNIPC_MAX_ORDER - 1], *model_t;
} unipc;

static double vp_alpha(double s) { return 1.0 / sqrt(1.0 + s * s); }
static double vp_sigma(double s) { return s / sqrt(1.0 + s * s); }

/* D at schedule index `index` for the VP state x: the model sees x·sqrt(1 + s²). */
static int unipc_model(unipc *u, const loom_tensor *x, size_t index, loom_tensor *out,
                       loom_error *err)
{
    float scale = (float)sqrt((double)u->run->sched->sigmas[index] *
                              u->run->sched->sigmas[index] + 1.0);
    const float *xs = x->data;
    float *in = u->x_in->data;
    for (int64_t j = 0; j < u->n; j++)
        in[j] = xs[j] * scale;
    return sample_denoise(u->run, u->x_in, index, out, err);
}

/* Solve the k×k system a·rho = b (k <= 3) by Gaussian elimination with pivoting. */
static void solve_small(int k, double a[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER], double *b, double *rho)
{
    for (int c = 0; c < k; c++) {
        int p = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(a[r][c]) > fabs(a[p][c]))
                p = r;
        for (int j = 0; j < k; j++) {
            double t = a[c][j];
            a[c][j] = a[p][j];
            a[p][j] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < k; r++) {
            double f = a[r][c] / a[c][c];
            for (int j = c; j < k; j++)
                a[r][j] -= f * a[c][j];
            b[r] -= f * b[c];
        }
    }
    for (int r = k - 1; r >= 0; r--) {
        double acc = b[r];
        for (int j = r + 1; j < k; j++)
            acc -= a[r][j] * rho[j];
        rho[r] = acc / a[r][r];
    }
}

/* multistep_uni_pc_bh_update: x moves from times[count-1] to sigma t (schedule index
 * `index`); with the corrector the model is evaluated at the predicted x into model_t. */
static int unipc_update(unipc *u, loom_tensor *x, double t, size_t index, int order,
                        int use_corrector, loom_error *err)
{
    double t0 = u->times[u->count - 1];
    double lambda0 = -log(t0), lambda_t = -log(t), h = lambda_t - lambda0;
    const float *m0 = u->history[u->count - 1]->data;
    double rks[UNIPC_MAX_ORDER];
    for (int i = 1; i < order; i++) {
        rks[i - 1] = (-log(u->times[u->count - 1 - i]) - lambda0) / h;
        const float *mi = u->history[u->count - 1 - i]->data;
        float *d1 = u->d1[i - 1]->data;
        float rk = (float)rks[i - 1];
        for (int64_t j = 0; j < u->n; j++)
            d1[j] = (mi[j] - m0[j]) / rk;
    }
    rks[order - 1] = 1.0;

    double hh = -h, h_phi_1 = expm1(hh), b_h = u->bh2 ? expm1(hh) : hh;
    double r_mat[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER], b[UNIPC_MAX_ORDER];
    double h_phi_k = expm1(hh) / hh - 1.0, factorial = 1.0;
    for (int i = 1; i <= order; i++) {
        for (int j = 0; j < order; j++)
            r_mat[i - 1][j] = pow(rks[j], i - 1);
        b[i - 1] = h_phi_k * factorial / b_h;
        factorial *= i + 1;
        h_phi_k = h_phi_k / hh - 1.0 / factorial;
    }
    double rhos_p[UNIPC_MAX_ORDER] = {0.5}, rhos_c[UNIPC_MAX_ORDER] = {0.5};
    if (order > 2) {
        double a[UNIPC_MAX_ORDER][UNIPC_MAX_ORDER], bb[UNIPC_MAX_ORDER];
        memcpy(a, r_mat, sizeof a);
        memcpy(bb, b, sizeof bb);
        solve_small(order - 1, a, bb, rhos_p);
    }
    if (use_corrector && order > 1)
        solve_small(order, r_mat, b, rhos_c);

    float c_x = (float)(vp_sigma(t) / vp_sigma(t0)), c_m = (float)(vp_alpha(t) * h_phi_1);
    float c_b = (float)(vp_alpha(t) * b_h);
    float *xs = x->data, *xp = u->x_pred->data;
    for (int64_t j = 0; j < u->n; j++) {
        float base = c_x * xs[j] - c_m * m0[j];
        float res = 0.0f;
        for (int k = 0; k < order - 1; k++)
            res += (float)rhos_p[k] * ((const float *)u->d1[k]->data)[j];
        xp[j] = base;                     /* x_t_, kept for the corrector */
        xs[j] = order > 1 ? base - c_b * res : base;
    }
    if (!use_corrector)
        return LOOM_OK;
    int rc = unipc_model(u, x, index, u->model_t, err);
    if (rc)
        return rc;
    const float *mt = u->model_t->data;
    for (int64_t j = 0; j < u->n; j++) {
        float res = 0.0f;
        for (int k = 0; k < order - 1; k++)
            res += (float)rhos_c[k] * ((const float *)u->d1[k]->data)[j];
        xs[j] = xp[j] - c_b * (res + (float)rhos_c[order - 1] * (mt[j] - m0[j]));
    }
    return LOOM_OK;
}

/* Append (t, model_t) to the history, dropping the oldest when full. */
static void unipc_push(unipc *u, double t, int capacity)
{
    if (u->count == capacity) {
        loom_tensor *oldest = u->history[0];
        for (int i = 0; i + 1 < capacity; i++) {
            u->history[i] = u->history[i + 1];
            u->times[i] = u->times[i + 1];
        }
        u->history[capacity - 1] = oldest;
        u->count--;
    }
    /* Swap the evaluation buffer into the history. */
    loom_tensor *slot = u->history[u->count];
    u->history[u->count] = u->model_t;
    u->model_t = slot;
    u->times[u->count++] = t;
}

static int unipc_report(unipc *u, int step, loom_error *err)
{
    memcpy(u->run->denoised->data, u->history[u->count - 1]->data, (size_t)u->n * sizeof(float));
    return sample_step_done(u->run, step, err);
}

static int unipc_sample(sample_run *run, loom_tensor *x, int bh2, loom_error *err)
{
    const sigma_schedule *sc = run->sched;
    if (sc->n < 2)
        return LOOM_OK;
    unipc u = {.run = run, .bh2 = bh2, .n = loom_tensor_numel(x)};
    int steps = (int)sc->n - 1;
    int order = (int)sc->n - 2 < UNIPC_MAX_ORDER ? (int)sc->n - 2 : UNIPC_MAX_ORDER;
    double t_last = sc->sigmas[steps] == 0.0f ? 0.001 : sc->sigmas[steps];
    int rc = LOOM_OK;
    loom_tensor **bufs[] = {&u.x_in, &u.x_pred, &u.model_t, &u.d1[0], &u.d1[1], &u.history[0],
                            &u.history[1], &u.history[2]};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (!(*bufs[i] = sample_scratch(x, err)))
            rc = sample_alloc_status(err);
    float *xs = x->data;
    float to_vp = (float)sqrt(1.0 + (double)sc->sigmas[0] * sc->sigmas[0]);
    for (int64_t j = 0; !rc && j < u.n; j++)
        xs[j] = xs[j] / to_vp;
    int capacity = order > 1 ? order : 1;

    if (!rc)
        rc = unipc_model(&u, x, 0, u.model_t, err);
    if (!rc) {
        unipc_push(&u, sc->sigmas[0], capacity);
        rc = unipc_report(&u, 0, err);
    }
    for (int step_index = 1; !rc && step_index < steps; step_index++) {
        if (step_index < order) {
            rc = unipc_update(&u, x, sc->sigmas[step_index], (size_t)step_index, step_index, 1, err);
            if (!rc)
                unipc_push(&u, sc->sigmas[step_index], capacity);
        } else {
            int last = step_index == steps - 1 ? step_index + 1 : step_index;
            for (int step = step_index; !rc && step <= last; step++) {
                double t = step == steps ? t_last : sc->sigmas[step];
                int step_order = steps + 1 - step < order ? steps + 1 - step : order;
                int corrector = step != steps;
                rc = unipc_update(&u, x, t, (size_t)step, step_order, corrector, err);
                if (!rc && corrector)
                    unipc_push(&u, t, capacity);
            }
        }
        if (!rc)
            rc = unipc_report(&u, step_index, err);
    }
    float from_vp = (float)vp_alpha(t_last);
    for (int64_t j = 0; !rc && j < u.n; j++)
        xs[j] = xs[j] / from_vp;
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        loom_tensor_unref(*bufs[i]);
    return rc;
}

int sample_uni_pc(sample_run *run, loom_tensor *x, loom_error *err)
{
    return unipc_sample(run, x, 0, err);
}

int sample_uni_pc_bh2(sample_run *run, loom_tensor *x, loom_error *err)
{
    return unipc_sample(run, x, 1, err);
}
