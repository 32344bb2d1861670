"""torch CPU probe: the default model's encoder and one window step in float32 and under bfloat16 autocast, N=100.

    python -m benchmarks.cpu_bf16 OUT.json

The public API allows bf16 only on CUDA; this sets the executor's autocast dtype directly to see what the CPU's
AMX-BF16 gives. onnxruntime has no x86 bf16 kernels, so this is the only BF16 figure on this CPU."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import torch

from rt_edge.backends.torch_backend import TorchExecutor
from rt_edge.model import load_checkpoint
from rt_edge.default_model import WEIGHTS


def main() -> None:
    torch.set_num_threads(2)
    model = load_checkpoint(WEIGHTS)
    ex = TorchExecutor(model, (384, 384), iters=6)
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 255, (384, 384, 3)).astype(np.float32)
    S, N = 16, 100
    pyr = ex.encode(img)
    frames = [pyr] * S
    xy = rng.uniform(20, 360, (N, 2)).astype(np.float32)
    q = ex.query_features(pyr, xy)
    coords = np.repeat(xy[None], S, 0); vis = np.zeros((S, N), np.float32); conf = vis.copy(); active = np.ones(N, bool)
    def timeit(f, n):
        f(); t = time.perf_counter()
        for _ in range(n): f()
        return (time.perf_counter() - t) / n * 1e3
    res = {}
    for name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        ex.amp_dtype = dt  # the executor's autocast dtype; the public API allows bf16 only on CUDA
        enc = timeit(lambda: ex.encode(img), 5)
        win = timeit(lambda: ex.window_step(frames, coords, vis, conf, q, active), 2)
        out = ex.window_step(frames, coords, vis, conf, q, active)[0]
        res[name] = {"encoder_ms": enc, "window_step_ms": win, "coords": out}
        print(name, f"encoder {enc:.1f} ms, window_step {win:.1f} ms")
    d = np.abs(np.asarray(res["bfloat16"]["coords"]) - np.asarray(res["float32"]["coords"]))
    out = {"command": "python -m benchmarks.cpu_bf16 " + " ".join(sys.argv[1:]),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
           "machine": "2-core Intel Xeon (AVX-512 BF16, AMX-BF16), torch " + torch.__version__, "points": N, "image_size": [384, 384],
           "results": {k: {kk: vv for kk, vv in v.items() if kk != "coords"} for k, v in res.items()},
           "bf16_vs_fp32_window_coords_px": {"mean": float(d.mean()), "max": float(d.max())}}
    json.dump(out, open(sys.argv[1], "w"), indent=2) if len(sys.argv) > 1 else None
    print(out["bf16_vs_fp32_window_coords_px"])


if __name__ == "__main__":
    main()
