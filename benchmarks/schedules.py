"""Per-frame cost of the online runtime against the reference online schedule, in one process.

The reference online predictor re-encodes all window_len frames of every window (each
frame twice at step = window_len / 2) and samples query features from each window's
chunk; `reference_schedule` reproduces that with the project's model pieces so both are
timed with the same kernels, threads and weights.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from rt_edge import OnlineTracker, Tracks
from rt_edge.backends import load_executor
from rt_edge.image import pixel_scale, resize_aligned
from rt_edge.model import CoTracker3, window_starts

from .replay import MirrorExecutor, summarize


@torch.no_grad()
def reference_schedule(model: CoTracker3, frames: np.ndarray, queries: np.ndarray, image_size, iters: int = 6):
    """Track with the reference's loop: every window re-encodes its frames. -> coords (T, N, 2) caller px."""
    cfg = model.cfg
    S, step = cfg.window_len, cfg.window_step
    T, H, W = frames.shape[:3]
    scale = pixel_scale((H, W), image_size)
    q_t = torch.from_numpy(queries[:, 0].astype(np.int64))[None]
    q_xy = torch.from_numpy((queries[:, 1:] * scale).astype(np.float32))[None]
    N = q_xy.shape[1]
    video = [torch.from_numpy(resize_aligned(f, image_size)).permute(2, 0, 1) for f in frames]
    out = q_xy[:, None].expand(1, T, N, 2).clone()
    vis_out, conf_out = torch.zeros(1, T, N), torch.zeros(1, T, N)
    qfeat = torch.zeros(1, N, cfg.corr_levels, cfg.corr_window, cfg.corr_window, cfg.latent_dim)
    for ind in window_starts(T, S, step):
        idx = [min(f, T - 1) for f in range(ind, ind + S)]
        pyramid = model.pyramid(model.encode(torch.stack([video[i] for i in idx])[None].float()))
        new = (q_t >= (0 if ind == 0 else ind + step)) & (q_t < ind + S)  # queries first seen in this chunk
        if new.any():
            rel = (q_t - ind).clamp(0, S - 1)
            qfeat = torch.where(new[..., None, None, None, None], model.query_features(pyramid, rel, q_xy), qfeat)
        coords0, vis0, conf0 = q_xy[:, None].expand(1, S, N, 2), torch.zeros(1, S, N), torch.zeros(1, S, N)
        if ind > 0:
            src = torch.arange(ind, ind + S).clamp(max=ind + S - step - 1)
            carry = (q_t < ind + S - step)[:, None]
            coords0 = torch.where(carry[..., None], out[:, src], coords0)
            vis0 = torch.where(carry, vis_out[:, src], vis0)
            conf0 = torch.where(carry, conf_out[:, src], conf0)
        active = (q_t < ind + S).float()[..., None, None, None, None]
        c, v, f = model.window_step(pyramid, coords0, vis0, conf0, qfeat * active, iters)
        n = min(S, T - ind)
        part = slice(ind, ind + n)
        out[:, part], vis_out[:, part], conf_out[:, part] = c[-1][:, :n], v[-1][:, :n], f[-1][:, :n]
    return (out[0].numpy() / scale).astype(np.float32)


def runtime_track(tracker: OnlineTracker, frames: np.ndarray, queries: np.ndarray) -> Tracks:
    ids = np.empty(len(queries), np.int64)
    for t in np.unique(queries[:, 0]).astype(int):
        sel = queries[:, 0] == t
        ids[sel] = tracker.add_queries(queries[sel, 1:], frame=int(t))
    parts = [tracker.push(f) for f in frames] + [tracker.flush()]
    res = Tracks.concat(parts)
    return res, np.searchsorted(res.ids, ids)


def replay_export(model: CoTracker3, onnx_dir: str, frames: np.ndarray, queries: np.ndarray, image_size,
                  iters: int = 6) -> dict:
    """The torch runtime tracks the clip; onnxruntime replays each of its graph calls on the same inputs
    (benchmarks.replay). -> the largest per-call gaps."""
    primary = load_executor(model, "torch", image_size=image_size, iters=iters)
    mirror = MirrorExecutor(primary, load_executor(onnx_dir, "onnxruntime"))
    runtime_track(OnlineTracker(mirror, context_points=False), frames, queries)
    return summarize(mirror.gaps, pixel_scale(frames.shape[1:3], image_size))


