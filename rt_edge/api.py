"""Whole-clip tracking with one call: `track_video`."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .context import ContextConfig, grid_points, local_grid
from .image import pixel_scale, resize_aligned
from .session import OnlineTracker
from .tracks import VISIBILITY_THRESHOLD, Tracks

MODES = ("online", "offline")


def _as_video(video: Any) -> np.ndarray:
    if isinstance(video, (str, bytes)) or hasattr(video, "__fspath__"):
        from .video import read_frames

        video = read_frames(video)
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or len(video) == 0:
        raise ValueError(f"video must be (T, H, W, 3) uint8 RGB with T >= 1, got {video.shape} {video.dtype}")
    return video


def _as_queries(queries: Any, grid_size: int | None, hw: tuple[int, int], T: int) -> np.ndarray:
    if queries is None:
        if not grid_size:
            raise ValueError("give queries (N, 3) rows (t, x, y) or grid_size")
        H, W = hw
        xy = grid_points(int(grid_size), (H, W))
        return np.concatenate([np.zeros((len(xy), 1), np.float32), xy], axis=1)
    q = np.asarray(queries, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 3 or len(q) == 0:
        raise ValueError(f"queries must be (N, 3) rows (t, x, y), got shape {q.shape}")
    if not np.isfinite(q).all():
        raise ValueError("queries contain NaN or inf")
    t = q[:, 0]
    if (t < 0).any() or (t > T - 1).any() or (t != np.round(t)).any():
        bad = t[(t < 0) | (t > T - 1) | (t != np.round(t))][0]
        raise ValueError(f"query frame {bad:g} is not a frame index of this {T}-frame video")
    return q


def track_video(video: Any, queries: Any = None, grid_size: int | None = None, mode: str = "online",
                backward: bool = False, checkpoint: Any = None, backend: str = "auto", device: str = "cpu",
                image_size=None, iters: int = 6, context_points: bool = True, low_latency: bool = False,
                visibility_threshold: float | None = None,
                progress: Callable[[int, int], None] | None = None, schedule: str = "published",
                stream_iters: int | None = None, stream_refine: int | None = None) -> Tracks:
    """Track points through a whole clip.

    video: (T, H, W, 3) uint8 RGB or a path; queries (N, 3) rows (t, x, y) in video pixels,
    or grid_size for a grid on frame 0. mode "online" runs the streaming runtime (the
    published sliding windows); "offline" runs one window over the clip (use an offline
    checkpoint). schedule (online): "published", "stream" or "window-per-frame" (see
    OnlineTracker); stream_iters, stream_refine: the stream schedule's iterations and refined frames
    per push (torch; None: the config's). backward=True also tracks each point before its query frame, on the
    reversed clip. Returns Tracks for all T frames, ids 0..N-1 in query order.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    frames = _as_video(video)
    T, H, W = frames.shape[:3]
    q = _as_queries(queries, grid_size, (H, W), T)
    run = _online if mode == "online" else _offline
    kw = dict(checkpoint=checkpoint, backend=backend, device=device, image_size=image_size, iters=iters,
              context_points=context_points, low_latency=low_latency, visibility_threshold=visibility_threshold,
              schedule=schedule, stream_iters=stream_iters, stream_refine=stream_refine)
    fwd = run(frames, q, progress=progress, **kw)
    if not backward:
        return fwd
    rq = q.copy()
    rq[:, 0] = T - 1 - q[:, 0]
    bwd = run(frames[::-1], rq, progress=progress, **kw)
    before = np.arange(T)[:, None] < q[None, :, 0]
    out = {k: getattr(fwd, k).copy() for k in ("xy", "visible", "visibility", "confidence")}
    for k in out:
        src = getattr(bwd, k)[::-1]
        out[k][before] = src[before]
    return Tracks(fwd.frames, fwd.ids, out["xy"], out["visible"], out["visibility"], out["confidence"])


def _online(frames: np.ndarray, q: np.ndarray, checkpoint, backend, device, image_size, iters, context_points,
            low_latency, visibility_threshold, progress, schedule, stream_iters, stream_refine) -> Tracks:
    tracker = OnlineTracker.load(checkpoint, backend=backend, device=device, image_size=image_size,
                                 low_latency=low_latency, iters=iters, context_points=context_points,
                                 visibility_threshold=visibility_threshold, schedule=schedule,
                                 stream_iters=stream_iters, stream_refine=stream_refine)
    ids = np.empty(len(q), np.int64)
    for t in np.unique(q[:, 0]).astype(int):
        sel = q[:, 0] == t
        ids[sel] = tracker.add_queries(q[sel, 1:], frame=int(t))
    parts = []
    for i, frame in enumerate(frames):
        parts.append(tracker.push(frame))
        if progress:
            progress(i + 1, len(frames))
    parts.append(tracker.flush())
    res = Tracks.concat(parts)
    cols = np.searchsorted(res.ids, ids)
    return Tracks(res.frames, np.arange(len(q)), res.xy[:, cols], res.visible[:, cols],
                  res.visibility[:, cols], res.confidence[:, cols])


def _offline(frames: np.ndarray, q: np.ndarray, checkpoint, backend, device, image_size, iters, context_points,
             low_latency, visibility_threshold, progress, schedule, stream_iters, stream_refine) -> Tracks:
    if schedule != "published" or low_latency:
        raise ValueError(f"offline mode runs one window over the clip; schedule={schedule!r} is for mode='online'")
    if backend not in ("torch", "auto"):
        raise ValueError(f"offline mode runs on the torch backend only, got backend={backend!r}")
    if checkpoint is None:
        raise ValueError("offline mode needs an offline CoTracker3 checkpoint (the default weights are an online model)")
    import torch

    from .backends import check_image_size
    from .model import CoTracker3, load_checkpoint

    model = checkpoint if isinstance(checkpoint, CoTracker3) else load_checkpoint(checkpoint)
    model = model.eval().to(device)
    size = check_image_size(image_size, model.cfg)
    T, H, W = frames.shape[:3]
    scale = pixel_scale((H, W), size)
    xy = (q[:, 1:] * scale).astype(np.float32)
    t = q[:, :1].astype(np.float32)
    ctx = ContextConfig() if context_points is True else (context_points or None)
    extra = []
    if ctx is not None and ctx.global_grid > 0:
        g = grid_points(ctx.global_grid, size)
        extra.append(np.concatenate([np.zeros((len(g), 1), np.float32), g], axis=1))
    if ctx is not None and ctx.local_grid > 0 and len(q) <= ctx.local_max_queries:
        for ti, p in zip(t, xy):
            g = local_grid(ctx, p, size)
            extra.append(np.concatenate([np.full((len(g), 1), ti[0], np.float32), g], axis=1))
    allq = np.concatenate([np.concatenate([t, xy], axis=1), *extra], axis=0)
    video = torch.from_numpy(np.stack([resize_aligned(f, size) for f in frames])).permute(0, 3, 1, 2)[None]
    with torch.no_grad():
        coords, vis, conf = model.track(video.to(device), torch.from_numpy(allq)[None].to(device), iters=iters,
                                        mode="offline")
    if progress:
        progress(T, T)
    N = len(q)
    coords = coords[0, :, :N].cpu().numpy() / scale
    vis = vis[0, :, :N].cpu().numpy()
    conf = conf[0, :, :N].cpu().numpy()
    before = np.arange(T)[:, None] < q[None, :, 0]  # undefined before the query, as online
    coords[before], vis[before], conf[before] = np.nan, 0.0, 0.0
    threshold = VISIBILITY_THRESHOLD if visibility_threshold is None else visibility_threshold
    return Tracks(np.arange(T), np.arange(N), coords.astype(np.float32), vis * conf > threshold,
                  vis.astype(np.float32), conf.astype(np.float32))
