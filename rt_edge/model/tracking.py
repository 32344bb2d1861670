"""Whole-clip tracking on top of the model pieces: the online sliding-window schedule and
the offline single window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..config import ModelConfig
if TYPE_CHECKING:  # CoTracker3.track calls in here; this module needs only the type (no import cycle)
    from .cotracker3 import CoTracker3

MODES = ("online", "offline")


@dataclass
class WindowPrediction:
    """Every iteration's output for one window (for training losses).

    start: first frame of the window; coords: per iteration (B, S, N, 2) pixels;
    vis, conf: per iteration (B, S, N) logits. S counts only real frames (no padding).
    """

    start: int
    coords: list[torch.Tensor]
    vis: list[torch.Tensor]
    conf: list[torch.Tensor]


def validate_inputs(video: torch.Tensor, queries: torch.Tensor, cfg: ModelConfig) -> None:
    """Raise ValueError naming the first bad value in (video, queries)."""
    stride = cfg.stride
    min_size = stride * 2 ** (cfg.corr_levels - 1)  # the coarsest pyramid level keeps >= 1 pixel
    if not isinstance(video, torch.Tensor) or video.ndim != 5 or video.shape[2] != 3:
        shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
        raise ValueError(f"video must be a float tensor (B, T, 3, H, W), got {shape}")
    if not video.is_floating_point():
        raise ValueError(f"video must be floating point in [0, 255], got dtype {video.dtype}")
    B, T, _, H, W = video.shape
    if T < 1:
        raise ValueError("video has no frames (T=0)")
    if H % stride or W % stride:
        raise ValueError(f"video size H={H}, W={W} must be multiples of the stride {stride}; resize or pad first")
    if H < min_size or W < min_size:
        raise ValueError(f"video size H={H}, W={W} is too small: both must be at least {min_size} pixels")
    if not isinstance(queries, torch.Tensor) or queries.ndim != 3 or queries.shape[0] != B or queries.shape[2] != 3:
        shape = tuple(queries.shape) if isinstance(queries, torch.Tensor) else type(queries).__name__
        raise ValueError(f"queries must be a tensor (B={B}, N, 3) of rows (t, x, y), got {shape}")
    if queries.shape[1] == 0:
        raise ValueError("queries is empty (N=0); give at least one (t, x, y) row")
    if not torch.isfinite(queries).all():
        bad = (~torch.isfinite(queries)).any(-1).nonzero()[0].tolist()
        raise ValueError(f"queries contain NaN or inf (first at batch {bad[0]}, point {bad[1]})")
    t = queries[..., 0]
    if (t < 0).any() or (t > T - 1).any():
        raise ValueError(
            f"query frame {t[(t < 0) | (t > T - 1)][0].item():g} is outside the video (frames 0..{T - 1})"
        )


def _split_queries(queries: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return queries[..., 0].long(), queries[..., 1:3].to(dtype)


def track(model: CoTracker3, video, queries, iters: int = 6, mode: str = "online", return_all_iters: bool = False):
    """Track `queries` through `video`.

    video (B, T, 3, H, W) float in [0, 255], H and W multiples of the stride (no resizing here);
    queries (B, N, 3) rows (t, x, y) in pixels of `video`.
    Returns coords (B, T, N, 2) pixels, vis and conf (B, T, N) probabilities, and with
    `return_all_iters` a fourth item: the list of WindowPrediction (one for offline).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    validate_inputs(video, queries, model.cfg)
    dtype = model.time_emb.dtype  # the weights' precision; the input follows it
    video, queries = video.to(dtype), queries.to(dtype)
    run = _track_online if mode == "online" else _track_offline
    coords, vis, conf, windows = run(model, video, queries, iters)
    out = coords, torch.sigmoid(vis), torch.sigmoid(conf)
    return (*out, windows) if return_all_iters else out


def _track_offline(model: CoTracker3, video, queries, iters):
    B, T = video.shape[:2]
    N = queries.shape[1]
    q_t, q_xy = _split_queries(queries, video.dtype)
    pyramid = model.pyramid(model.encode(video))
    qfeat = model.query_features(pyramid, q_t, q_xy)
    coords0 = q_xy[:, None].expand(B, T, N, 2)
    zeros = video.new_zeros(B, T, N)
    coords, vis, conf = model.window_step(pyramid, coords0, zeros, zeros, qfeat, iters)
    return coords[-1], vis[-1], conf[-1], [WindowPrediction(0, coords, vis, conf)]


def window_starts(num_frames: int, window_len: int, step: int) -> list[int]:
    """First frames of the online windows covering `num_frames` (the published schedule)."""
    return list(range(0, max(num_frames - window_len + step, 1), step)) if num_frames > 0 else []


def _track_online(model: CoTracker3, video, queries, iters):
    """Sliding windows of window_len frames moved by window_step; each window starts from
    the previous window's overlap for points queried before the overlap ends, from the
    query position (vis = conf = 0 logits) otherwise. Points whose query frame lies past
    the window end take part with zero support features. The last window is padded by
    repeating the last frame."""
    cfg = model.cfg
    S, step = cfg.window_len, cfg.window_step
    overlap = S - step
    B, T = video.shape[:2]
    N = queries.shape[1]
    q_t, q_xy = _split_queries(queries, video.dtype)
    pyramid = model.pyramid(model.encode(video))
    qfeat = model.query_features(pyramid, q_t, q_xy)

    coords_out = q_xy[:, None].expand(B, T, N, 2).clone()
    vis_out = video.new_zeros(B, T, N)
    conf_out = video.new_zeros(B, T, N)
    windows = []
    for ind in window_starts(T, S, step):
        frame_idx = torch.arange(ind, ind + S, device=video.device).clamp(max=T - 1)
        window_pyr = [level[:, frame_idx] for level in pyramid]
        coords0 = q_xy[:, None].expand(B, S, N, 2)
        vis0 = video.new_zeros(B, S, N)
        conf0 = video.new_zeros(B, S, N)
        if ind > 0:
            # previous window's overlap, its last frame repeated over the new frames
            prev = torch.arange(ind, ind + S, device=video.device).clamp(max=ind + overlap - 1)
            carry = (q_t < ind + overlap)[:, None, :]  # B 1 N
            coords0 = torch.where(carry[..., None], coords_out[:, prev], coords0)
            vis0 = torch.where(carry, vis_out[:, prev], vis0)
            conf0 = torch.where(carry, conf_out[:, prev], conf0)
        active = (q_t < ind + S).to(qfeat.dtype)[:, :, None, None, None, None]
        coords, vis, conf = model.window_step(window_pyr, coords0, vis0, conf0, qfeat * active, iters)
        n = min(S, T - ind)
        coords_out[:, ind : ind + n] = coords[-1][:, :n]
        vis_out[:, ind : ind + n] = vis[-1][:, :n]
        conf_out[:, ind : ind + n] = conf[-1][:, :n]
        windows.append(WindowPrediction(ind, [c[:, :n] for c in coords], [v[:, :n] for v in vis], [c[:, :n] for c in conf]))
    return coords_out, vis_out, conf_out, windows
