#!/usr/bin/env python3
"""Write random-weight Wan2.1 models (original / ComfyUI tensor naming) as safetensors, for benchmarks.

numpy + json only. Tensors are generated and written one at a time (large ones in row chunks), so a 14B
file never needs the whole model in memory. Never commit the output.

  python tools/make_wan_weights.py --model dit  --size 1.3B --dtype bf16 --out /tmp/wan_1.3B_bf16.safetensors
  python tools/make_wan_weights.py --model vae  --out /tmp/wan_2.1_vae.safetensors
  python tools/make_wan_weights.py --model umt5 --size xxl --dtype bf16 --spiece spiece.model --out /tmp/umt5.safetensors

Init: Linear weights N(0, std^2) (std 0.02 by default), conv weights N(0, 1/fan_in), biases N(0, 0.02^2),
norm weights / gammas 1 + N(0, 0.01^2), modulation tables N(0, 0.02^2)... deterministic for a given --seed.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

DIT_SIZES = {
    #        dim,  ffn,   heads, layers, text_dim
    "tiny": (48, 80, 3, 2, 32),
    "small": (512, 1536, 4, 4, 4096),
    "1.3B": (1536, 8960, 12, 30, 4096),
    "14B": (5120, 13824, 40, 40, 4096),
}
UMT5_SIZES = {
    #       vocab,  d_model, heads, d_kv, d_ff, layers
    "tiny": (1024, 32, 4, 8, 40, 3),
    "xxl": (256384, 4096, 64, 64, 10240, 24),
}
VAE_SIZES = {"wan2.1": (96, [1, 2, 4, 4], 2), "tiny": (8, [1, 2, 2, 2], 2)}

DTYPES = {"f32": ("F32", 4), "f16": ("F16", 2), "bf16": ("BF16", 2)}


# ---- tensor lists: (name, shape, init) with init in {"linear", "conv", "bias", "norm", "table", "embed", "relbias"}

def dit_tensors(size, in_dim=16, out_dim=16, freq_dim=256):
    dim, ffn, heads, layers, text_dim = DIT_SIZES[size]
    t = [("patch_embedding.weight", [dim, in_dim, 1, 2, 2], "conv"), ("patch_embedding.bias", [dim], "bias"),
         ("text_embedding.0.weight", [dim, text_dim], "linear"), ("text_embedding.0.bias", [dim], "bias"),
         ("text_embedding.2.weight", [dim, dim], "linear"), ("text_embedding.2.bias", [dim], "bias"),
         ("time_embedding.0.weight", [dim, freq_dim], "linear"), ("time_embedding.0.bias", [dim], "bias"),
         ("time_embedding.2.weight", [dim, dim], "linear"), ("time_embedding.2.bias", [dim], "bias"),
         ("time_projection.1.weight", [6 * dim, dim], "linear"), ("time_projection.1.bias", [6 * dim], "bias")]
    for i in range(layers):
        p = f"blocks.{i}."
        t.append((p + "modulation", [1, 6, dim], "table"))
        for a in ("self_attn", "cross_attn"):
            for x in ("q", "k", "v", "o"):
                t += [(f"{p}{a}.{x}.weight", [dim, dim], "linear"), (f"{p}{a}.{x}.bias", [dim], "bias")]
            t += [(f"{p}{a}.norm_q.weight", [dim], "norm"), (f"{p}{a}.norm_k.weight", [dim], "norm")]
        t += [(p + "norm3.weight", [dim], "norm"), (p + "norm3.bias", [dim], "bias"),
              (p + "ffn.0.weight", [ffn, dim], "linear"), (p + "ffn.0.bias", [ffn], "bias"),
              (p + "ffn.2.weight", [dim, ffn], "linear"), (p + "ffn.2.bias", [dim], "bias")]
    t += [("head.modulation", [1, 2, dim], "table"), ("head.head.weight", [4 * out_dim, dim], "linear"),
          ("head.head.bias", [4 * out_dim], "bias")]
    cfg = {"model_type": "t2v", "dim": dim, "ffn_dim": ffn, "freq_dim": freq_dim, "num_heads": heads,
           "num_layers": layers, "in_dim": in_dim, "out_dim": out_dim, "text_len": 512, "text_dim": text_dim,
           "patch_size": [1, 2, 2], "window_size": [-1, -1], "qk_norm": True, "cross_attn_norm": True, "eps": 1e-06}
    return t, cfg


def umt5_tensors(size):
    vocab, d, heads, dkv, dff, layers = UMT5_SIZES[size]
    inner = heads * dkv
    t = [("shared.weight", [vocab, d], "embed")]
    for i in range(layers):
        p = f"encoder.block.{i}.layer."
        t += [(p + "0.SelfAttention.q.weight", [inner, d], "linear"),
              (p + "0.SelfAttention.k.weight", [inner, d], "linear"),
              (p + "0.SelfAttention.v.weight", [inner, d], "linear"),
              (p + "0.SelfAttention.o.weight", [d, inner], "linear"),
              (p + "0.SelfAttention.relative_attention_bias.weight", [32, heads], "relbias"),
              (p + "0.layer_norm.weight", [d], "norm"),
              (p + "1.DenseReluDense.wi_0.weight", [dff, d], "linear"),
              (p + "1.DenseReluDense.wi_1.weight", [dff, d], "linear"),
              (p + "1.DenseReluDense.wo.weight", [d, dff], "linear"),
              (p + "1.layer_norm.weight", [d], "norm")]
    t.append(("encoder.final_layer_norm.weight", [d], "norm"))
    return t


def vae_tensors(size, z_dim=16):
    dim, mult, nrb = VAE_SIZES[size]
    t = []

    def conv(name, o, i, k):
        t.extend([(name + ".weight", [o, i] + list(k), "conv"), (name + ".bias", [o], "bias")])

    def res(p, i, o):
        t.append((p + ".residual.0.gamma", [i, 1, 1, 1], "norm"))
        conv(p + ".residual.2", o, i, (3, 3, 3))
        t.append((p + ".residual.3.gamma", [o, 1, 1, 1], "norm"))
        conv(p + ".residual.6", o, o, (3, 3, 3))
        if i != o:
            conv(p + ".shortcut", o, i, (1, 1, 1))

    def attn(p, c):
        t.append((p + ".norm.gamma", [c, 1, 1], "norm"))
        conv(p + ".to_qkv", 3 * c, c, (1, 1))
        conv(p + ".proj", c, c, (1, 1))

    tdown = [False, True, True]
    dims = [dim * u for u in [1] + mult]
    conv("encoder.conv1", dims[0], 3, (3, 3, 3))
    n = 0
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        for _ in range(nrb):
            res(f"encoder.downsamples.{n}", a, b); n += 1; a = b
        if i != len(mult) - 1:
            conv(f"encoder.downsamples.{n}.resample.1", b, b, (3, 3))
            if tdown[i]:
                conv(f"encoder.downsamples.{n}.time_conv", b, b, (3, 1, 1))
            n += 1
    c = dims[-1]
    res("encoder.middle.0", c, c); attn("encoder.middle.1", c); res("encoder.middle.2", c, c)
    t.append(("encoder.head.0.gamma", [c, 1, 1, 1], "norm"))
    conv("encoder.head.2", 2 * z_dim, c, (3, 3, 3))
    conv("conv1", 2 * z_dim, 2 * z_dim, (1, 1, 1))
    conv("conv2", z_dim, z_dim, (1, 1, 1))
    dd = [dim * u for u in [mult[-1]] + mult[::-1]]
    conv("decoder.conv1", dd[0], z_dim, (3, 3, 3))
    res("decoder.middle.0", dd[0], dd[0]); attn("decoder.middle.1", dd[0]); res("decoder.middle.2", dd[0], dd[0])
    tup = tdown[::-1]
    n = 0
    for i, (a, b) in enumerate(zip(dd[:-1], dd[1:])):
        if i in (1, 2, 3):
            a = a // 2
        for _ in range(nrb + 1):
            res(f"decoder.upsamples.{n}", a, b); n += 1; a = b
        if i != len(mult) - 1:
            conv(f"decoder.upsamples.{n}.resample.1", b // 2, b, (3, 3))
            if tup[i]:
                conv(f"decoder.upsamples.{n}.time_conv", 2 * b, b, (3, 1, 1))
            n += 1
    t.append(("decoder.head.0.gamma", [dd[-1], 1, 1, 1], "norm"))
    conv("decoder.head.2", 3, dd[-1], (3, 3, 3))
    return t


# ---- writing

def to_bytes(a, dtype):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if dtype == "f32":
        return a.astype("<f4").tobytes()
    if dtype == "f16":
        return a.astype("<f2").tobytes()
    u = a.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")      # round to nearest even
    return r.tobytes()


def gen_chunks(rng, shape, init, std, chunk_elems=1 << 24):
    n = int(np.prod(shape))
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    scale = {"linear": std, "conv": 1.0 / math.sqrt(fan_in), "bias": 0.02, "norm": 0.01, "table": 0.02,
             "embed": 1.0, "relbias": 0.1}[init]
    off = 1.0 if init == "norm" else 0.0
    done = 0
    while done < n:
        m = min(chunk_elems, n - done)
        yield rng.standard_normal(m, dtype=np.float32) * np.float32(scale) + np.float32(off)
        done += m


def write_safetensors(path, tensors, dtype, seed, std, metadata=None, extra=None):
    """tensors: [(name, shape, init)]; extra: [(name, safetensors_dtype, raw_bytes, shape)] written verbatim."""
    st_dtype, esize = DTYPES[dtype]
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    off = 0
    for name, shape, _ in tensors:
        nb = int(np.prod(shape)) * esize
        header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [off, off + nb]}
        off += nb
    for name, sdt, raw, shape in extra or []:
        header[name] = {"dtype": sdt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(hb).to_bytes(8, "little"))
        f.write(hb)
        for i, (name, shape, init) in enumerate(tensors):
            rng = np.random.Generator(np.random.PCG64([seed, i]))
            for chunk in gen_chunks(rng, shape, init, std):
                f.write(to_bytes(chunk, dtype))
        for _, _, raw, _ in extra or []:
            f.write(raw)
    os.replace(tmp, path)
    return off


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=["dit", "vae", "umt5"])
    ap.add_argument("--size", default=None, help="dit: tiny|small|1.3B|14B; umt5: tiny|xxl; vae: wan2.1|tiny")
    ap.add_argument("--dtype", default="bf16", choices=list(DTYPES))
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--std", type=float, default=0.02, help="std of Linear weights")
    ap.add_argument("--spiece", default=None, help="umt5: embed this spiece.model as uint8 tensor 'spiece_model'")
    a = ap.parse_args(argv)
    meta, extra = None, None
    if a.model == "dit":
        size = a.size or "tiny"
        if size not in DIT_SIZES:
            ap.error(f"dit --size must be one of {list(DIT_SIZES)}")
        tensors, cfg = dit_tensors(size)
        meta = {"config": json.dumps(cfg, sort_keys=True)}
    elif a.model == "umt5":
        size = a.size or "tiny"
        if size not in UMT5_SIZES:
            ap.error(f"umt5 --size must be one of {list(UMT5_SIZES)}")
        tensors = umt5_tensors(size)
        if a.spiece:
            raw = open(a.spiece, "rb").read()
            extra = [("spiece_model", "U8", raw, [len(raw)])]
    else:
        size = a.size or "wan2.1"
        if size not in VAE_SIZES:
            ap.error(f"vae --size must be one of {list(VAE_SIZES)}")
        tensors = vae_tensors(size)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    nbytes = write_safetensors(a.out, tensors, a.dtype, a.seed, a.std, meta, extra)
    nparams = sum(int(np.prod(s)) for _, s, _ in tensors)
    print(f"{a.out}: {a.model} {size} {a.dtype}, {len(tensors)} tensors, {nparams} params, {nbytes} data bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
