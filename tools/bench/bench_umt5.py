#!/usr/bin/env python3
"""umT5 encoder, one prompt of 512 tokens: loom vs transformers on the same weights file, same run.

  python tools/bench/bench_umt5.py --weights bench-weights/umt5_xxl_bf16.safetensors \
      --bench build/bin/bench_umt5 [--tokens 512] [--rounds 3]

Make the weights with tools/make_wan_weights.py --model umt5 --size xxl --dtype bf16 (11.4 GB; never
commit them). With --parity-layers N it instead checks numbers at full width on the first N layers
(written next to the weights as a slice file): loom with bf16 AMX products and with f32 products
(LOOM_BACKEND=openblas) against torch fp32, beside torch bf16 against torch fp32. Deeper stacks of
random weights are chaotic (T5 does not scale q.k, so every softmax saturates), which makes the
full-depth difference of any two bf16 implementations meaningless. loom runs first in a child process (bench_umt5) and exits; then transformers'
UMT5EncoderModel loads the same file in bf16 (config from the tensor shapes) with as many torch
threads as loom uses, and encodes the same ids. The two cannot be resident together in 24 GiB
(each holds ~11-15 GB), so they take turns rather than interleave. Prints the median forward of
each, the ratio, each one's peak memory, and how far loom's hidden state is from transformers'
(both in bf16 products, so ~1e-2 relative is expected). Run by hand; needs torch + transformers.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from safetensors.torch import load_file


def loom_ids(n, seed, vocab):
    """The ids bench_umt5.c makes: xorshift64 from seed, 1000 + (x >> 33) % (vocab - 1000)."""
    x = seed or 88172645463325252
    mask = (1 << 64) - 1
    out = []
    for _ in range(n):
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
        out.append(1000 + (x >> 33) % (vocab - 1000))
    return out


def transformers_model(path):
    from transformers import UMT5Config, UMT5EncoderModel
    sd = load_file(path)
    sd.pop("spiece_model", None)
    vocab, d = sd["shared.weight"].shape
    buckets, heads = sd["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].shape
    inner = sd["encoder.block.0.layer.0.SelfAttention.q.weight"].shape[0]
    d_ff = sd["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"].shape[0]
    layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("encoder.block."))
    cfg = UMT5Config(vocab_size=vocab, d_model=d, d_kv=inner // heads, d_ff=d_ff, num_layers=layers,
                     num_heads=heads, relative_attention_num_buckets=buckets, relative_attention_max_distance=128,
                     feed_forward_proj="gated-gelu", is_encoder_decoder=False, tie_word_embeddings=False)
    with torch.device("meta"):
        model = UMT5EncoderModel(cfg)
    sd["encoder.embed_tokens.weight"] = sd["shared.weight"]
    model.load_state_dict(sd, assign=True, strict=False)
    return model.to(torch.bfloat16).eval(), vocab


def parity(a):
    """Relative L2 differences on an N-layer slice of the weights (see the module doc)."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    sliced = a.weights.replace(".safetensors", f".{a.parity_layers}layers.safetensors")
    with safe_open(a.weights, "pt") as f:
        keep = {k: f.get_tensor(k) for k in f.keys()
                if k != "spiece_model" and not (k.startswith("encoder.block.") and int(k.split(".")[2]) >= a.parity_layers)}
    save_file(keep, sliced)
    del keep
    out = tempfile.NamedTemporaryFile(suffix=".f32", delete=False).name
    loom = {}
    for backend in ("auto", "openblas"):
        env = dict(os.environ, LOOM_BACKEND=backend)
        proc = subprocess.run([a.bench, sliced, "--tokens", str(a.tokens), "--rounds", "1", "--out", out],
                              capture_output=True, text=True, check=True, env=env)
        d = json.loads(proc.stdout.strip().splitlines()[-1])["d_model"]
        loom[backend] = np.fromfile(out, dtype=np.float32).reshape(a.tokens, d)
    os.unlink(out)
    torch.set_num_threads(a.threads)
    model, vocab = transformers_model(sliced)
    ids = torch.tensor([loom_ids(a.tokens, 1, vocab)])
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        bf16 = model(input_ids=ids, attention_mask=mask).last_hidden_state[0].float().numpy()
        fp32 = model.float()(input_ids=ids, attention_mask=mask).last_hidden_state[0].numpy()
    os.unlink(sliced)
    rel = lambda x, y: np.linalg.norm(x - y) / np.linalg.norm(y)
    print(f"{a.parity_layers} layers at full width, {a.tokens} tokens, relative L2 vs torch fp32: "
          f"loom bf16 products {rel(loom['auto'], fp32):.2e}, loom f32 products {rel(loom['openblas'], fp32):.2e}, "
          f"torch bf16 {rel(bf16, fp32):.2e}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--bench", default="build/bin/bench_umt5")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("LOOM_THREADS", os.cpu_count())))
    ap.add_argument("--parity-layers", type=int, default=0, help="check numbers on the first N layers instead")
    a = ap.parse_args()
    if a.parity_layers:
        return parity(a)

    out = tempfile.NamedTemporaryFile(suffix=".f32", delete=False).name
    t0 = time.time()
    proc = subprocess.run([a.bench, a.weights, "--tokens", str(a.tokens), "--rounds", str(a.rounds),
                           "--out", out], capture_output=True, text=True, check=True)
    loom = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"loom: {loom['backend']}; load {loom['load_s']:.1f} s, forwards {loom['forward_s']}, "
          f"peak RSS {loom['peak_rss_gb']:.1f} GB (packed weights {loom['packed_gb']:.1f} GB) "
          f"[{time.time() - t0:.0f} s wall]")
    loom_hidden = np.fromfile(out, dtype=np.float32).reshape(a.tokens, loom["d_model"])
    os.unlink(out)

    torch.set_num_threads(a.threads)
    t0 = time.time()
    model, vocab = transformers_model(a.weights)
    load_s = time.time() - t0
    ids = torch.tensor([loom_ids(a.tokens, 1, vocab)])
    mask = torch.ones_like(ids)
    times = []
    with torch.inference_mode():
        for _ in range(a.rounds):
            t0 = time.time()
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state[0].float().numpy()
            times.append(time.time() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)
    print(f"transformers {__import__('transformers').__version__} / torch {torch.__version__}, {a.threads} threads, "
          f"bf16: load {load_s:.1f} s, forwards {[round(t, 3) for t in times]}, peak RSS {rss:.1f} GB")

    ml, mt = statistics.median(loom["forward_s"]), statistics.median(times)
    rel = np.linalg.norm(loom_hidden - hidden) / np.linalg.norm(hidden)
    print(f"median forward, {a.tokens} tokens: loom {ml:.2f} s, transformers {mt:.2f} s -> "
          f"loom is {mt / ml:.2f}x transformers' speed")
    print(f"loom vs transformers hidden state: relative L2 difference {rel:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
