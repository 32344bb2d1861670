"""OnlineTracker: frame-at-a-time tracking with bounded state.

State is O(window_len x points) whatever the stream's length: a ring buffer of the last
window_len frames' pyramids (each frame encoded once), each live point's support
features (sampled once, when its frame is in the buffer), and the last window's
coords/vis/conf, from which the next window is initialised.

Three schedules (SCHEDULES):
- "published": a window of window_len frames runs every `step` frames, once its last frame has
  arrived; its first `step` frames are then final (the papers' online schedule, exact).
- "window-per-frame" (low_latency=True): the most recent window runs at every frame and that
  frame is returned at once, with the same initialisation rules (the window step is 1).
- "stream": every push refines the newest `stream_refine` frames (the model's frame_step) over the
  window ending at the new frame; the other frames' values are held in a ring (coords/vis/conf
  here, their correlation embeddings in the executor's arrays); frame t is returned by push(t).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends import Executor, choose_backend, load_executor
from .context import ContextConfig, grid_points, local_grid
from .default_model import default_checkpoint
from .image import check_frame, pixel_scale, resize_aligned
from .tracks import VISIBILITY_THRESHOLD, Tracks

USER, GLOBAL, LOCAL = "user", "global", "local"
SCHEDULES = ("published", "stream", "window-per-frame")
# visible when visibility * confidence > this, by schedule: the published online predictor's rule, except
# for stream, whose newest frame (no later frames seen) is less confident: its threshold was chosen on the
# calibration clips, not the held-out ones (docs/streaming.md)
VISIBILITY_THRESHOLDS = {"published": VISIBILITY_THRESHOLD, "stream": 0.4, "window-per-frame": VISIBILITY_THRESHOLD}
# the stream schedule starts a tracked point's new frame where its last two final frames point
# ("velocity") or at its last final position ("last"); chosen by measurement (docs/streaming.md)
STREAM_INITS = ("velocity", "last")


@dataclass
class _Point:
    id: int
    frame: int  # query frame
    xy: np.ndarray  # (2,) model pixels
    kind: str
    parent: int | None = None  # the user point a local grid belongs to
    feats: Any = None  # (1, L, k, k, C) once sampled
    caller_xy: np.ndarray | None = None  # (2,) as given, until the frame size is known


@dataclass
class _Window:
    start: int
    end: int  # one past the last real (not padded) frame
    ids: np.ndarray  # (N,)
    coords: np.ndarray  # (S, N, 2) model pixels
    vis: np.ndarray  # (S, N) logits
    conf: np.ndarray  # (S, N) logits


@dataclass
class _History:
    """Stream schedule: the last window_len - 1 frames of the points tracked then (the newest
    stream_refine - 1 of them are refined again by the next push)."""

    ids: np.ndarray  # (N,)
    coords: np.ndarray  # (S-1, N, 2) model pixels
    vis: np.ndarray  # (S-1, N) logits
    conf: np.ndarray  # (S-1, N) logits
    corr: Any  # (S-1, N, L * corr_dim) correlation embeddings at those positions, in the executor's arrays


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def configure_stream(executor: Executor, iters: int | None = None, refine: int | None = None) -> None:
    """Run the stream schedule's frame_step with `iters` iterations over the newest `refine` frames (the
    torch executor; an export fixes both at export time). None keeps the executor's value."""
    for name, value in (("stream_iters", iters), ("stream_refine", refine)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
        if name == "stream_refine" and value >= executor.cfg.window_len:
            raise ValueError(f"stream_refine must be below the window length {executor.cfg.window_len}, got {value}")
        have = getattr(executor, name, None)
        if executor.name != "torch" and have != value:
            raise ValueError(f"this {executor.name} export runs frame_step with {name}={have}, not {value}; "
                             f"re-export with python -m export onnx --{name.replace('_', '-')} {value}")
        setattr(executor, name, value)


def _resolve_schedule(schedule: str, low_latency: bool) -> str:
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if low_latency:
        if schedule not in ("published", "window-per-frame"):
            raise ValueError(f"low_latency=True is the window-per-frame schedule; it contradicts schedule={schedule!r}")
        return "window-per-frame"
    return schedule


class OnlineTracker:
    """Streaming point tracker. Push RGB frames; get tracks of the frames that became final."""

    def __init__(self, executor: Executor, low_latency: bool = False, context_points: bool | ContextConfig = True,
                 visibility_threshold: float | None = None, schedule: str = "published",
                 stream_init: str = "velocity"):
        self.schedule = _resolve_schedule(schedule, low_latency)
        if visibility_threshold is None:
            visibility_threshold = VISIBILITY_THRESHOLDS[self.schedule]
        if not 0.0 <= visibility_threshold <= 1.0:
            raise ValueError(f"visibility_threshold must be in [0, 1], got {visibility_threshold}")
        if stream_init not in STREAM_INITS:
            raise ValueError(f"stream_init must be one of {STREAM_INITS}, got {stream_init!r}")
        if self.schedule == "stream" and getattr(executor, "stream_iters", None) is None:
            raise ValueError(f"the {executor.name} executor has no frame_step graph; the stream schedule needs one "
                             "(re-export with this version: python -m export onnx ...)")
        self.stream_init = stream_init
        self.executor = executor
        self.cfg = executor.cfg
        self.image_size = executor.image_size
        self.low_latency = self.schedule == "window-per-frame"
        self.context = (ContextConfig() if context_points is True else context_points) or None
        self.visibility_threshold = visibility_threshold
        self.window_len = self.cfg.window_len
        self.step = self.cfg.window_step if self.schedule == "published" else 1
        self._points: dict[int, _Point] = {}
        self._next_user_id = 0
        self._next_context_id = -1
        self.reset()

    @classmethod
    def load(cls, src: Any = None, backend: str = "auto", device: str = "cpu", image_size=None,
             low_latency: bool = False, iters: int = 6, context_points: bool = True,
             visibility_threshold: float | None = None, dtype: str = "float32",
             providers=None, schedule: str = "published", stream_iters: int | None = None,
             stream_refine: int | None = None) -> "OnlineTracker":
        """Build a tracker from a checkpoint path / state dict (torch backend) or an exported model
        directory (onnxruntime backend, `providers` as onnxruntime takes them); None: the package's
        default model. backend "auto" (see `rt_edge.backends.choose_backend`): onnxruntime for an export
        and for the default model where its shipped export fits the arguments, else torch; the executor's
        `name` says which ran. schedule: one of SCHEDULES (low_latency=True is "window-per-frame").
        stream_iters, stream_refine: the stream schedule's iterations per push and frames refined per push
        (None: the config's; an export's are fixed)."""
        backend, _ = choose_backend(src, backend, image_size=image_size, iters=iters, stream_iters=stream_iters,
                                    stream_refine=stream_refine, device=device)
        if src is None:
            src = default_checkpoint(backend)
        executor = load_executor(src, backend=backend, device=device, image_size=image_size, iters=iters, dtype=dtype,
                                 providers=providers)
        configure_stream(executor, stream_iters, stream_refine)
        return cls(executor, low_latency=low_latency, context_points=context_points,
                   visibility_threshold=visibility_threshold, schedule=schedule)

    # ------------------------------------------------------------------ stream state
    def reset(self) -> None:
        """Forget the stream (frames, points, window state); the next push is frame 0."""
        self._buffer: deque[tuple[int, Any]] = deque(maxlen=self.window_len)
        self._frame_hw: tuple[int, int] | None = None
        self._scale: np.ndarray | None = None  # caller -> model pixels (sx, sy)
        self._next_frame = 0
        self._next_window = 0  # start of the next published window
        self._emitted = 0  # frames before this have been returned
        self._window: _Window | None = None
        self._history: _History | None = None
        self._last_global_refresh: int | None = None
        self._points.clear()
        self._qcache: tuple[tuple[int, ...], Any] | None = None

    @property
    def frames_seen(self) -> int:
        return self._next_frame

    @property
    def num_points(self) -> int:
        """User points being tracked (context points not counted)."""
        return sum(p.kind == USER for p in self._points.values())

    def state_size(self) -> dict[str, int]:
        """Sizes of everything the tracker holds (for checking that memory stays bounded)."""
        w, h = self._window, self._history
        return {
            "buffered_frames": len(self._buffer),
            "points": len(self._points),
            "window_values": 0 if w is None else w.coords.size + w.vis.size + w.conf.size,
            "history_values": 0 if h is None else h.coords.size + h.vis.size + h.conf.size + int(np.prod(h.corr.shape)),
        }

    # ------------------------------------------------------------------ queries
    def add_queries(self, xy, frame: int | None = None) -> np.ndarray:
        """Start tracking points xy (K, 2) given in the caller's frame pixels, queried at `frame`
        (None: the next frame pushed; a frame still in the buffer or a future one). Returns ids (K,)."""
        xy = np.asarray(xy, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"xy must have shape (K, 2), got {xy.shape}")
        if not np.isfinite(xy).all():
            raise ValueError("xy contains NaN or inf")
        t = self._next_frame if frame is None else frame
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise ValueError(f"frame must be an int frame index or None, got {frame!r}")
        t = int(t)
        oldest = self._buffer[0][0] if self._buffer else self._next_frame
        if t < oldest:
            raise ValueError(f"frame {t} has left the buffer; the oldest frame still held is {oldest}")
        if self._frame_hw is not None:
            self._check_inside(xy)
        ids = []
        for row in xy:
            pid = self._next_user_id
            self._next_user_id += 1
            p = _Point(pid, t, np.zeros(2, np.float32), USER, caller_xy=row.copy())
            if self._scale is not None:
                p.xy = (row * self._scale).astype(np.float32)
            self._points[pid] = p
            ids.append(pid)
        self._sample_points([self._points[i] for i in ids])
        self._update_local_grids()
        self._qcache = None
        limit = getattr(self.executor, "max_points", None)
        if limit is not None and self._points_in_next_window() > limit:
            need = self._points_in_next_window()
            self.remove_queries(ids)
            raise ValueError(f"{len(ids)} more points would make {need} (user + context) in a window, above this "
                             f"export's --max-points {limit}; re-export with a larger --max-points")
        return np.asarray(ids, dtype=np.int64)

    def _points_in_next_window(self) -> int:
        n = len(self._points)
        if self.context is not None and not any(p.kind == GLOBAL for p in self._points.values()):
            n += self.context.global_grid**2
        return n

    def remove_queries(self, ids) -> None:
        """Stop tracking these user points (and their local context grids) from the next window on."""
        ids = [int(i) for i in np.atleast_1d(np.asarray(ids))]
        unknown = [i for i in ids if i not in self._points or self._points[i].kind != USER]
        if unknown:
            raise ValueError(f"unknown point ids: {unknown}")
        gone = set(ids)
        for pid in [pid for pid, p in self._points.items() if pid in gone or p.parent in gone]:
            del self._points[pid]
        self._update_local_grids()
        self._qcache = None

    def _check_inside(self, xy: np.ndarray) -> None:
        H, W = self._frame_hw
        out = (xy[:, 0] < 0) | (xy[:, 0] > W - 1) | (xy[:, 1] < 0) | (xy[:, 1] > H - 1)
        if out.any():
            x, y = xy[np.argmax(out)]
            raise ValueError(f"query point ({x:g}, {y:g}) is outside the {W}x{H} frame")

    def _new_context(self, kind: str, frame: int, xy: np.ndarray, parent: int | None = None) -> None:
        new = []
        for row in xy:
            pid = self._next_context_id
            self._next_context_id -= 1
            new.append(_Point(pid, frame, row.astype(np.float32), kind, parent=parent))
            self._points[pid] = new[-1]
        self._sample_points(new)

    def _update_local_grids(self) -> None:
        if self.context is None or self.context.local_grid <= 0 or self._scale is None:
            return
        users = [p for p in self._points.values() if p.kind == USER]
        if len(users) > self.context.local_max_queries:
            for pid in [pid for pid, p in self._points.items() if p.kind == LOCAL]:
                del self._points[pid]
            return
        have = {p.parent for p in self._points.values() if p.kind == LOCAL}
        oldest = self._buffer[0][0] if self._buffer else 0
        for u in users:
            # a grid needs the query's frame: skip points whose frame has left the buffer
            if u.id not in have and u.frame >= oldest:
                self._new_context(LOCAL, u.frame, local_grid(self.context, u.xy, self.image_size), parent=u.id)

    def _refresh_global_grid(self, start: int) -> None:
        """Re-seed the global grid on the window's first frame, at most once per `step` frames."""
        if self.context is None or self.context.global_grid <= 0:
            return
        if self._last_global_refresh is not None and start - self._last_global_refresh < self.cfg.window_step:
            return
        for pid in [pid for pid, p in self._points.items() if p.kind == GLOBAL]:
            del self._points[pid]
        self._new_context(GLOBAL, start, grid_points(self.context.global_grid, self.image_size))
        self._last_global_refresh = start
        self._qcache = None

    def _sample_points(self, points: list[_Point]) -> None:
        """Support features of the points whose query frame is buffered and that have none yet: one executor
        call per frame (each point is sampled on its own, so batching changes no value)."""
        if self._scale is None or not points:
            return
        frames = dict(self._buffer)
        by_frame: dict[int, list[_Point]] = {}
        for p in points:
            if p.feats is None and p.frame in frames:
                by_frame.setdefault(p.frame, []).append(p)
        for t, group in by_frame.items():
            feats = self.executor.query_features(frames[t], np.stack([p.xy for p in group]))
            for i, p in enumerate(group):
                p.feats = feats[i:i + 1]
            self._qcache = None

    # ------------------------------------------------------------------ frames
    def push(self, frame: np.ndarray) -> Tracks:
        """Add the next camera frame (H, W, 3) uint8 RGB; returns the tracks that became final."""
        check_frame(frame, self._frame_hw)
        if self._frame_hw is None:
            self._start_stream(frame.shape[:2])
        t = self._next_frame
        self._buffer.append((t, self.executor.encode(resize_aligned(frame, self.image_size))))
        self._next_frame += 1
        self._sample_points([p for p in self._points.values() if p.frame == t])
        if self.schedule == "stream":
            return self._stream_step(t)
        if self.low_latency:
            self._run_window(max(0, t - self.window_len + 1))
            return self._emit(t, t)
        if t == self._next_window + self.window_len - 1:
            start = self._next_window
            self._run_window(start)
            self._next_window += self.step
            return self._emit(start, start + self.step - 1)
        return self._empty()

    def flush(self) -> Tracks:
        """End of stream: run what is pending and return the frames not returned yet; then reset."""
        last = self._next_frame - 1
        out = self._empty()
        if self._emitted <= last:  # never in the stream schedule: push(t) returned frame t
            w = self._window
            if w is None or last >= w.end:
                self._run_window(self._next_window if w is not None else 0)
            out = self._emit(self._emitted, last)
        self.reset()
        return out

    def _start_stream(self, hw: tuple[int, int]) -> None:
        self._frame_hw = (int(hw[0]), int(hw[1]))
        self._scale = pixel_scale(self._frame_hw, self.image_size)
        pending = [p for p in self._points.values() if p.kind == USER and p.caller_xy is not None]
        bad = []
        for p in pending:
            try:
                self._check_inside(p.caller_xy[None])
                p.xy = (p.caller_xy * self._scale).astype(np.float32)
            except ValueError:
                bad.append(p.id)
        for pid in bad:
            del self._points[pid]
        self._update_local_grids()
        if bad:
            raise ValueError(f"query points {bad} lie outside the {hw[1]}x{hw[0]} frame and were dropped")

    def _query_features(self, points: list[_Point]) -> Any:
        key = tuple(p.id for p in points) + tuple(p.feats is not None for p in points)
        if self._qcache is None or self._qcache[0] != key:
            zero = self.executor.zero_queries(1)
            parts = [p.feats if p.feats is not None else zero for p in points]
            self._qcache = (key, self.executor.concat_queries(parts))
        return self._qcache[1]

    def _window_start(self, points) -> tuple[list, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """points in window order (user points first, then context, by id) -> (points, ids (N,), coords
        (S, N, 2) at their query positions, vis and conf (S, N) zero logits): a window's state before what is known."""
        points = sorted(points, key=lambda p: (p.kind != USER, abs(p.id)))
        S, N = self.window_len, len(points)
        ids = np.array([p.id for p in points], dtype=np.int64)
        coords = np.broadcast_to(np.array([p.xy for p in points], np.float32).reshape(1, N, 2), (S, N, 2)).copy()
        return points, ids, coords, np.zeros((S, N), np.float32), np.zeros((S, N), np.float32)

    def _run_window(self, start: int) -> None:
        S = self.window_len
        self._refresh_global_grid(start)
        frames = dict(self._buffer)
        end = min(start + S, self._next_frame)
        window_frames = [frames[min(f, end - 1)] for f in range(start, start + S)]
        points, ids, coords, vis, conf = self._window_start(self._points.values())
        N = len(points)
        prev = self._window
        if prev is not None and N:
            col = {pid: j for j, pid in enumerate(prev.ids)}
            src = np.minimum(np.arange(start, start + S), prev.end - 1) - prev.start
            for j, p in enumerate(points):
                if p.frame < prev.end and p.id in col:
                    coords[:, j] = prev.coords[src, col[p.id]]
                    vis[:, j] = prev.vis[src, col[p.id]]
                    conf[:, j] = prev.conf[src, col[p.id]]
        if N:
            active = np.array([p.feats is not None for p in points])
            coords, vis, conf = self.executor.window_step(
                window_frames, coords, vis, conf, self._query_features(points), active
            )
        self._window = _Window(start, end, ids, coords, vis, conf)

    def _stream_step(self, t: int) -> Tracks:
        """Refine the newest stream_refine frames, frame t last, over the held history (frame_step); return frame t."""
        self._refresh_global_grid(t)
        points, ids, coords, vis, conf = self._window_start(p for p in self._points.values() if p.feats is not None)
        N = len(points)
        h = self._history
        cols = np.full(N, -1, np.int64)
        if h is not None and N:
            if np.array_equal(h.ids, ids):  # the usual push: the same points as the last one
                cols = np.arange(N, dtype=np.int64)
            else:
                col = {int(pid): j for j, pid in enumerate(h.ids)}
                cols = np.array([col.get(int(pid), -1) for pid in ids], np.int64)
            known = cols >= 0
            src = cols[known]
            coords[:-1, known], vis[:-1, known], conf[:-1, known] = h.coords[:, src], h.vis[:, src], h.conf[:, src]
            last = h.coords[-1, src]
            coords[-1, known] = 2 * last - h.coords[-2, src] if self.stream_init == "velocity" else last
            vis[-1, known], conf[-1, known] = h.vis[-1, src], h.conf[-1, src]
        if not N:
            self._history = None
            return self._frame_tracks(t, ids, np.empty((0, 2), np.float32), np.empty(0), np.empty(0))
        R = self.executor.stream_refine
        zone = [f for _, f in list(self._buffer)[-R:]]
        zone = [zone[0]] * (R - len(zone)) + zone  # the stream's first frames: frame 0 stands in
        c, v, f, corr = self.executor.frame_step(zone, None if h is None else h.corr, cols, coords, vis, conf,
                                                 self._query_features(points))  # c (R, N, 2), v / f (R, N)
        coords[-R:], vis[-R:], conf[-R:] = c, v, f
        fresh = cols < 0  # their earlier rows become this frame's final state (frame_step does so for corr)
        coords[:, fresh], vis[:, fresh], conf[:, fresh] = c[-1, fresh], v[-1, fresh], f[-1, fresh]
        self._history = _History(ids, coords[1:], vis[1:], conf[1:], corr)
        return self._frame_tracks(t, ids, c[-1], v[-1], f[-1])

    def _frame_tracks(self, t: int, ids: np.ndarray, coords: np.ndarray, vis: np.ndarray, conf: np.ndarray) -> Tracks:
        """Frame t of every user point in caller pixels: ids (N,) with coords (N, 2) model pixels and
        vis / conf (N,) logits of the points tracked on it; user points queried later are NaN there."""
        users = np.array(sorted(p.id for p in self._points.values() if p.kind == USER), np.int64)
        xy = np.full((1, len(users), 2), np.nan, np.float32)
        vis_p = np.zeros((1, len(users)), np.float32)
        conf_p = np.zeros((1, len(users)), np.float32)
        row = {int(pid): j for j, pid in enumerate(ids)}
        have = [(k, row[int(pid)]) for k, pid in enumerate(users) if int(pid) in row]
        if have:
            k, j = (np.array(v) for v in zip(*have))
            xy[0, k] = coords[j] / self._scale
            vis_p[0, k] = _sigmoid(vis[j])
            conf_p[0, k] = _sigmoid(conf[j])
        self._emitted = t + 1
        return Tracks(np.array([t]), users, xy, vis_p * conf_p > self.visibility_threshold, vis_p, conf_p)

    def _empty(self) -> Tracks:
        return Tracks.empty(np.array(sorted(p.id for p in self._points.values() if p.kind == USER), np.int64))

    def _emit(self, first: int, last: int) -> Tracks:
        """Tracks of frames first..last from the current window's outputs, in caller pixels."""
        w = self._window
        user = [j for j, pid in enumerate(w.ids) if pid >= 0 and pid in self._points]
        ids = w.ids[user]
        rows = np.arange(first, last + 1) - w.start
        q_t = np.array([self._points[int(pid)].frame for pid in ids], dtype=np.int64)
        before = np.arange(first, last + 1)[:, None] < q_t[None, :]
        xy = (w.coords[rows][:, user] / self._scale).astype(np.float32)
        vis = _sigmoid(w.vis[rows][:, user]).astype(np.float32)
        conf = _sigmoid(w.conf[rows][:, user]).astype(np.float32)
        xy[before] = np.nan
        vis[before] = 0.0
        conf[before] = 0.0
        self._emitted = last + 1
        return Tracks(np.arange(first, last + 1), ids, xy, vis * conf > self.visibility_threshold, vis, conf)