def _visible_max(diff: np.ndarray, seen: np.ndarray) -> float:
    """Largest |diff| (px) over the samples the runtime reports visible: the disagreement a
    controller acting only on visible points sees. Occluded points carry no image evidence and
    small numeric differences between backends can grow there over windows (README)."""
    return float(np.abs(diff)[seen].max()) if seen.any() else float("nan")


def _disagreement(name: str, a: np.ndarray, b: np.ndarray, defined: np.ndarray, seen: np.ndarray) -> dict:
    """a, b: (T, N, 2) px. Max, p99 and visible-only max of the per-sample largest coordinate gap."""
    d = np.abs(a - b).max(-1)  # (T, N)
    return {f"{name}_max_px": float(d[defined].max()), f"{name}_p99_px": float(np.percentile(d[defined], 99)),
            f"{name}_visible_max_px": _visible_max(d, seen)}


def compare(model: CoTracker3, frames: np.ndarray, queries: np.ndarray, image_size, iters: int = 6,
            low_latency: bool = True, onnx_dir: str | None = None) -> dict:
    """Seconds per frame of the runtime (published and, optionally, low-latency schedule; torch and,
    given an export directory, onnxruntime) and of the reference schedule, measured back to back,
    with their disagreements in px; given an export, also onnxruntime replaying the torch runtime's
    graph calls (untimed)."""
    T = len(frames)
    runs = {}
    configs = [("runtime", False, model, "torch")]
    if low_latency:
        configs.append(("low_latency", True, model, "torch"))
    if onnx_dir:
        configs.append(("onnxruntime", False, onnx_dir, "onnxruntime"))
    for name, ll, src, backend in configs:
        tracker = OnlineTracker.load(src, backend=backend, image_size=image_size, iters=iters, context_points=False,
                                     low_latency=ll)
        t0 = time.perf_counter()
        res, cols = runtime_track(tracker, frames, queries)
        runs[name] = (time.perf_counter() - t0, res.xy[:, cols], res.visible[:, cols])
    t0 = time.perf_counter()
    ref = reference_schedule(model, frames, queries, image_size, iters)
    t_ref = time.perf_counter() - t0
    defined = ~np.isnan(runs["runtime"][1][..., 0])
    seen = defined & runs["runtime"][2]  # (T, N) samples the torch runtime reports visible
    out = {
        "frames": T, "points": len(queries), "image_size": list(image_size), "iters": iters,
        "threads": torch.get_num_threads(),
        "reference_s_per_frame": t_ref / T,
        "runtime_s_per_frame": runs["runtime"][0] / T,
        "speedup_vs_reference": t_ref / runs["runtime"][0],
        **_disagreement("runtime_vs_reference", runs["runtime"][1], ref, defined, seen),
        "windows_per_frame": 1 / model.cfg.window_step,
    }
    if onnx_dir:
        out.update({
            "onnxruntime_s_per_frame": runs["onnxruntime"][0] / T,
            "onnxruntime_speedup_vs_reference": t_ref / runs["onnxruntime"][0],
            **_disagreement("onnxruntime_vs_torch", runs["onnxruntime"][1], runs["runtime"][1], defined, seen),
            "onnxruntime_replay": replay_export(model, onnx_dir, frames, queries, image_size, iters),
        })
    if low_latency:
        d = np.abs(runs["low_latency"][1] - runs["runtime"][1])[defined]
        out.update({
            "low_latency_s_per_frame": runs["low_latency"][0] / T,
            "low_latency_windows_per_frame": 1.0,
            "low_latency_vs_published_px": {"mean": float(d.mean()), "median": float(np.median(d)),
                                            "p95": float(np.percentile(d, 95)), "max": float(d.max())},
        })
    return out
