#!/usr/bin/env python3
"""Wan2.1 VAE decode: loom vs diffusers (AutoencoderKLWan, fp32), same run, separate processes.

  python tools/bench/bench_vae.py --weights bench-weights/wan_2.1_vae_random.safetensors \
      --bench build/bin/bench_vae [--frames 17 --height 256 --width 256] [--rounds 2] [--loom f32,bf16]

The weights file (original / ComfyUI naming, from tools/make_wan_weights.py --model vae) is
renamed here to diffusers' names (spec wan.md 4.3) and loaded into AutoencoderKLWan in fp32 (the
precision diffusers recommends for this VAE, and ComfyUI's on a CPU). One random latent
[1, 16, 1 + (frames-1)/4, height/8, width/8] is decoded by each side in turn, every decode in a
fresh process (loom: bench_vae, in f32 and/or with bf16 products; diffusers: this script with
--worker), so each peak resident set belongs to one decode and its model alone, and all see the
same machine state. Prints every round, the median decode times (wall, and CPU seconds of the
process, which a busy shared machine disturbs less), the ratios, the peak RSS, and the largest
difference between each loom video and diffusers'. Run by hand; needs torch + diffusers
(/work/venv).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

# original -> diffusers prefixes (spec wan.md 4.3); decoder.upsamples.N is handled apart.
TOP_NAMES = [
    ("conv1.", "quant_conv."), ("conv2.", "post_quant_conv."),
    ("encoder.conv1.", "encoder.conv_in."), ("decoder.conv1.", "decoder.conv_in."),
    ("encoder.head.0.", "encoder.norm_out."), ("encoder.head.2.", "encoder.conv_out."),
    ("decoder.head.0.", "decoder.norm_out."), ("decoder.head.2.", "decoder.conv_out."),
    ("encoder.middle.0.", "encoder.mid_block.resnets.0."), ("encoder.middle.1.", "encoder.mid_block.attentions.0."),
    ("encoder.middle.2.", "encoder.mid_block.resnets.1."), ("decoder.middle.0.", "decoder.mid_block.resnets.0."),
    ("decoder.middle.1.", "decoder.mid_block.attentions.0."), ("decoder.middle.2.", "decoder.mid_block.resnets.1."),
]
PART_NAMES = [("residual.0.", "norm1."), ("residual.2.", "conv1."), ("residual.3.", "norm2."),
              ("residual.6.", "conv2."), ("shortcut.", "conv_shortcut.")]
UP_BLOCK_MODULES = 4   # num_res_blocks + 1 resnets, then the upsampler


def diffusers_name(name):
    head, rest = "", name
    for orig, new in TOP_NAMES:
        if rest.startswith(orig):
            head, rest = new, rest[len(orig):]
            break
    else:
        m = re.match(r"encoder\.downsamples\.(\d+)\.(.*)", name)
        if m:
            head, rest = f"encoder.down_blocks.{m[1]}.", m[2]
        m = re.match(r"decoder\.upsamples\.(\d+)\.(.*)", name)
        if m:
            block, i = divmod(int(m[1]), UP_BLOCK_MODULES)
            head = (f"decoder.up_blocks.{block}.upsamplers.0." if i == UP_BLOCK_MODULES - 1
                    else f"decoder.up_blocks.{block}.resnets.{i}.")
            rest = m[2]
    for orig, new in PART_NAMES:
        if rest.startswith(orig):
            return head + new + rest[len(orig):]
    return head + rest


def worker(args):
    """One diffusers decode in this process; prints the same lines as bench_vae."""
    import torch
    from diffusers import AutoencoderKLWan
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    with torch.device("meta"):
        vae = AutoencoderKLWan()          # the default config is Wan2.1's
    state = {diffusers_name(k): v.float() for k, v in load_file(args.weights).items()}
    vae.load_state_dict(state, strict=True, assign=True)
    vae.eval()
    print(f"load {time.perf_counter() - t0:.3f}", flush=True)
    z = load_file(args.latent)["latent"]
    t0 = time.perf_counter()
    with torch.inference_mode():
        video = vae.decode(z).sample      # clamped to [-1, 1] by diffusers
    print(f"decode {time.perf_counter() - t0:.3f}", flush=True)
    import resource
    print(f"peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}", flush=True)
    if args.out:
        save_file({"video": video.contiguous()}, args.out)


def run(cmd, env):
    """Run one decode process: its decode seconds, CPU seconds, peak RSS in MiB (from wait4)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{out}")
    vals = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    return float(vals["decode"]), ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--bench", help="path to the bench_vae binary")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--loom", default="f32,bf16", help="loom precisions to run: f32, bf16 or both")
    ap.add_argument("--no-diffusers", action="store_true", help="loom only (e.g. for 832x480x81)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--latent", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if not args.bench:
        ap.error("--bench is required")

    import torch
    from safetensors.torch import load_file, save_file

    tmp = tempfile.mkdtemp(prefix="bench_vae_")
    latent = os.path.join(tmp, "latent.safetensors")
    g = torch.Generator().manual_seed(0)
    T = 1 + (args.frames - 1) // 4
    save_file({"latent": torch.randn(1, 16, T, args.height // 8, args.width // 8, generator=g)}, latent)
    env = dict(os.environ, LOOM_THREADS=str(args.threads))
    outs = {"diffusers": os.path.join(tmp, "diffusers.safetensors")}
    cmds = {}
    for prec in args.loom.split(","):
        outs[f"loom {prec}"] = os.path.join(tmp, f"loom_{prec}.safetensors")
        cmds[f"loom {prec}"] = [args.bench, args.weights, "--latent", latent, "--out", outs[f"loom {prec}"],
                                "--threads", str(args.threads)] + (["--bf16"] if prec == "bf16" else [])
    if not args.no_diffusers:
        cmds["diffusers"] = [sys.executable, __file__, "--worker", "--weights", args.weights, "--latent", latent,
                             "--out", outs["diffusers"], "--threads", str(args.threads)]
    print(f"decode [1, 16, {T}, {args.height // 8}, {args.width // 8}] -> {1 + 4 * (T - 1)} frames of "
          f"{args.width}x{args.height}, {args.threads} threads; diffusers fp32, torch {torch.__version__}")
    res = {name: [] for name in cmds}
    for r in range(args.rounds):
        for name, cmd in cmds.items():
            res[name].append(run(cmd, env))
        print(f"round {r + 1}: " + ", ".join(f"{n} {v[-1][0]:.1f} s (cpu {v[-1][1]:.0f} s, {v[-1][2]:.0f} MiB)"
                                             for n, v in res.items()), flush=True)
    med = {n: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v), max(x[2] for x in v))
           for n, v in res.items()}
    for n, (wall, cpu, rss) in med.items():
        line = f"{n:>10}: median {wall:.1f} s wall, {cpu:.0f} s cpu, peak RSS {rss:.0f} MiB"
        if "diffusers" in med and n != "diffusers":
            d = med["diffusers"]
            a, b = load_file(outs[n])["video"], load_file(outs["diffusers"])["video"]
            line += (f"; {d[0] / wall:.2f}x faster (cpu {d[1] / cpu:.2f}x); vs diffusers max |diff| "
                     f"{(a - b).abs().max().item():.3g}, mean {(a - b).abs().mean().item():.3g}")
        print(line)
    for f in [latent, *outs.values()]:
        if os.path.exists(f):
            os.remove(f)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
