"""Trackers as benchmarks and pseudo-label teachers see them: one function from a clip and its queries
to tracks.

A Predictor takes video (T, H, W, 3) uint8 RGB and queries (N, 3) rows (t, x, y) in that video's
pixels and returns tracks (N, T, 2) as (x, y) pixels and occluded (N, T) bool. Every frame must
hold a finite position (before a point's query frame too): the metrics score what they are given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

Predictor = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

SUPPORT_MODES = ("joint", "single")


def rt_edge_predictor(checkpoint: Any = None, backend: str = "torch", mode: str = "online", image_size=None,
                      iters: int = 6, support: str = "joint", backward: bool = True, threads: int = 0,
                      schedule: str = "published", stream_iters: int | None = None,
                      stream_refine: int | None = None) -> Predictor:
    """The project's tracker through `rt_edge.api.track_video`.

    checkpoint: for torch a checkpoint path (loaded here, once, so every clip and every leg reuses the
    model) or a loaded model; for the other backends an export folder; None: the runtime's default.
    support "joint": all benchmark points in one run, with the runtime's 5x5 global context grid;
    "single": one run per benchmark point, each with the global grid and an 8x8 local grid around
    it (the papers' evaluation protocol; N times the cost). backward: also track each point
    before its query frame (needed for "strided" queries). threads: torch threads (0: torch's default).
    schedule, stream_iters, stream_refine: the online schedule (OnlineTracker).
    """
    from rt_edge.api import track_video

    if support not in SUPPORT_MODES:
        raise ValueError(f"support must be one of {SUPPORT_MODES}, got {support!r}")
    if backend == "torch" and (threads or isinstance(checkpoint, str | os.PathLike)):
        import torch

        from rt_edge.model import load_checkpoint

        if threads:
            torch.set_num_threads(threads)
        if isinstance(checkpoint, str | os.PathLike):
            checkpoint = load_checkpoint(checkpoint)

    def run(video: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        groups = [queries] if support == "joint" else [queries[i : i + 1] for i in range(len(queries))]
        xy, visible = [], []
        for q in groups:
            tr = track_video(video, q, mode=mode, backward=backward, checkpoint=checkpoint, backend=backend,
                             image_size=image_size, iters=iters, context_points=True, schedule=schedule,
                             stream_iters=stream_iters, stream_refine=stream_refine)
            xy.append(tr.xy)
            visible.append(tr.visible)
        xy, visible = np.concatenate(xy, axis=1), np.concatenate(visible, axis=1)  # (T, N, ...)
        undefined = np.isnan(xy).any(-1)  # before the query without backward tracking
        xy = np.where(undefined[..., None], queries[None, :, 1:], xy)
        return xy.transpose(1, 0, 2).astype(np.float32), (~visible | undefined).T

    return run
