"""Per-frame latency of the online runtime against the reference schedule, in one process.

For each points count N the same frames are pushed one by one through an OnlineTracker
(torch, onnxruntime or TensorRT executor) and each `push` is timed; the executor sits
behind a timing proxy, so the encoder and window-step calls are timed separately. Then
the reference online loop (`schedules.reference_schedule`: every window re-encodes its
window_len frames) runs on the same frames and points with the same torch weights, behind
a timing proxy of the model, and every runtime figure gets its ratio to the reference.

Steady state: the first `warmup` frames are pushed but not counted (they fill the buffer
and pay for first-call allocations); the measured frames are a whole number of window
steps, so both schedules run the same windows on them. With the published schedule a
window runs every window_step frames, so the per-frame latency is bimodal (encoder only,
or encoder + window step): p50, p95, max and mean are reported, frames/s = 1 / mean. The
reference does no work between windows and all of it on window frames; its per-frame
series holds the window's time on those frames and 0 elsewhere.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rt_edge import OnlineTracker
from rt_edge.model import CoTracker3, window_starts
from rt_edge.model.cost import count_flops

from .schedules import reference_schedule

FPS_LINE = 30.0


# ---------------------------------------------------------------------------------------- timing proxies
@dataclass
class CallLog:
    """Wall seconds of each timed call: (method, frame index or None, seconds, end time)."""

    calls: list[tuple[str, int | None, float, float]] = field(default_factory=list)

    def seconds(self, method: str, frames: range | None = None) -> list[float]:
        return [s for m, f, s, _ in self.calls if m == method and (frames is None or (f is not None and f in frames))]


class TimedExecutor:
    """Forwards everything to an executor; times encode / query_features / window_step.

    `frame` is set by the caller before each push so calls are attributed to frames;
    `sync` waits for queued device work, so a call's time is its whole work."""

    _TIMED = ("encode", "query_features", "window_step")

    def __init__(self, inner: Any, sync: Callable[[], None]):
        self._inner, self._sync, self.log, self.frame = inner, sync, CallLog(), None

    def __getattr__(self, name: str):
        attr = getattr(self._inner, name)
        if name not in self._TIMED:
            return attr

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = attr(*args, **kwargs)
            self._sync()
            t1 = time.perf_counter()
            self.log.calls.append((name, self.frame, t1 - t0, t1))
            return out

        return timed


class TimedModel:
    """A CoTracker3 seen by `reference_schedule`: times encode+pyramid, query_features and window_step.

    On a CUDA model, tensor arguments are moved to the model's device and results of
    query_features / window_step back to the CPU (the reference loop keeps its state on the
    CPU); those copies are timed apart (`transfer_s`) and left out of the reference's time."""

    def __init__(self, model: CoTracker3, sync: Callable[[], None]):
        self.model, self.cfg, self._sync, self.log = model, model.cfg, sync, CallLog()
        self.device = next(model.parameters()).device
        self.transfer_s = 0.0
        self.window_ends: list[tuple[float, float]] = []  # (end time, transfer_s so far)

    def _move(self, obj, device):
        if self.device.type == "cpu":
            return obj
        t0 = time.perf_counter()
        out = torch.utils._pytree.tree_map(lambda a: a.to(device) if isinstance(a, torch.Tensor) else a, obj)
        self._sync()
        self.transfer_s += time.perf_counter() - t0
        return out

    def _call(self, name: str, fn, args, to_cpu: bool):
        args = self._move(args, self.device)
        t0 = time.perf_counter()
        out = fn(*args)
        self._sync()
        t1 = time.perf_counter()
        self.log.calls.append((name, None, t1 - t0, t1))
        return self._move(out, torch.device("cpu")) if to_cpu else out

    def encode(self, frames):
        return self._call("encode", self.model.encode, (frames,), False)

    def pyramid(self, fmaps):
        return self._call("encode", self.model.pyramid, (fmaps,), False)

    def query_features(self, pyramid, frame_index, xy):
        return self._call("query_features", self.model.query_features, (pyramid, frame_index, xy), True)

    def window_step(self, *args):
        out = self._call("window_step", self.model.window_step, args, True)
        self.window_ends.append((time.perf_counter(), self.transfer_s))
        return out


