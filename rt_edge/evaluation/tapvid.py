"""TAP-Vid metrics with the benchmark's conventions (numpy only).

Inputs are on the benchmark's 256x256 raster: query points (B, N, 3) as (t, y, x), tracks
(B, N, T, 2) as (x, y), occlusion flags (B, N, T) True where the point is hidden. Each metric
is returned per video, shape (B,); a benchmark's score is the mean over its videos.

Which frames count: never the query frame itself (it is given); with query_mode "first" only the
frames after it (the point is known to appear first there), with "strided" every other frame.
"""

from __future__ import annotations

import numpy as np

RASTER = 256  # the benchmark's raster (H = W): coordinates are rescaled to it before scoring
THRESHOLDS = (1, 2, 4, 8, 16)  # px on the 256x256 raster
QUERY_MODES = ("first", "strided")
SUMMARY = ("average_jaccard", "average_pts_within_thresh", "occlusion_accuracy")
WITHIN = tuple(f"pts_within_{k}" for k in THRESHOLDS)  # share of visible points within k px: where a gap is


def evaluation_mask(query_frames: np.ndarray, num_frames: int, query_mode: str) -> np.ndarray:
    """(B, N) query frame indices -> (B, N, T) bool: frames a prediction is scored on."""
    if query_mode not in QUERY_MODES:
        raise ValueError(f"query_mode must be one of {QUERY_MODES}, got {query_mode!r}")
    q = np.round(query_frames).astype(np.int64)[..., None]
    t = np.arange(num_frames)
    return t > q if query_mode == "first" else t != q


def compute_metrics(query_points: np.ndarray, gt_occluded: np.ndarray, gt_tracks: np.ndarray,
                    pred_occluded: np.ndarray, pred_tracks: np.ndarray, query_mode: str) -> dict[str, np.ndarray]:
    """Occlusion accuracy, position accuracy within 1..16 px and Jaccard at 1..16 px, per video.

    query_points (B, N, 3) (t, y, x); gt_/pred_occluded (B, N, T) bool; gt_/pred_tracks (B, N, T, 2) (x, y).
    Returns arrays of shape (B,) under occlusion_accuracy, pts_within_{k}, jaccard_{k}, average_jaccard
    and average_pts_within_thresh.
    """
    gt_tracks, pred_tracks = np.asarray(gt_tracks), np.asarray(pred_tracks)
    if gt_tracks.ndim != 4 or gt_tracks.shape[-1] != 2 or pred_tracks.shape != gt_tracks.shape:
        raise ValueError(f"tracks must both be (B, N, T, 2), got {gt_tracks.shape} and {pred_tracks.shape}")
    B, N, T, _ = gt_tracks.shape
    for name, a in (("gt_occluded", gt_occluded), ("pred_occluded", pred_occluded)):
        if np.shape(a) != (B, N, T):
            raise ValueError(f"{name} must be (B, N, T) = {(B, N, T)}, got {np.shape(a)}")
    if np.shape(query_points) != (B, N, 3):
        raise ValueError(f"query_points must be (B, N, 3) rows (t, y, x), got {np.shape(query_points)}")

    scored = evaluation_mask(np.asarray(query_points)[..., 0], T, query_mode)
    gt_vis = ~np.asarray(gt_occluded, bool)
    pred_vis = ~np.asarray(pred_occluded, bool)
    per_video = (1, 2)

    def count(mask):
        return np.sum(mask & scored, axis=per_video)

    out = {"occlusion_accuracy": count(gt_vis == pred_vis) / count(np.ones_like(scored))}
    sq_dist = np.sum(np.square(pred_tracks - gt_tracks), axis=-1)
    visible_total = count(gt_vis)
    for k in THRESHOLDS:
        close = sq_dist < k * k
        hit = close & gt_vis
        # a predicted-visible frame is a false positive when the point is hidden or the position is off
        false_pos = pred_vis & (~gt_vis | ~close)
        out[f"pts_within_{k}"] = count(hit) / visible_total
        out[f"jaccard_{k}"] = count(hit & pred_vis) / (visible_total + count(false_pos))
    out["average_jaccard"] = np.mean([out[f"jaccard_{k}"] for k in THRESHOLDS], axis=0)
    out["average_pts_within_thresh"] = np.mean([out[f"pts_within_{k}"] for k in THRESHOLDS], axis=0)
    return out


def raster_metrics(queries: np.ndarray, gt_tracks: np.ndarray, gt_occluded: np.ndarray, pred_tracks: np.ndarray,
                   pred_occluded: np.ndarray, hw: tuple[int, int]) -> dict[str, float]:
    """The SUMMARY and WITHIN metrics (query mode "first") of one clip scored in its own H x W pixels.

    queries (N, 3) rows (t, x, y); tracks (N, T, 2) (x, y); occluded (N, T) bool. Coordinates are
    rescaled from W x H to the RASTER the thresholds assume.
    """
    H, W = hw
    k = np.array([RASTER / W, RASTER / H])
    q = np.asarray(queries, np.float64)
    query_tyx = np.stack([q[:, 0], q[:, 2] * k[1], q[:, 1] * k[0]], 1)
    gt, pred = np.asarray(gt_tracks, np.float64) * k, np.asarray(pred_tracks, np.float64) * k
    m = compute_metrics(query_tyx[None], np.asarray(gt_occluded, bool)[None], gt[None],
                        np.asarray(pred_occluded, bool)[None], pred[None], query_mode="first")
    return {key: float(m[key][0]) for key in SUMMARY + WITHIN}
