"""Held-out evaluation during training: TAP-Vid metrics of the model on ground-truth clips."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from rt_edge.evaluation.tapvid import SUMMARY, raster_metrics
from rt_edge.model import CoTracker3
from rt_edge.tracks import VISIBILITY_THRESHOLD


@torch.no_grad()
def evaluate(model: CoTracker3, clips: Iterable[dict], mode: str, iters: int) -> dict[str, float]:
    """Mean AJ, delta_avg and OA (in [0, 1]) over clips.

    Each clip: video (T, 3, H, W) float [0, 255], tracks (T, N, 2) px, visible (T, N) bool,
    queries (N, 3) rows (t, x, y). Frames after each query frame are scored ("first" protocol).
    """
    rows = []
    for clip in clips:
        video, queries = clip["video"], clip["queries"]
        H, W = video.shape[-2:]
        dev = next(model.parameters()).device
        coords, vis, conf = model.track(video[None].to(dev), queries[None].to(dev), iters=iters, mode=mode)
        pred = coords[0].float().cpu().numpy().transpose(1, 0, 2)
        pred_occ = ((vis * conf)[0].float().cpu().numpy() <= VISIBILITY_THRESHOLD).T
        m = raster_metrics(queries.numpy(), clip["tracks"].numpy().transpose(1, 0, 2), ~clip["visible"].numpy().T,
                           pred, pred_occ, (H, W))
        rows.append([m[key] for key in SUMMARY])
    if not rows:
        raise ValueError("no evaluation clips")
    return dict(zip(SUMMARY, map(float, np.nanmean(np.array(rows, np.float64), axis=0))))
