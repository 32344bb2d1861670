"""Forward-backward cycle consistency: a tracker's accuracy proxy on real clips without ground truth.

Each query point on frame 0 is tracked forward to the last frame; its end position is then tracked
through the time-reversed clip back to frame 0. A perfect tracker returns to where it started, so
the distance between the returned position and the query (the cycle error, px) bounds how badly the
two legs disagree. It is a proxy, not an accuracy: a tracker that sticks to the background or drifts
the same way on both legs can score well, and one error can hide another. Points the tracker itself
marked occluded in some frame of either leg are counted apart (`visible_throughout`).

numpy + OpenCV only (no torch at import): trackers are rt_edge.evaluation.trackers Predictors.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from rt_edge.evaluation.trackers import Predictor

THRESHOLDS_PX = (1, 2, 4, 8)


def _check_prediction(tracks: np.ndarray, occluded: np.ndarray, n: int, T: int, leg: str
                      ) -> tuple[np.ndarray, np.ndarray]:
    tracks, occluded = np.asarray(tracks, np.float64), np.asarray(occluded, bool)
    if tracks.shape != (n, T, 2) or occluded.shape != (n, T):
        raise ValueError(f"{leg} leg: predictor must return tracks (N, T, 2) = {(n, T, 2)} and occluded (N, T) = "
                         f"{(n, T)}, got {tracks.shape} and {occluded.shape}")
    if not np.isfinite(tracks).all():
        raise ValueError(f"{leg} leg: predicted tracks must be finite in every frame")
    return tracks, occluded


def cycle_errors(predictor: Predictor, video: np.ndarray, queries: np.ndarray) -> dict[str, np.ndarray]:
    """Track queries on frame 0 forward to the last frame, then from there back through the reversed clip.

    video: (T, H, W, 3) uint8, T >= 2; queries: (N, 3) rows (t, x, y) px with t = 0, or (N, 2) rows (x, y).
    Returns per-point arrays: `errors` (N,) px between the returned frame-0 position and the query;
    `visible_throughout` (N,) bool, visible in every frame of both legs; `end` (N, 2) the forward leg's
    last-frame position; `returned` (N, 2); `end_inside` (N,) bool, end within [0, W-1] x [0, H-1].
    The backward leg starts from `end` clamped into the frame (trackers refuse queries outside it), so a
    point the forward leg carried out of the frame returns from the nearest border pixel.
    """
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or len(video) < 2:
        raise ValueError(f"video must be (T, H, W, 3) uint8 with T >= 2, got {video.shape} {video.dtype}")
    q = np.asarray(queries, np.float64)
    if q.ndim == 2 and q.shape[1] == 2:
        q = np.concatenate([np.zeros((len(q), 1)), q], axis=1)
    if q.ndim != 2 or q.shape[1] != 3 or len(q) == 0:
        raise ValueError(f"queries must be (N, 3) rows (t, x, y) or (N, 2) rows (x, y), N >= 1, got {q.shape}")
    if not np.isfinite(q).all() or (q[:, 0] != 0).any():
        raise ValueError("queries must be finite and on frame 0 (t = 0)")
    T, H, W = video.shape[:3]
    n = len(q)
    fwd, fwd_occ = _check_prediction(*predictor(video, q), n, T, "forward")
    end = fwd[:, -1]
    reversed_video = np.ascontiguousarray(video[::-1])  # its frame 0 is the clip's last frame
    q_back = np.concatenate([np.zeros((n, 1)), np.clip(end, 0, [W - 1, H - 1])], axis=1)
    bwd, bwd_occ = _check_prediction(*predictor(reversed_video, q_back), n, T, "backward")
    returned = bwd[:, -1]  # the reversed clip's last frame is the clip's frame 0
    return dict(
        errors=np.linalg.norm(returned - q[:, 1:], axis=1),
        visible_throughout=~fwd_occ.any(axis=1) & ~bwd_occ.any(axis=1),
        end=end, returned=returned,
        end_inside=(end[:, 0] >= 0) & (end[:, 0] <= W - 1) & (end[:, 1] >= 0) & (end[:, 1] <= H - 1),
    )


def summarize(errors: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float | int | None]:
    """Statistics of the errors (N,) px where mask (N,) bool is set (all when None).

    Keys: count, median, mean (None when count is 0), under_{1,2,4,8}px: fraction strictly below.
    """
    errors = np.asarray(errors, np.float64)
    if errors.ndim != 1:
        raise ValueError(f"errors must be (N,), got {errors.shape}")
    if mask is not None:
        mask = np.asarray(mask, bool)
        if mask.shape != errors.shape:
            raise ValueError(f"mask must be {errors.shape} like errors, got {mask.shape}")
        errors = errors[mask]
    out: dict[str, float | int | None] = {"count": int(errors.size)}
    empty = errors.size == 0
    out["median"] = None if empty else float(np.median(errors))
    out["mean"] = None if empty else float(np.mean(errors))
    for k in THRESHOLDS_PX:
        out[f"under_{k}px"] = None if empty else float(np.mean(errors < k))
    return out


def grid_queries(hw: tuple[int, int], n: int, margin: float) -> np.ndarray:
    """n*n queries (row-major) on frame 0, evenly spaced over [margin, W-1-margin] x [margin, H-1-margin].

    Returns (n*n, 3) rows (0, x, y) px; n = 1 gives the centre. (rt_edge.context.grid_points fixes its
    margin at W/64; here the margin is the caller's, to keep the cycle's points away from the border.)
    """
    H, W = hw
    if n < 1:
        raise ValueError(f"grid side must be >= 1, got {n}")
    if margin < 0 or 2 * margin >= min(H, W) - 1:
        raise ValueError(f"margin must be in [0, {(min(H, W) - 1) / 2:g}) px for a {H}x{W} frame, got {margin}")
    if n == 1:
        xs, ys = np.array([(W - 1) / 2]), np.array([(H - 1) / 2])
    else:
        xs, ys = np.linspace(margin, W - 1 - margin, n), np.linspace(margin, H - 1 - margin, n)
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    return np.stack([np.zeros(gx.size), gx.ravel(), gy.ravel()], axis=1)


def load_clip(path: str | Path, frames: int, size: tuple[int, int]) -> np.ndarray:
    """The first `frames` frames of a video resized to size (H, W) with INTER_AREA -> (T, H, W, 3) uint8.

    A shorter video gives all its frames; fewer than 2 is an error (no cycle to close).
    """
    from rt_edge.video import read_frames

    H, W = size
    if H < 1 or W < 1:
        raise ValueError(f"size must be positive (H, W), got {tuple(size)}")
    video = read_frames(path, max_frames=frames)
    if len(video) < 2:
        raise ValueError(f"need at least 2 frames for a cycle, {path} has {len(video)}")
    return np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA) for f in video])


def _report(per_point: dict[str, np.ndarray]) -> dict:
    """Summaries of concatenated per-point results: all points, visible-only, and the shares."""
    errors, visible = per_point["errors"], per_point["visible_throughout"]
    return dict(all=summarize(errors), visible=summarize(errors, visible), visible_share=float(visible.mean()),
                end_inside_share=float(per_point["end_inside"].mean()))


def evaluate(predictors: dict[str, Predictor], videos: Sequence[str | Path], frames: int = 24,
             size: tuple[int, int] = (256, 256), grid: int = 8, margin: float = 16.0,
             progress: bool = False) -> dict[str, dict]:
    """Cycle errors of each predictor on a grid of frame-0 queries of each video.

    Returns {tracker: {"overall": report, "per_video": {video name: report + frames, seconds}}}, a report
    being {all, visible: summarize(...), visible_share, end_inside_share}; "overall" pools every point
    of every video. progress: a tqdm bar on stderr over (video, tracker) runs.
    """
    if not predictors:
        raise ValueError("need at least one predictor")
    paths = [Path(v) for v in videos]
    if not paths:
        raise ValueError("no videos given")
    names = [p.name for p in paths]
    names = [str(p) if names.count(p.name) > 1 else p.name for p in paths]  # unique keys
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(paths) * len(predictors), desc="cycle", unit="run")
    pooled: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in predictors}
    result: dict[str, dict] = {name: {"per_video": {}} for name in predictors}
    for path, video_name in zip(paths, names, strict=True):
        clip = load_clip(path, frames, size)
        queries = grid_queries(clip.shape[1:3], grid, margin)
        for name, predict in predictors.items():
            if bar is not None:
                bar.set_postfix_str(f"{video_name} {name}")
            start = time.perf_counter()
            per_point = cycle_errors(predict, clip, queries)
            seconds = time.perf_counter() - start
            pooled[name].append(per_point)
            result[name]["per_video"][video_name] = dict(_report(per_point), frames=len(clip),
                                                         seconds=round(seconds, 3))
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    for name, parts in pooled.items():
        result[name]["overall"] = _report({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    return result
