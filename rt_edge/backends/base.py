"""What the online runtime needs from an executor of the two per-window graphs.

Large data (feature pyramids, query support features) stays in the executor's own
arrays (torch tensors, numpy arrays, device buffers); only the small per-window state
(coords, vis, conf: S x N values) crosses as numpy.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from ..config import ModelConfig

FrameFeatures = Any  # one frame's pyramid in the executor's arrays
QueryFeatures = Any  # (K, L, k, k, C) support features in the executor's arrays


class Executor(Protocol):
    name: str
    cfg: ModelConfig
    image_size: tuple[int, int]  # (H, W) the graphs run at
    iters: int

    def encode(self, image: np.ndarray) -> FrameFeatures:
        """image (H, W, 3) float32 RGB in [0, 255] at image_size -> that frame's pyramid."""

    def query_features(self, frame: FrameFeatures, xy: np.ndarray) -> QueryFeatures:
        """xy (K, 2) model pixels on that frame -> (K, L, k, k, C) support features."""

    def zero_queries(self, count: int) -> QueryFeatures:
        """(count, L, k, k, C) zeros (placeholders for points whose frame has not arrived)."""

    def concat_queries(self, parts: Sequence[QueryFeatures]) -> QueryFeatures:
        """Join support features along the points axis."""

    def window_step(
        self,
        frames: Sequence[FrameFeatures],
        coords: np.ndarray,
        vis: np.ndarray,
        conf: np.ndarray,
        query_feats: QueryFeatures,
        active: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One window: frames (S pyramids), coords (S, N, 2) model pixels, vis / conf (S, N)
        logits, active (N,) bool -> refined coords, vis, conf logits after `iters` iterations."""


class HostQueries:
    """Query support features as host numpy arrays (executors whose graphs take host inputs)."""

    cfg: ModelConfig
    query_dtype = np.float32

    def zero_queries(self, count: int) -> np.ndarray:
        k, cfg = self.cfg.corr_window, self.cfg
        return np.zeros((count, cfg.corr_levels, k, k, cfg.latent_dim), self.query_dtype)

    def concat_queries(self, parts) -> np.ndarray:
        return np.concatenate(list(parts), axis=0) if len(parts) else self.zero_queries(0)
