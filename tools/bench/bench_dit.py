#!/usr/bin/env python3
"""One Wan2.1 DiT sampling step (cond + uncond as a batch of 2): loom vs diffusers, same run.

  python tools/bench/bench_dit.py --weights bench-weights/wan2.1_t2v_1.3B_bf16.safetensors \
      --bench build/bin/bench_dit [--frames 4 --height 30 --width 52] [--rounds 3]

The weights file (original / ComfyUI naming, from tools/make_wan_weights.py) is renamed here to
diffusers' names (spec wan.md 2.6) and loaded into diffusers' WanTransformer3DModel in bf16 on the
CPU, with as many torch threads as loom uses. loom runs in a child process (bench_dit --serve) over
the same file; the two then take turns, one step each, so both see the same machine state. Prints
the median step of each, the speed ratio, each one's share of the bf16 peak, and memory: each
process's resident set after the steps and its peak (loom's peak includes the file pages touched
while packing the weights; they are clean, reclaimable and unmapped after loading). Run by hand; needs torch + diffusers (/work/venv).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from safetensors import safe_open
from safetensors.torch import load_file

# original -> diffusers prefixes (spec 2.6); inside blocks.N. the second table applies.
GLOBAL_NAMES = [
    ("text_embedding.0.", "condition_embedder.text_embedder.linear_1."),
    ("text_embedding.2.", "condition_embedder.text_embedder.linear_2."),
    ("time_embedding.0.", "condition_embedder.time_embedder.linear_1."),
    ("time_embedding.2.", "condition_embedder.time_embedder.linear_2."),
    ("time_projection.1.", "condition_embedder.time_proj."),
    ("head.modulation", "scale_shift_table"),
    ("head.head.", "proj_out."),
    ("patch_embedding.", "patch_embedding."),
]
BLOCK_NAMES = [
    ("self_attn.q.", "attn1.to_q."), ("self_attn.k.", "attn1.to_k."), ("self_attn.v.", "attn1.to_v."),
    ("self_attn.o.", "attn1.to_out.0."), ("self_attn.norm_q.", "attn1.norm_q."),
    ("self_attn.norm_k.", "attn1.norm_k."), ("cross_attn.q.", "attn2.to_q."), ("cross_attn.k.", "attn2.to_k."),
    ("cross_attn.v.", "attn2.to_v."), ("cross_attn.o.", "attn2.to_out.0."),
    ("cross_attn.norm_q.", "attn2.norm_q."), ("cross_attn.norm_k.", "attn2.norm_k."),
    ("norm3.", "norm2."), ("ffn.0.", "ffn.net.0.proj."), ("ffn.2.", "ffn.net.2."),
    ("modulation", "scale_shift_table"),
]
AMX_BF16_FLOP_PER_CYCLE = 1024


def diffusers_name(name):
    if name.startswith("blocks."):
        _, idx, rest = name.split(".", 2)
        table, head = BLOCK_NAMES, f"blocks.{idx}."
    else:
        table, head, rest = GLOBAL_NAMES, "", name
    for orig, new in table:
        if rest.startswith(orig):
            return head + new + rest[len(orig):]
    raise KeyError(f"no diffusers name for {name}")


def load_diffusers(path, dtype):
    from diffusers import WanTransformer3DModel

    with safe_open(path, "pt") as f:
        cfg = json.loads(f.metadata()["config"])
    config = dict(patch_size=tuple(cfg["patch_size"]), num_attention_heads=cfg["num_heads"],
                  attention_head_dim=cfg["dim"] // cfg["num_heads"], in_channels=cfg["in_dim"],
                  out_channels=cfg["out_dim"], text_dim=cfg.get("text_dim", 4096), freq_dim=cfg["freq_dim"],
                  ffn_dim=cfg["ffn_dim"], num_layers=cfg["num_layers"], cross_attn_norm=True,
                  qk_norm="rms_norm_across_heads", eps=cfg["eps"])
    with torch.device("meta"):
        model = WanTransformer3DModel(**config)
    state = {diffusers_name(k): v.to(dtype) for k, v in load_file(path).items()}
    model.load_state_dict(state, strict=True, assign=True)   # the loaded tensors become the parameters
    # Buffers built at construction (the RoPE tables) live on "meta": rebuild them on the CPU.
    with torch.device("cpu"):
        model.rope = type(model.rope)(model.rope.attention_head_dim, model.rope.patch_size, model.rope.max_seq_len)
    return model.eval(), cfg


def step_flops(cfg, batch, tokens, rows):
    d, f = cfg["dim"], cfg["ffn_dim"]
    m = batch * tokens
    per_layer = 2 * m * (6 * d * d + 2 * d * f) + batch * 4 * tokens * tokens * d + batch * 4 * tokens * rows * d
    return per_layer * cfg["num_layers"] + 2 * m * d * (cfg["in_dim"] * 4 + cfg["out_dim"] * 4)


def current_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024
    return float("nan")


def nominal_ghz():
    if os.environ.get("LOOM_BENCH_GHZ"):
        return float(os.environ["LOOM_BENCH_GHZ"])
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--bench", required=True, help="path to the bench_dit binary")
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--height", type=int, default=30)
    ap.add_argument("--width", type=int, default=52)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    env = dict(os.environ, LOOM_THREADS=str(args.threads))
    shape = ["--frames", str(args.frames), "--height", str(args.height), "--width", str(args.width)]
    loom = subprocess.Popen([args.bench, args.weights, "--serve", *shape], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    for line in loom.stdout:                 # loading happens while torch loads too
        print("  " + line.rstrip())
        if line.startswith("ready"):
            break
    else:
        sys.exit("bench_dit did not start")

    t0 = time.perf_counter()
    model, cfg = load_diffusers(args.weights, torch.bfloat16)
    print(f"diffusers: loaded in {time.perf_counter() - t0:.1f} s, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, cfg["in_dim"], args.frames, args.height, args.width, generator=g).to(torch.bfloat16)
    ctx = torch.randn(2, 512, cfg.get("text_dim", 4096), generator=g).to(torch.bfloat16)
    t = torch.tensor([937.0, 937.0])

    def torch_step():
        s = time.perf_counter()
        with torch.inference_mode():
            model(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)
        return time.perf_counter() - s

    def loom_step():
        loom.stdin.write("step\n")
        loom.stdin.flush()
        line = loom.stdout.readline()
        if not line.startswith("step"):
            sys.exit(f"bench_dit: {line!r}")
        return float(line.split()[1])

    loom_step(), torch_step()                # warm-up: page in, pack, allocate
    loom_times, torch_times = [], []
    for r in range(args.rounds):
        loom_times.append(loom_step())
        torch_times.append(torch_step())
        print(f"round {r + 1}: loom {loom_times[-1]:.3f} s, diffusers {torch_times[-1]:.3f} s")
    loom.stdin.close()
    tail = loom.stdout.read()
    loom.wait()
    def field(name):
        return next((float(l.split()[1]) for l in tail.splitlines() if l.startswith(name + " ")), float("nan"))
    loom_rss, loom_now = field("peak_rss_mb"), field("rss_mb")
    torch_now = current_rss_mb()

    tokens = args.frames * (args.height // 2) * (args.width // 2)
    flops = step_flops(cfg, 2, tokens, 512)
    peak = args.threads * AMX_BF16_FLOP_PER_CYCLE * nominal_ghz() * 1e9
    lm, tm = statistics.median(loom_times), statistics.median(torch_times)
    torch_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nWan2.1 DiT step, batch 2 (cond + uncond), {tokens} tokens per item, {flops / 1e12:.2f} TFLOP")
    print(f"  loom      median {lm:7.3f} s  {flops / lm / 1e12:5.2f} TFLOP/s  {100 * flops / lm / peak:5.1f}% of bf16 peak"
          f"  RSS {loom_now:6.0f} MB (peak {loom_rss:6.0f} MB)")
    print(f"  diffusers median {tm:7.3f} s  {flops / tm / 1e12:5.2f} TFLOP/s  {100 * flops / tm / peak:5.1f}% of bf16 peak"
          f"  RSS {torch_now:6.0f} MB (peak {torch_rss:6.0f} MB)")
    pairs = statistics.median(t / l for l, t in zip(loom_times, torch_times))
    print(f"  median of the per-round ratios: {pairs:.2f}x")
    print(f"  best steps: loom {min(loom_times):.3f} s, diffusers {min(torch_times):.3f} s "
          f"({min(torch_times) / min(loom_times):.2f}x)")
    print(f"  loom is {tm / lm:.2f}x faster by the medians (bf16 peak {peak / 1e12:.2f} TFLOP/s = {args.threads} cores x "
          f"{AMX_BF16_FLOP_PER_CYCLE} FLOP/cycle x {nominal_ghz():.2f} GHz)")


if __name__ == "__main__":
    main()
