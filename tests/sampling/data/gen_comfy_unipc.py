"""gen_comfy_unipc.py: expected outputs of ComfyUI's UniPC (uni_pc = bh1, uni_pc_bh2) for
tests/sampling, from a literal pure-Python (float64) port of comfy/extra_samplers/uni_pc.py
sample_unipc with the fixture stand-in model (CFG 5 on x0-predictions) and ComfyUI's
'simple' schedule for uni_pc at shift 8 (steps + 1, second-to-last sigma dropped).
There is no torch fixture for ComfyUI's UniPC; this port keeps its loop structure (warm-up,
lower_order_final, the extra final step without corrector, sigma 0 -> 0.001) line for line.
Run by hand, never in CI:  python3 gen_comfy_unipc.py  (writes comfy_unipc.safetensors).
Needs only the Python standard library and tests/fixtures/sampler/trajectories.safetensors.
"""
import json, math, struct, sys
def f32(v): return struct.unpack('f', struct.pack('f', v))[0]
def load(path):
    b = open(path, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); base = 8+n
    out = {}
    for k, v in h.items():
        if k == '__metadata__': continue
        s, e = v['data_offsets']; out[k] = list(struct.unpack('<%df' % ((e-s)//4), b[base+s:base+e]))
    return out
import os
HERE = os.path.dirname(os.path.abspath(__file__))
T = load(os.path.join(HERE, '..', '..', 'fixtures', 'sampler', 'trajectories.safetensors'))
Ac, Bc, Au, Bu, x0 = T['A_c'], T['B_c'], T['A_u'], T['B_u'], T['x0']
def denoise(x, s):
    out = []
    for i, xv in enumerate(x):
        dc = xv - (Ac[i]*xv + Bc[i]*s)*s; du = xv - (Au[i]*xv + Bu[i]*s)*s
        out.append(du + (dc - du)*5.0)
    return out
def shift(a, t):
    if a == 1.0: return t
    return f32(f32(f32(a)*t) / f32(1.0 + f32(f32(a-1.0)*t)))
def simple_unipc(a, steps):
    table = [shift(a, f32(f32(f32(i)/1000.0)*1.0)/1.0) for i in range(1, 1001)]
    n = steps + 1; ss = 1000.0/n
    sig = [table[999 - int(x*ss)] for x in range(n)] + [0.0]
    return sig[:-2] + sig[-1:]
def lmc(s): return 0.5*math.log(1.0/(s*s + 1.0))
def m_alpha(s): return math.exp(lmc(s))
def m_std(s): return math.sqrt(1.0 - math.exp(2.0*lmc(s)))
def lam(s): l = lmc(s); return l - 0.5*math.log(1.0 - math.exp(2.0*l))
def solve(A, b):
    n = len(b); A = [r[:] for r in A]; b = b[:]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(A[r][c])); A[c], A[p] = A[p], A[c]; b[c], b[p] = b[p], b[c]
        for r in range(c+1, n):
            f = A[r][c]/A[c][c]
            for j in range(c, n): A[r][j] -= f*A[c][j]
            b[r] -= f*b[c]
    x = [0.0]*n
    for r in range(n-1, -1, -1): x[r] = (b[r] - sum(A[r][j]*x[j] for j in range(r+1, n)))/A[r][r]
    return x
def sample(noise, sigmas, variant):
    ts = list(sigmas)
    if sigmas[-1] == 0: ts[-1] = 0.001
    x = [v/math.sqrt(1.0 + ts[0]**2) for v in noise]
    def model_fn(xv, t):
        inp = [v*(t*t + 1.0)**0.5 for v in xv]; D = denoise(inp, t)
        eps = [(a - d)/t for a, d in zip(inp, D)]
        return [(a - m_std(t)*e)/m_alpha(t) for a, e in zip(xv, eps)]
    def update(x, mpl, tpl, t, order, use_corrector):
        tp0 = tpl[-1]; l0 = lam(tp0); lt = lam(t); m0 = mpl[-1]
        sp0, st = m_std(tp0), m_std(t); at = m_alpha(t); h = lt - l0
        rks, D1s = [], []
        for i in range(1, order):
            rk = (lam(tpl[-(i+1)]) - l0)/h; rks.append(rk)
            D1s.append([(a - b)/rk for a, b in zip(mpl[-(i+1)], m0)])
        rks.append(1.0)
        hh = -h; hphi1 = math.expm1(hh); Bh = hh if variant == 'bh1' else math.expm1(hh)
        hphik = math.expm1(hh)/hh - 1; fact = 1; R = []; b = []
        for i in range(1, order+1):
            R.append([r**(i-1) for r in rks]); b.append(hphik*fact/Bh); fact *= (i+1); hphik = hphik/hh - 1/fact
        if D1s: rp = [0.5] if order == 2 else solve([r[:-1] for r in R[:-1]], b[:-1])
        if use_corrector: rc = [0.5] if order == 1 else solve(R, b)
        xt_ = [st/sp0*a - at*hphi1*m for a, m in zip(x, m0)]
        pr = [sum(rp[k]*D1s[k][j] for k in range(len(D1s))) for j in range(len(x))] if D1s else [0.0]*len(x)
        xt = [a - at*Bh*p for a, p in zip(xt_, pr)]
        mt = None
        if use_corrector:
            mt = model_fn(xt, t)
            cr = [sum(rc[k]*D1s[k][j] for k in range(len(D1s))) for j in range(len(x))] if D1s else [0.0]*len(x)
            xt = [a - at*Bh*(c + rc[-1]*(m - q)) for a, c, m, q in zip(xt_, cr, mt, m0)]
        return xt, mt
    order = min(3, len(ts) - 2); steps = len(ts) - 1
    for si in range(steps):
        if si == 0:
            mpl = [model_fn(x, ts[0])]; tpl = [ts[0]]
        elif si < order:
            t = ts[si]; x, mx = update(x, mpl, tpl, t, si, True)
            if mx is None: mx = model_fn(x, t)
            mpl.append(mx); tpl.append(t)
        else:
            for step in range(si, si + 1 + (1 if si == steps - 1 else 0)):
                t = ts[step]; so = min(order, steps + 1 - step); uc = step != steps
                x, mx = update(x, mpl, tpl, t, so, uc)
                for i in range(order - 1): tpl[i] = tpl[i+1]; mpl[i] = mpl[i+1]
                tpl[-1] = t
                if step < steps:
                    if mx is None: mx = model_fn(x, t)
                    mpl[-1] = mx
    return [v/m_alpha(ts[-1]) for v in x]
def save(path, tensors):
    header, blob = {}, b''
    for k, vals in tensors.items():
        data = struct.pack('<%df' % len(vals), *vals)
        header[k] = {'dtype': 'F32', 'shape': [len(vals)], 'data_offsets': [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-(8 + len(h)) % 8)
    open(path, 'wb').write(struct.pack('<Q', len(h)) + h + blob)
out = {}
for name, var in (('uni_pc', 'bh1'), ('uni_pc_bh2', 'bh2')):
    for n in (2, 3, 10):
        sig = simple_unipc(8.0, n)
        out['%s.n%d' % (name, n)] = sample(x0, sig, var)
        out['sigmas.n%d' % n] = sig
save(os.path.join(HERE, 'comfy_unipc.safetensors'), out)
