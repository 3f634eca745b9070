/* sampler_unipc_flow.c: the flow UniPC of diffusers and the official Wan code
 * (FlowUniPCMultistepScheduler: bh2, predict_x0, order 2, lower_order_final, corrector
 * on), in the closed form of wan.md §3.3.
 *
 * With alpha = 1 - sigma and lambda = log(1 - sigma) - log(sigma), step k evaluates the
 * model on the predictor's (uncorrected) x_k, giving m_k = x_k - sigma_k·v_k; corrects
 * x_k from the previous step's input with m_k (UniC, k >= 1, order of the previous
 * step); then predicts x_{k+1} (UniP) with order min(2, N - k, k + 1). Going to sigma 0
 * the predictor's limit is m_k itself. State between steps: m_{k-1}, m_{k-2}, the
 * previous step input and its order. Coefficients are double (the reference uses
 * float32 scalars; wan.md accepts the ~1e-7 relative difference).
 */
#include <math.h>
#include <string.h>

#include "samplers.h"

static double flow_lambda(double s) { return log(1.0 - s) - log(s); }

int sample_unipc_flow(sample_run *run, loom_tensor *x, loom_error *err)
{
    const sigma_schedule *sc = run->sched;
    if (sc->n < 2)
        return LOOM_OK;
    const int steps = (int)sc->n - 1;
    const float *s = sc->sigmas;
    const int64_t n = loom_tensor_numel(x);
    /* m1 = m_{k-1}, m2 = m_{k-2}, x_prev = the previous step's (corrected) input. */
    loom_tensor *m1 = sample_scratch(x, err), *m2 = m1 ? sample_scratch(x, err) : NULL;
    loom_tensor *x_prev = m2 ? sample_scratch(x, err) : NULL;
    if (!x_prev) {
        loom_tensor_unref(m1);
        loom_tensor_unref(m2);
        return sample_alloc_status(err);
    }
    float *xs = x->data, *mk = run->denoised->data;
    float *p1 = m1->data, *p2 = m2->data, *xp = x_prev->data;
    int prev_order = 0, rc = LOOM_OK;

    for (int k = 0; k < steps && !rc; k++) {
        if ((rc = sample_denoise(run, x, (size_t)k, run->denoised, err)))
            break;
        if (k >= 1) {   /* UniC: redo the step sigma_{k-1} -> sigma_k with m_k */
            double h = flow_lambda(s[k]) - flow_lambda(s[k - 1]), bh = expm1(-h);
            float c_x = (float)((double)s[k] / s[k - 1]), c_b = (float)((1.0 - s[k]) * bh);
            if (prev_order == 1) {
                for (int64_t j = 0; j < n; j++)
                    xs[j] = (c_x * xp[j] - c_b * p1[j]) - c_b * 0.5f * (mk[j] - p1[j]);
            } else {
                double r = (flow_lambda(s[k - 2]) - flow_lambda(s[k - 1])) / h;
                double b1 = (bh / -h - 1.0) / bh;
                double b2 = 2.0 * ((bh / -h - 1.0) / -h - 0.5) / bh;
                double rho0 = (b1 - b2) / (1.0 - r), rho1 = b1 - rho0;
                float f0 = (float)(rho0 / r), f1 = (float)rho1;
                for (int64_t j = 0; j < n; j++)
                    xs[j] = (c_x * xp[j] - c_b * p1[j]) -
                            c_b * (f0 * (p2[j] - p1[j]) + f1 * (mk[j] - p1[j]));
            }
        }
        int order = steps - k < k + 1 ? steps - k : k + 1;
        if (order > 2)
            order = 2;
        memcpy(xp, xs, (size_t)n * sizeof *xp);
        if (s[k + 1] == 0.0f) {   /* h = inf, B = -1: the predictor lands on m_k */
            memcpy(xs, mk, (size_t)n * sizeof *xs);
        } else {
            double h = flow_lambda(s[k + 1]) - flow_lambda(s[k]), bh = expm1(-h);
            float c_x = (float)((double)s[k + 1] / s[k]), c_b = (float)((1.0 - s[k + 1]) * bh);
            float c_d = 0.0f;
            if (order == 2)
                c_d = (float)((1.0 - s[k + 1]) * bh * 0.5 /
                              ((flow_lambda(s[k - 1]) - flow_lambda(s[k])) / h));
            for (int64_t j = 0; j < n; j++) {
                float next = c_x * xs[j] - c_b * mk[j];
                xs[j] = order == 2 ? next - c_d * (p1[j] - mk[j]) : next;
            }
        }
        /* Shift the history: m_{k-2} <- m_{k-1} <- m_k. */
        memcpy(p2, p1, (size_t)n * sizeof *p2);
        memcpy(p1, mk, (size_t)n * sizeof *p1);
        prev_order = order;
        rc = sample_step_done(run, k, err);
    }
    loom_tensor_unref(m1);
    loom_tensor_unref(m2);
    loom_tensor_unref(x_prev);
    return rc;
}
