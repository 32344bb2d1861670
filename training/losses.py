"""Supervised losses of CoTracker3 (RealTracker preprint, section 3.3), per window and over windows.

Each loss sums the M refinement iterations with weights gamma^(M-m) (the last iteration weighs 1):
- tracks: Huber (threshold 6 px, averaged over x and y) against ground truth; occluded points
  weigh 1/5 of visible ones; a masked mean over the points and frames that count;
- confidence: BCE of sigmoid(conf logit) against "this iteration's track is within 12 px of the
  ground truth" (the target uses the detached track);
- visibility: BCE of sigmoid(vis logit) against the ground-truth visibility.
The equations are followed as the paper writes them: confidence and visibility are discounted by
gamma too and confidence is supervised on occluded points as well (the reference implementation
differs on both).

Which (frame, point) pairs count is the caller's `valid` mask: online, the frames of each window from
the point's query frame on, once the point has entered a window; offline, every frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .options import HUBER_DELTA  # defined beside the option it defaults

GAMMA = 0.8
OCCLUDED_WEIGHT = 1 / 5
CONFIDENCE_RADIUS = 12.0


def huber(pred: torch.Tensor, target: torch.Tensor, delta: float = HUBER_DELTA) -> torch.Tensor:
    """Elementwise Huber: quadratic 0.5 d^2 up to |d| = delta, linear delta (|d| - delta/2) beyond."""
    d = (pred - target).abs()
    return torch.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta))


def _masked_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (x * w).sum() / w.sum().clamp(min=1e-6)


def _iteration_weights(m: int, gamma: float) -> list[float]:
    return [gamma ** (m - 1 - i) for i in range(m)]


def track_loss(coords: Sequence[torch.Tensor], gt: torch.Tensor, visible: torch.Tensor, valid: torch.Tensor,
               gamma: float = GAMMA, delta: float = HUBER_DELTA,
               occluded_weight: float = OCCLUDED_WEIGHT) -> torch.Tensor:
    """coords: per iteration (B, T, N, 2) px; gt (B, T, N, 2); visible, valid (B, T, N) bool -> scalar."""
    w = valid.to(gt.dtype) * (occluded_weight + (1 - occluded_weight) * visible.to(gt.dtype))
    return sum(g * _masked_mean(huber(c, gt, delta).mean(-1), w)
               for g, c in zip(_iteration_weights(len(coords), gamma), coords))


def confidence_loss(coords: Sequence[torch.Tensor], conf_logits: Sequence[torch.Tensor], gt: torch.Tensor,
                    valid: torch.Tensor, gamma: float = GAMMA, radius: float = CONFIDENCE_RADIUS) -> torch.Tensor:
    """conf_logits: per iteration (B, T, N); target: the same iteration's track within `radius` px of gt."""
    w = valid.to(gt.dtype)
    total = 0.0
    for g, c, logit in zip(_iteration_weights(len(coords), gamma), coords, conf_logits):
        target = ((c.detach() - gt).square().sum(-1) < radius * radius).to(logit.dtype)
        total = total + g * _masked_mean(F.binary_cross_entropy_with_logits(logit, target, reduction="none"), w)
    return total


def visibility_loss(vis_logits: Sequence[torch.Tensor], visible: torch.Tensor, valid: torch.Tensor,
                    gamma: float = GAMMA) -> torch.Tensor:
    """vis_logits: per iteration (B, T, N); visible, valid (B, T, N) bool -> scalar."""
    return sum(g * _masked_mean(F.binary_cross_entropy_with_logits(v, visible.to(v.dtype), reduction="none"),
                                valid.to(v.dtype))
               for g, v in zip(_iteration_weights(len(vis_logits), gamma), vis_logits))


def sequence_losses(windows, gt: torch.Tensor, visible: torch.Tensor, query_frames: torch.Tensor,
                    online: bool, gamma: float = GAMMA, delta: float = HUBER_DELTA) -> dict[str, torch.Tensor]:
    """Losses of a clip from the model's per-window predictions (`rt_edge.model.WindowPrediction`s).

    gt (B, T, N, 2) px, visible (B, T, N) bool, query_frames (B, N) int. Online: a window counts the
    points queried before its end, on frames from their query frame on; the clip's loss is the mean
    over the windows that count any point. Offline: one window, every frame counts. delta: the track
    loss's Huber threshold in px (a smaller one weighs small errors more against large ones).
    Returns {"track", "confidence", "visibility", "total"} scalars.
    """
    parts = {"track": [], "confidence": [], "visibility": []}
    for w in windows:
        n = w.coords[-1].shape[1]
        frames = torch.arange(w.start, w.start + n, device=gt.device)
        g, vis = gt[:, w.start : w.start + n], visible[:, w.start : w.start + n]
        if online:
            valid = frames[None, :, None] >= query_frames[:, None, :]
        else:
            valid = torch.ones_like(vis)
        if not valid.any():
            continue
        parts["track"].append(track_loss(w.coords, g, vis, valid, gamma, delta))
        parts["confidence"].append(confidence_loss(w.coords, w.conf, g, valid, gamma))
        parts["visibility"].append(visibility_loss(w.vis, vis, valid, gamma))
    if not parts["track"]:
        raise ValueError("no (frame, point) pair is supervised: every query lies past the clip")
    out = {k: torch.stack(v).mean() for k, v in parts.items()}
    out["total"] = out["track"] + out["confidence"] + out["visibility"]
    return out
