"""The GPU session's one script for the fused corr4d kernel: build, check, time; writes corr4d_<device>.json.

    python3 -m benchmarks.gpu_corr4d [--out DIR] [--quick] [--build-dir DIR]

1. builds kernels/csrc for this device's architecture (CMake, or nvcc alone where CMake is missing);
2. runs the C++ test (every algorithm and type against a float64 host implementation);
3. compute-sanitizer memcheck and racecheck on the C++ test's quick set, when compute-sanitizer is there;
4. the CUDA op against the float64 numpy oracle of tests/kernels/test_kernels.py (fp32: rel err < 1e-5; fp16/bf16:
   < 1e-2; rel err = max |out - ref| / max |ref|), every algorithm, outputs poisoned with NaN first, points
   inside, outside and far outside the map, sub-pixel;
5. the model's window_step on CUDA with the op vs with the reference path (same outputs, end-to-end time);
6. timings: T=16 frames, 4 pyramid levels of a 384x512 input (96x128 ... 12x16), C=128, radius 3,
   N = 256, 1024, 4096, fp32 / fp16 / bf16: the fused op vs the unfused PyTorch path in the same precision
   (the model's reference: grid_sample + batched matmul, the 4D volume through memory). Each is one CUDA graph
   of the 4 levels, replayed with CUDA events around each replay, L2 flushed before each, median of the reps;
7. the floor: max(bytes any implementation must move / measured copy bandwidth, FLOPs / measured matmul rate),
   with the formulas written into the JSON;
8. pytest -m gpu tests/kernels/test_kernels.py.

Every section records its own errors and the script carries on; the summary table is printed last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from kernels.build import DEFAULT_BUILD_DIR, ENV_LIB, LIB_NAME, TEST_NAME, build, missing_tools

REPO = Path(__file__).resolve().parents[1]

LEVELS, T, C, RADIUS, IMAGE = 4, 16, 128, 3, (384, 512)
STRIDE = 4
POINTS = (256, 1024, 4096)
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TOL = {"fp32": 1e-5, "fp16": 1e-2, "bf16": 1e-2}


def _section(results: dict, name: str, fn) -> None:
    """Run one section into results[name]; an exception is recorded, not raised."""
    t0 = time.time()
    print(f"== {name}", flush=True)
    try:
        results[name] = fn()
    except Exception as e:  # noqa: BLE001 - the run must go on and report
        results[name] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
        print(f"   {name} failed: {type(e).__name__}: {e}", flush=True)
    if isinstance(results[name], dict):
        results[name]["seconds"] = round(time.time() - t0, 2)


# ------------------------------------------------------------------------------------------------ 1-3 build, tests
def do_build(build_dir: Path) -> dict:
    major, minor = torch.cuda.get_device_capability()
    arch = f"{major}{minor}"
    tool = "cmake" if not missing_tools() else "nvcc"
    out = build(build_dir, archs=arch, nvcc_fallback=True)
    os.environ[ENV_LIB] = str(out / LIB_NAME)
    return {"arch": arch, "tool": tool, "dir": str(out), "library": str(out / LIB_NAME)}


def do_cpp_test(build_dir: Path) -> dict:
    r = subprocess.run([str(build_dir / TEST_NAME)], capture_output=True, text=True, timeout=500)
    lines = r.stdout.strip().splitlines()
    return {"returncode": r.returncode, "passed": r.returncode == 0, "summary": lines[-1] if lines else "",
            "failures": [ln for ln in lines if ln.startswith("FAIL")][:20], "stderr": r.stderr[-1000:]}


def do_sanitizer(build_dir: Path) -> dict:
    exe = shutil.which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
    if not Path(exe).is_file():
        return {"available": False}
    res = {"available": True}
    for tool in ("memcheck", "racecheck"):
        try:
            r = subprocess.run([exe, "--tool", tool, "--error-exitcode", "99", str(build_dir / TEST_NAME), "quick"],
                               capture_output=True, text=True, timeout=240)
            text = r.stdout + r.stderr
            summary = [ln for ln in text.splitlines() if "ERROR SUMMARY" in ln or "RACECHECK SUMMARY" in ln]
            res[tool] = {"returncode": r.returncode, "clean": r.returncode == 0, "summary": summary[-1:] or
                         text.strip().splitlines()[-3:]}
        except subprocess.TimeoutExpired:
            res[tool] = {"clean": None, "summary": "timed out after 240 s"}
    return res


# ------------------------------------------------------------------------------------------------ 4 correctness
def _inputs(B, T_, N, C_, H, W, radius, gen):
    K = 2 * radius + 1
    fmap = torch.randn(B, T_, C_, H, W, generator=gen)
    query = torch.randn(B, N, K, K, C_, generator=gen)
    coords = torch.rand(B, T_, N, 2, generator=gen) * torch.tensor([W + 6.0, H + 6.0]) - 3.0
    coords[:, :, 0] = torch.tensor([-25.3, H + 40.7])
    return fmap, coords, query


def do_correctness() -> dict:
    from kernels.op import ALGOS, corr4d, launch
    from tests.test_kernels import oracle

    gen = torch.Generator().manual_seed(2024)
    cases = [(2, 5, 37, 128, 13, 17, 3), (1, 16, 256, 128, 24, 32, 3), (1, 3, 20, 40, 9, 11, 1),
             (1, 3, 20, 24, 1, 1, 2), (1, 4, 9, 16, 7, 6, 4), (1, 2, 5, 8, 6, 7, 5)]
    major = torch.cuda.get_device_capability()[0]
    rows, ok = [], True
    for B, T_, N, C_, H, W, r in cases:
        fmap32, coords, query32 = _inputs(B, T_, N, C_, H, W, r, gen)
        for name, dtype in DTYPES.items():
            fmap, query = fmap32.to(dtype), query32.to(dtype)
            want = oracle(fmap.float(), coords, query.float(), r)
            dev = [t.cuda() for t in (fmap, coords, query)]
            algos = ["op"] + [a for a in ALGOS if not (a == "mma" and (name == "fp32" or major < 8))
                              and not (a in ("simt", "mma") and not 1 <= r <= 4)]
            for algo in algos:
                if algo == "op":
                    out = corr4d(*dev, r)
                else:
                    out = torch.full((B, T_, N, (2 * r + 1) ** 4), float("nan"), dtype=dtype, device="cuda")
                    launch(*dev, r, out, algo=algo)
                torch.cuda.synchronize()
                got = out.double().cpu().numpy()
                finite = bool(np.isfinite(got).all())
                err_max = float(np.abs(got - want).max() / np.abs(want).max())
                err_fro = float(np.linalg.norm(got - want) / np.linalg.norm(want))
                passed = finite and err_max < TOL[name]
                ok &= passed
                rows.append({"shape": [B, T_, N, C_, H, W], "radius": r, "dtype": name, "algo": algo,
                             "rel_err_max": err_max, "rel_err_fro": err_fro, "all_written": finite, "pass": passed})
    worst = {n: max(r["rel_err_max"] for r in rows if r["dtype"] == n) for n in DTYPES}
    return {"pass": ok, "worst_rel_err_max": worst, "tolerance": TOL, "cases": rows}


# ------------------------------------------------------------------------------------------------ timing helpers
_FLUSH = None


def _flush_l2() -> None:
    global _FLUSH
    if _FLUSH is None:
        size = max(2 * torch.cuda.get_device_properties(0).L2_cache_size, 64 << 20)
        _FLUSH = torch.empty(size // 4, dtype=torch.float32, device="cuda")
    _FLUSH.add_(1.0)


def time_graph(fn, reps: int, warmup: int = 3) -> dict:
    """Median of CUDA-event-timed replays of `fn` captured as one CUDA graph, L2 flushed before each replay
    (eager timing, marked so, if the capture fails)."""
    try:
        return _time_graph(fn, reps, warmup)
    except Exception as e:  # noqa: BLE001
        torch.cuda.synchronize()
        return {**time_eager(fn, reps, warmup), "mode": "eager", "graph_error": f"{type(e).__name__}: {e}"[:300]}


def _time_graph(fn, reps: int, warmup: int) -> dict:
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    for _ in range(warmup):
        g.replay()
    times = []
    for _ in range(reps):
        _flush_l2()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    del g
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "reps": reps,
            "mode": "graph"}


def time_eager(fn, reps: int, warmup: int = 3) -> dict:
    """Median of CUDA-event-timed eager calls (launch overhead included), L2 flushed before each."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        _flush_l2()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "reps": reps,
            "mode": "eager"}


