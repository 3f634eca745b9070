#!/usr/bin/env python3
"""bench_torch.py: the PyTorch side of loom-bench-ops (a coprocess, one command per line).

loom-bench-ops starts this script and alternates with it (loom, PyTorch, loom, PyTorch ...)
so both sides see the same machine state; it reports the median of per-pair ratios. The
protocol is line based on stdin/stdout:

  ready <torch version>          first line when torch imports (else: notorch <reason>)
  threads <n>                -> ok            torch.set_num_threads(n), OpenBLAS too
  linear <f32|bf16> M K N    -> ok            F.linear(x[M,K], w[N,K])
  attn <f32|bf16> Sq Sk H D  -> ok            softmax(q k^T / sqrt(D)) v, per head
  sdpa <f32|bf16> Sq Sk H D  -> ok            the same through F.scaled_dot_product_attention
                                              (PyTorch's fused CPU flash kernel, what diffusers calls)
  run <reps> [cpu]           -> <seconds per call, mean of reps>  (cpu: thread CPU time)
  quit

Run by hand to check the environment: `python3 bench_torch.py` then type `quit`.
"""
import ctypes
import sys
import time


def set_blas_threads(n):
    """torch.set_num_threads does not reach OpenBLAS (Debian's torch does its f32 GEMMs
    there): set every loaded OpenBLAS to n threads too, so '1 thread' means one."""
    seen = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in path and ".so" in path and path not in seen:
                    seen.add(path)
                    try:
                        ctypes.CDLL(path).openblas_set_num_threads(n)
                    except (OSError, AttributeError):
                        pass
    except OSError:
        pass


def main():
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # no torch: the benchmark skips its ratio columns
        print("notorch %s" % str(e).replace("\n", " "), flush=True)
        return
    torch.manual_seed(0)
    print("ready %s" % torch.__version__, flush=True)
    fn = None
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        cmd = w[0]
        if cmd == "quit":
            break
        if cmd == "threads":
            torch.set_num_threads(int(w[1]))
            torch.mm(torch.ones(8, 8), torch.ones(8, 8))   # load the BLAS, then limit it
            set_blas_threads(int(w[1]))
            print("ok", flush=True)
        elif cmd == "linear":
            dt = torch.bfloat16 if w[1] == "bf16" else torch.float32
            M, K, N = int(w[2]), int(w[3]), int(w[4])
            x = torch.randn(M, K).to(dt)
            wt = (torch.randn(N, K) / K ** 0.5).to(dt)

            def fn(x=x, wt=wt):
                return F.linear(x, wt)
            print("ok", flush=True)
        elif cmd in ("attn", "sdpa"):
            dt = torch.bfloat16 if w[1] == "bf16" else torch.float32
            Sq, Sk, H, D = int(w[2]), int(w[3]), int(w[4]), int(w[5])
            q = torch.randn(1, H, Sq, D).to(dt)
            k = torch.randn(1, H, Sk, D).to(dt)
            v = torch.randn(1, H, Sk, D).to(dt)
            scale = 1.0 / D ** 0.5

            if cmd == "sdpa":
                def fn(q=q, k=k, v=v):
                    return F.scaled_dot_product_attention(q, k, v)
            else:
                def fn(q=q, k=k, v=v, scale=scale):
                    return torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * scale, dim=-1).matmul(v)
            print("ok", flush=True)
        elif cmd == "run":
            reps = int(w[1])
            clock = time.thread_time if len(w) > 2 and w[2] == "cpu" else time.perf_counter
            with torch.no_grad():
                t = clock()
                for _ in range(reps):
                    fn()
                t = clock() - t
            print("%.9f" % (t / reps), flush=True)
        else:
            print("error unknown command %s" % cmd, flush=True)


if __name__ == "__main__":
    main()
