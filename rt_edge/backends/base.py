"""What the online runtime needs from an executor of the two per-window graphs.

Large data (feature pyramids, query support features) stays in the executor's own
arrays (torch tensors, numpy arrays, device buffers); only the small per-window state
(coords, vis, conf: S x N values) crosses as numpy.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from ..config import ModelConfig
from .onnx_meta import fmaps_names

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

    def frame_step(
        self,
        frames: Sequence[FrameFeatures],
        history: Any,
        cols: np.ndarray,
        coords: np.ndarray,
        vis: np.ndarray,
        conf: np.ndarray,
        query_feats: QueryFeatures,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
        """The stream schedule's step: the pyramids of the newest R = `stream_refine` frames (the refined
        zone, oldest first); history (S-1, M, L*corr_dim) correlation embeddings of every frame but the
        newest at its current position, in the executor's arrays (None at the start); cols (N,) each point's
        column in history (-1: no history); coords (S, N, 2), vis / conf (S, N) the earlier frames' final
        values, the zone's current ones and the new frame's start -> the zone's coords (R, N, 2), vis, conf (R, N) logits after `stream_iters`
        iterations, and the next history (S-1, N, L*corr_dim)."""


def stacked_fmaps(frames: Sequence[FrameFeatures], levels: int) -> dict[str, np.ndarray]:
    """The fmaps_l inputs (F, C, h_l, w_l) of window_step / frame_step from F host pyramids, oldest first."""
    return {n: np.stack([f[i] for f in frames]) for i, n in enumerate(fmaps_names(levels))}


def history_columns(history: Any, cols: np.ndarray, rows: int, width: int, zeros) -> Any:
    """history[:, cols] with -1 columns as zeros (frame_step fills them); `zeros(shape)` makes the
    executor's array when there is no history. The identity order is passed through uncopied."""
    N = len(cols)
    if history is None:
        return zeros((rows, N, width))
    if N == history.shape[1] and np.array_equal(cols, np.arange(N)):
        return history
    return history[:, np.maximum(cols, 0)]


class HostQueries:
    """Query support features as host numpy arrays (executors whose graphs take host inputs)."""

    cfg: ModelConfig
    query_dtype = np.float32

    def zero_queries(self, count: int) -> np.ndarray:
        k, cfg = self.cfg.corr_window, self.cfg
        return np.zeros((count, cfg.corr_levels, k, k, cfg.latent_dim), self.query_dtype)

    def concat_queries(self, parts) -> np.ndarray:
        return np.concatenate(list(parts), axis=0) if len(parts) else self.zero_queries(0)

    def past_corr(self, history, cols: np.ndarray) -> np.ndarray:
        """frame_step's past_corr input (S-1, N, L*corr_dim) float32 from a host history."""
        cfg = self.cfg
        return np.ascontiguousarray(history_columns(history, cols, cfg.window_len - 1, cfg.corr_levels * cfg.corr_dim,
                                                    lambda shape: np.zeros(shape, np.float32)), dtype=np.float32)