def device_sync(executor: Any) -> Callable[[], None]:
    """A function that waits for the executor's queued device work (no-op on the CPU)."""
    dev = getattr(executor, "device", None)
    if isinstance(dev, torch.device) and dev.type == "cuda":
        return torch.cuda.synchronize
    if getattr(executor, "name", "") == "tensorrt":
        return lambda: executor.cudart.cudaStreamSynchronize(executor.stream)
    return lambda: None


# ---------------------------------------------------------------------------------------- memory
def _proc_status_kb(key: str) -> int | None:
    try:
        m = re.search(rf"^{key}:\s+(\d+) kB", open("/proc/self/status").read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


class PeakMemory:
    """Peak memory over a stretch of work.

    CUDA torch work: torch.cuda.max_memory_allocated after a reset (tensors only). Otherwise
    the process's resident set: Linux's VmHWM reset through /proc/self/clear_refs ("5") at the
    start, so each stretch gets its own peak; where that is impossible, ru_maxrss (the
    whole process's high-water mark, which cannot be reset)."""

    def __init__(self, cuda: bool):
        self.cuda = cuda and torch.cuda.is_available()
        self.method = "torch.cuda.max_memory_allocated" if self.cuda else self._cpu_method()
        self.base_mb = 0.0

    @staticmethod
    def _cpu_method() -> str:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            if _proc_status_kb("VmHWM") is not None:
                return "VmHWM (reset via /proc/self/clear_refs)"
        except OSError:
            pass
        return "ru_maxrss (process high-water mark, not resettable)"

    def start(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base_mb = torch.cuda.memory_allocated() / 2**20
        elif self.method.startswith("VmHWM"):
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.base_mb = _proc_status_kb("VmRSS") / 1024
        else:
            self.base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def stop(self) -> dict:
        if self.cuda:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**20
        elif self.method.startswith("VmHWM"):
            peak = _proc_status_kb("VmHWM") / 1024
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        return {"peak_mb": peak, "increase_mb": max(peak - self.base_mb, 0.0)}


# ---------------------------------------------------------------------------------------- statistics
def latency_stats(seconds) -> dict:
    """ms figures of a per-frame series: p50, p95, max, mean; frames/s = 1 / mean."""
    s = np.asarray(seconds, dtype=np.float64)
    mean = float(s.mean())
    return {"p50_ms": float(np.percentile(s, 50)) * 1e3, "p95_ms": float(np.percentile(s, 95)) * 1e3,
            "max_ms": float(s.max()) * 1e3, "mean_ms": mean * 1e3, "frames_per_s": 1.0 / mean if mean > 0 else None}


def _mean_ms(values) -> float | None:
    return float(np.mean(values)) * 1e3 if len(values) else None


def _ratio(ref, run) -> float | None:
    return ref / run if ref is not None and run else None


# ---------------------------------------------------------------------------------------- one points count
def check_schedule(window_len: int, window_step: int, warmup: int, frames: int, low_latency: bool) -> None:
    """ValueError unless warm-up and measured frames give both schedules the same windows."""
    if frames < 1:
        raise ValueError(f"--frames must be positive, got {frames}")
    if warmup < window_len - 1:
        raise ValueError(f"--warmup {warmup}: at least window_len - 1 = {window_len - 1} frames are needed to "
                         "fill the window buffer before the steady state")
    if not low_latency and frames % window_step:
        raise ValueError(f"--frames {frames} must be a multiple of the window step {window_step} (the published "
                         "schedule runs one window every window_step frames)")


def time_runtime(executor: Any, frames: np.ndarray, xy: np.ndarray, warmup: int, low_latency: bool,
                 memory: PeakMemory) -> dict:
    """Push frames (T, H, W, 3) through an OnlineTracker with points xy (N, 2) queried on frame 0."""
    proxy = TimedExecutor(executor, device_sync(executor))
    tracker = OnlineTracker(proxy, low_latency=low_latency, context_points=False)
    tracker.add_queries(xy, frame=0)
    lat = []
    memory.start()
    for i, frame in enumerate(frames):
        proxy.frame = i
        t0 = time.perf_counter()
        tracker.push(frame)
        lat.append(time.perf_counter() - t0)
    mem = memory.stop()
    tracker.reset()  # not flush(): the pending tail window would be untimed work
    steady = range(warmup, len(frames))
    enc, win = proxy.log.seconds("encode", steady), proxy.log.seconds("window_step", steady)
    return {
        "latency": latency_stats(lat[warmup:]), "per_frame_ms": [s * 1e3 for s in lat[warmup:]],
        "encoder_ms": _mean_ms(enc), "encoder_calls": len(enc),
        "window_step_ms": _mean_ms(win), "window_step_calls": len(win),
        "window_frames": [f for m, f, _, _ in proxy.log.calls if m == "window_step" and f in steady],
        "window_step_ms_each": [x * 1e3 for x in win],
        "query_features_ms_total": sum(proxy.log.seconds("query_features")) * 1e3,
        "memory": mem,
    }


def time_reference(model: CoTracker3, frames: np.ndarray, queries: np.ndarray, image_size, iters: int, warmup: int,
                   memory: PeakMemory) -> dict:
    """Run `reference_schedule` on the same frames; per-window times from the window-step ends."""
    cfg = model.cfg
    S, step, T = cfg.window_len, cfg.window_step, len(frames)
    proxy = TimedModel(model, torch.cuda.synchronize if next(model.parameters()).is_cuda else (lambda: None))
    memory.start()
    t0 = time.perf_counter()
    reference_schedule(proxy, frames, queries, tuple(image_size), iters)
    mem = memory.stop()
    starts = window_starts(T, S, step)
    ends = [(t0, 0.0), *proxy.window_ends]
    per_frame = np.zeros(T - warmup)
    steady_windows = []
    enc_calls = proxy.log.calls
    for k, start in enumerate(starts):
        last = start + S - 1  # padded tail windows (last >= T) have no runtime counterpart: left out
        if warmup <= last < T:
            (a, ta), (b, tb) = ends[k], ends[k + 1]
            per_frame[last - warmup] = (b - a) - (tb - ta)
            steady_windows.append(k)
    win_s = [s for m, _, s, _ in proxy.log.calls if m == "window_step"]
    # encoder calls of the steady windows: those ending after the previous window's end
    enc_s = sum(s for m, _, s, end in enc_calls if m == "encode"
                and any(ends[k][0] < end <= ends[k + 1][0] for k in steady_windows))
    measured = T - warmup
    return {
        "latency": latency_stats(per_frame), "per_frame_ms": (per_frame * 1e3).tolist(),
        "encoder_ms_per_frame": enc_s / measured * 1e3,
        "window_step_ms": _mean_ms([win_s[k] for k in steady_windows]), "window_step_calls": len(steady_windows),
        "window_ms": _mean_ms([per_frame[starts[k] + S - 1 - warmup] for k in steady_windows]),
        "host_device_copies_excluded_s": proxy.transfer_s,
        "memory": mem,
    }


def flops_per_frame(model: CoTracker3, image_size, num_points: int, iters: int, low_latency: bool) -> dict:
    """Counted FLOPs (rt_edge.model.cost) per frame of the runtime and of the reference schedule."""
    c = count_flops(model, tuple(image_size), num_points, iters)
    S, step = model.cfg.window_len, model.cfg.window_step
    run = c.encoder_per_frame + c.window_step / (1 if low_latency else step)
    ref = (S * c.encoder_per_frame + c.window_step) / step
    return {"encoder_per_frame": c.encoder_per_frame, "window_step": c.window_step,
            "runtime_per_frame": run, "reference_per_frame": ref, "ratio_vs_reference": ref / run}


def measure_points(executor: Any, model: CoTracker3, frames: np.ndarray, num_points: int, iters: int,
                   warmup: int, low_latency: bool, memory: PeakMemory, reference: bool = True, seed: int = 0) -> dict:
    """All figures for one points count: runtime, reference schedule with `model` (unless
    reference=False; `model` then only gives the configuration for counting FLOPs), ratios, FLOPs."""
    H, W = frames.shape[1:3]
    rng = np.random.default_rng(seed)
    xy = rng.uniform([0, 0], [W - 1, H - 1], size=(num_points, 2))
    run = time_runtime(executor, frames, xy, warmup, low_latency, memory)
    out = {"points": num_points, "runtime": run, "reference": None, "ratio_vs_reference": None}
    if reference:
        queries = np.concatenate([np.zeros((num_points, 1)), xy], axis=1)
        ref = time_reference(model, frames, queries, (H, W), iters, warmup, memory)
        r, f = run["latency"], ref["latency"]
        out["reference"] = ref
        out["ratio_vs_reference"] = {
            "mean": _ratio(f["mean_ms"], r["mean_ms"]), "p95": _ratio(f["p95_ms"], r["p95_ms"]),
            "max": _ratio(f["max_ms"], r["max_ms"]),
            "encoder_per_frame": _ratio(ref["encoder_ms_per_frame"], run["encoder_ms"]),
            "window_step": _ratio(ref["window_step_ms"], run["window_step_ms"]),
        }
    out["flops"] = flops_per_frame(model, (H, W), num_points, iters, low_latency)
    return out


# ---------------------------------------------------------------------------------------- environment
def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str) -> dict:
    """Machine and software versions the numbers were taken with."""
    import cv2

    env = {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu_model(),
           "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
           "numpy": np.__version__, "opencv": cv2.__version__}
    for mod in ("onnxruntime", "tensorrt"):
        try:
            env[mod] = __import__(mod).__version__
        except ImportError:
            env[mod] = None
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
        env["cuda"] = torch.version.cuda
    return env


def describe_device(env: dict, device: str) -> str:
    if device.startswith("cuda") and env.get("gpu"):
        return f"{env['gpu']} (CUDA {env.get('cuda')})"
    return f"{env['cpu']}, {env['torch_threads']} torch threads"


# ---------------------------------------------------------------------------------------- plot
def plot_results(results: list[dict], path) -> None:
    """Latency per frame (mean solid, p95 dashed) vs points on log-log axes, one colour per run,
    the reference schedule dotted, and the 30 fps line; saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    devices = []
    for i, res in enumerate(results):
        rows = sorted(res["results"], key=lambda r: r["points"])
        n = [r["points"] for r in rows]
        c = colours[i % len(colours)]
        label = f"{res['backend']} {res['schedule']}"
        ax.plot(n, [r["runtime"]["latency"]["mean_ms"] for r in rows], "o-", color=c, label=f"{label}: mean")
        ax.plot(n, [r["runtime"]["latency"]["p95_ms"] for r in rows], "o--", color=c, label=f"{label}: p95")
        ref = [r for r in rows if r.get("reference")]
        if ref:
            ax.plot([r["points"] for r in ref], [r["reference"]["latency"]["mean_ms"] for r in ref], "s:", color=c,
                    alpha=0.7, label=f"reference schedule (beside {res['backend']}): mean")
        devices.append(res.get("device_description", res.get("device", "")))
    ax.axhline(1e3 / FPS_LINE, color="k", lw=1, ls="-.", label="30 fps (33.3 ms)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = sorted({r["points"] for res in results for r in res["results"]})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("tracked points N")
    ax.set_ylabel("ms per frame")
    size = results[0].get("image_size", ["?", "?"])
    ax.set_title(f"per-frame latency, {size[0]}x{size[1]}\n" + "; ".join(dict.fromkeys(devices)), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