def measure_ceilings() -> dict:
    """Device-to-device copy bandwidth (bytes read + written) and dense matmul rates, measured here."""
    x = torch.empty(1 << 28, dtype=torch.float32, device="cuda")  # 1 GiB
    y = torch.empty_like(x)
    bw = time_eager(lambda x=x, y=y: y.copy_(x), reps=20)
    res = {"copy_bytes": 2 * x.numel() * 4, "copy_ms": bw["median_ms"],
           "bandwidth_gbs": 2 * x.numel() * 4 / bw["median_ms"] / 1e6}
    del x, y
    n = 8192
    prev = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # fp32 without TF32: CUDA cores, as the fp32 kernel computes
    try:
        for name, dtype in DTYPES.items():
            a = torch.randn(n, n, device="cuda").to(dtype)
            b = torch.randn(n, n, device="cuda").to(dtype)
            t = time_eager(lambda a=a, b=b: a @ b, reps=10)
            res[f"matmul_{name}_tflops"] = 2 * n**3 / t["median_ms"] / 1e9
    finally:
        torch.set_float32_matmul_precision(prev)
    return res


def floor_ms(N: int, dtype: str, ceilings: dict) -> dict:
    """The least time any implementation needs for one iteration's 4 levels (see the formula strings)."""
    elt = 2 if dtype != "fp32" else 4
    K = 2 * RADIUS + 1
    KK = K * K
    sizes = [(IMAGE[0] // STRIDE // 2**lvl, IMAGE[1] // STRIDE // 2**lvl) for lvl in range(LEVELS)]
    out_b = LEVELS * T * N * KK * KK * elt
    query_b = LEVELS * N * KK * C * elt
    coords_b = LEVELS * T * N * 2 * 4
    fmap_b = sum(min(T * C * h * w, T * N * (K + 1) ** 2 * C) for h, w in sizes) * elt
    nbytes = out_b + query_b + coords_b + fmap_b
    flops = LEVELS * T * N * (2 * KK * KK * C + 8 * KK * C)
    bw = ceilings["bandwidth_gbs"] * 1e9
    rate = ceilings[f"matmul_{dtype}_tflops"] * 1e12
    t_mem, t_flop = nbytes / bw * 1e3, flops / rate * 1e3
    return {"bytes": nbytes, "bytes_out": out_b, "flops": flops, "memory_ms": t_mem, "compute_ms": t_flop,
            "floor_ms": max(t_mem, t_flop), "bound": "memory" if t_mem >= t_flop else "compute"}


FLOOR_FORMULA = {
    "bytes": "L*T*N*K^4*e (output) + L*N*K^2*C*e (query feats) + L*T*N*2*4 (coords) + "
             "sum_l min(T*C*h_l*w_l, T*N*(K+1)^2*C)*e (each level read once, at most the (K+1)^2 patches); "
             "e = bytes per element",
    "flops": "L*T*N*(2*K^4*C (the K^2 x C by C x K^2 product) + 8*K^2*C (bilinear taps))",
    "rates": "bandwidth: 1 GiB device-to-device copy, bytes read + written; compute: 8192^3 torch matmul in the "
             "same precision (fp32 with TF32 off: CUDA cores, as the fp32 kernel); both measured here",
    "floor": "max(bytes / bandwidth, flops / rate)",
}


# ------------------------------------------------------------------------------------------------ 5 model, 6 timings
def _level_inputs(N: int, dtype: torch.dtype, gen: torch.Generator):
    H, W = IMAGE
    fmaps, coords, queries = [], [], []
    xy = torch.rand(1, T, N, 2, generator=gen) * torch.tensor([W - 1.0, H - 1.0]) / STRIDE
    for lvl in range(LEVELS):
        h, w = H // STRIDE // 2**lvl, W // STRIDE // 2**lvl
        f = torch.nn.functional.normalize(torch.randn(1, T, C, h, w, generator=gen), dim=2)
        q = torch.nn.functional.normalize(torch.randn(1, N, 7, 7, C, generator=gen), dim=-1)
        fmaps.append(f.to(dtype).cuda())
        queries.append(q.to(dtype).cuda())
        coords.append((xy / 2**lvl).cuda())
    return fmaps, coords, queries


def unfused_baseline(fmap, coords, query, offsets, scale):
    """The model's reference path (rt_edge.model.correlation.corr4d) op for op, with its two small constant
    tensors (neighbourhood offsets, pixel-to-grid scale) made once outside, so that it can be graph-captured."""
    B, T_, C_, H, W = fmap.shape
    N, K = coords.shape[2], offsets.shape[0]
    pts = coords[:, :, :, None, None, :] + offsets
    grid = (pts.reshape(B * T_, N * K, K, 2) * scale - 1.0).to(fmap.dtype)
    sampled = torch.nn.functional.grid_sample(fmap.reshape(B * T_, C_, H, W), grid, mode="bilinear",
                                              padding_mode="border", align_corners=True)
    sampled = sampled.reshape(B, T_, C_, N, K * K).permute(0, 3, 1, 4, 2).reshape(B * N, T_ * K * K, C_)
    support = query.reshape(B * N, K * K, C_).transpose(1, 2)
    return torch.bmm(sampled, support).reshape(B, N, T_, K**4).transpose(1, 2)


def do_timings(ceilings: dict, points, reps: int) -> dict:
    from kernels.op import corr4d, launch, picked_algo
    from rt_edge.model.correlation import corr4d as model_path
    from rt_edge.model.sampling import neighbourhood

    gen = torch.Generator().manual_seed(7)
    rows = []
    for N in points:
        for name, dtype in DTYPES.items():
            fmaps, coords, queries = _level_inputs(N, dtype, gen)
            args = list(zip(fmaps, coords, queries, strict=True))
            row = {"N": N, "dtype": name, "algo": picked_algo(C, RADIUS, dtype)}
            offs = neighbourhood(RADIUS, "cuda", torch.float32)
            scales = [torch.tensor([2.0 / (f.shape[-1] - 1), 2.0 / (f.shape[-2] - 1)], device="cuda") for f in fmaps]
            same = unfused_baseline(*args[0], offs, scales[0]).float() - model_path(*args[0], RADIUS).float()
            row["baseline_vs_model_path_max_diff"] = float(same.abs().max())
            del same
            row["fused"] = time_graph(lambda args=args: [corr4d(f, c, q, RADIUS) for f, c, q in args], reps)
            row["fused_eager"] = time_eager(lambda args=args: [corr4d(f, c, q, RADIUS) for f, c, q in args], reps)
            outs = [torch.empty(1, T, N, 2401, dtype=dtype, device="cuda") for _ in range(LEVELS)]
            for algo in ("simt", "mma") if name != "fp32" else ("simt",):
                def run(args=args, algo=algo, outs=outs):
                    return [launch(f, c, q, RADIUS, o, algo=algo) for (f, c, q), o in zip(args, outs, strict=True)]

                row[f"fused_{algo}"] = time_graph(run, reps)
            del outs
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            try:
                row["unfused"] = time_graph(lambda args=args, scales=scales, offs=offs: [
                    unfused_baseline(f, c, q, offs, s) for (f, c, q), s in zip(args, scales, strict=True)], reps)
                row["unfused_peak_extra_mb"] = (torch.cuda.max_memory_allocated() - base) / 2**20
            except torch.OutOfMemoryError as e:
                row["unfused"] = {"error": f"out of memory: {e}"}
            fl = floor_ms(N, name, ceilings)
            row["floor"] = fl
            t_f = row["fused"]["median_ms"]
            row["fused_over_floor"] = t_f / fl["floor_ms"]
            row["achieved_gbs"] = fl["bytes"] / t_f / 1e6
            if "median_ms" in row["unfused"]:
                row["speedup"] = row["unfused"]["median_ms"] / t_f
            rows.append(row)
            print(f"   N={N:5d} {name}: fused {t_f:.3f} ms ({row['algo']}), unfused "
                  f"{row['unfused'].get('median_ms', float('nan')):.3f} ms, floor {fl['floor_ms']:.3f} ms "
                  f"({fl['bound']})", flush=True)
            del fmaps, coords, queries, args
            torch.cuda.empty_cache()
    goal = [r for r in rows if r["N"] == 1024]
    return {"rows": rows, "goal_N1024": {r["dtype"]: {"speedup_ge_3": r.get("speedup", 0) >= 3,
                                                      "within_2x_floor": r["fused_over_floor"] <= 2} for r in goal}}


def do_model(reps: int) -> dict:
    """window_step (default config, random weights) on CUDA: op path vs reference path."""
    import rt_edge.model.cotracker3 as cotracker3
    from rt_edge.model import CoTracker3
    import kernels.op  # noqa: F401  (registers the fused kernel into rt_edge)
    import rt_edge.model.correlation as correlation
    from rt_edge.model.correlation import corr4d as reference

    torch.manual_seed(0)
    model = CoTracker3().cuda().eval()
    N, S = 256, model.cfg.window_len
    gen = torch.Generator().manual_seed(3)
    fmaps, coords, _ = _level_inputs(N, torch.float32, gen)
    pyramid = [f for f in fmaps]
    xy = coords[0] * STRIDE
    qf = torch.stack([torch.nn.functional.normalize(torch.randn(1, N, 7, 7, C, generator=gen), dim=-1)
                      for _ in range(LEVELS)], dim=2).cuda()
    vis = torch.zeros(1, S, N, device="cuda")
    res = {"N": N, "window": S, "iters": 4}
    res["fused_active"] = correlation._FUSED is not None  # window_step really runs the op
    with torch.no_grad():
        fused = model.window_step(pyramid, xy, vis, vis, qf, 4)
        with mock.patch.object(cotracker3, "corr4d_auto", reference):
            ref = model.window_step(pyramid, xy, vis, vis, qf, 4)
            res["reference_ms"] = time_eager(lambda: model.window_step(pyramid, xy, vis, vis, qf, 4), reps)
        res["fused_ms"] = time_eager(lambda: model.window_step(pyramid, xy, vis, vis, qf, 4), reps)
    res["max_abs_diff_coords_px"] = float((fused[0][-1] - ref[0][-1]).abs().max())
    res["max_abs_diff_vis_logit"] = float((fused[1][-1] - ref[1][-1]).abs().max())
    res["pass"] = res["max_abs_diff_coords_px"] < 1e-2
    res["speedup"] = res["reference_ms"]["median_ms"] / res["fused_ms"]["median_ms"]
    return res


def do_pytest() -> dict:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests/kernels/test_kernels.py"], cwd=REPO,
                       capture_output=True, text=True, timeout=500)
    tail = r.stdout.strip().splitlines()
    return {"returncode": r.returncode, "passed": r.returncode == 0, "summary": tail[-1] if tail else "",
            "output_tail": r.stdout[-2000:]}


# ------------------------------------------------------------------------------------------------ main
def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _summary(res: dict) -> str:
    lines = [f"device: {res['device']['name']} (sm_{res['device']['capability']})"]
    for key in ("build", "cpp_test", "sanitizer", "correctness", "model", "pytest_gpu"):
        r = res.get(key, {})
        if "error" in r:
            lines.append(f"{key}: ERROR {r['error']}")
        elif key == "cpp_test":
            lines.append(f"cpp_test: {'PASS' if r.get('passed') else 'FAIL'} ({r.get('summary')})")
        elif key == "sanitizer":
            lines.append("sanitizer: " + ("not available" if not r.get("available") else
                         ", ".join(f"{t} {'clean' if r[t].get('clean') else r[t].get('summary')}"
                                   for t in ("memcheck", "racecheck") if t in r)))
        elif key == "correctness":
            lines.append(f"correctness vs float64 oracle: {'PASS' if r.get('pass') else 'FAIL'} "
                         f"worst rel err {r.get('worst_rel_err_max')}")
        elif key == "model":
            lines.append(f"window_step: max |d coords| {r.get('max_abs_diff_coords_px'):.2e} px, "
                         f"{r['reference_ms']['median_ms']:.2f} -> {r['fused_ms']['median_ms']:.2f} ms")
        elif key == "pytest_gpu":
            lines.append(f"pytest -m gpu: {r.get('summary')}")
        elif key == "build":
            lines.append(f"build: sm_{r.get('arch')} with {r.get('tool')} in {r.get('seconds')} s")
    tim = res.get("timings", {})
    if "rows" in tim:
        lines.append(f"{'N':>5} {'dtype':>5} {'algo':>5} {'fused ms':>9} {'unfused ms':>10} {'speedup':>8} "
                     f"{'floor ms':>9} {'x floor':>8} {'GB/s':>7}")
        for r in tim["rows"]:
            lines.append(f"{r['N']:5d} {r['dtype']:>5} {r['algo']:>5} {r['fused']['median_ms']:9.3f} "
                         f"{r['unfused'].get('median_ms', float('nan')):10.3f} {r.get('speedup', float('nan')):8.1f} "
                         f"{r['floor']['floor_ms']:9.3f} {r['fused_over_floor']:8.2f} {r['achieved_gbs']:7.0f}")
    elif "error" in tim:
        lines.append(f"timings: ERROR {tim['error']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from rt_edge.subcommands import standalone

    from .cli_gpu_corr4d import add_arguments

    return standalone("python -m benchmarks.gpu_corr4d", __doc__.splitlines()[0], add_arguments, run, argv)


def run(args: argparse.Namespace) -> int:
    if not torch.cuda.is_available():
        raise ValueError("no CUDA device (this benchmark is for the GPU machine)")
    props = torch.cuda.get_device_properties(0)
    res: dict = {
        "device": {"name": props.name, "capability": "".join(map(str, torch.cuda.get_device_capability())),
                   "sms": props.multi_processor_count, "memory_gb": props.total_memory / 2**30,
                   "l2_mb": props.L2_cache_size / 2**20},
        "software": {"torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "problem": {"frames": T, "levels": LEVELS, "channels": C, "radius": RADIUS, "image": list(IMAGE),
                    "level_sizes": [[IMAGE[0] // STRIDE // 2**lvl, IMAGE[1] // STRIDE // 2**lvl]
                                    for lvl in range(LEVELS)], "points": list(POINTS)},
        "method": "CUDA graph of the 4 levels (one iteration), CUDA events around each replay, L2 flushed before "
                  "each, median; unfused = rt_edge.model.correlation.corr4d (grid_sample + bmm) in the same dtype",
        "floor_formula": FLOOR_FORMULA,
    }
    try:
        res["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                           text=True).stdout.strip() or None
    except OSError:
        res["git_commit"] = None
    build_dir = Path(args.build_dir)
    reps = 10 if args.quick else args.reps
    _section(res, "build", lambda: do_build(build_dir))
    if "error" not in res["build"]:
        _section(res, "cpp_test", lambda: do_cpp_test(build_dir))
        _section(res, "sanitizer", lambda: do_sanitizer(build_dir))
        _section(res, "correctness", do_correctness)
        _section(res, "model", lambda: do_model(reps))
        _section(res, "ceilings", measure_ceilings)
        if "error" not in res["ceilings"]:
            _section(res, "timings", lambda: do_timings(res["ceilings"], (1024,) if args.quick else POINTS, reps))
        _section(res, "pytest_gpu", do_pytest)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"corr4d_{_slug(props.name)}.json"
    path.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {path}")
    print(_summary(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
