"""The runtime's output: tracks of the frames that became final, as plain numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VISIBILITY_THRESHOLD = 0.6  # a point is visible when visibility * confidence > this (the default everywhere)


@dataclass(frozen=True)
class Tracks:
    """Final tracks of F frames for K points.

    frames (F,) int frame indices; ids (K,) int point ids; xy (F, K, 2) float caller pixels
    (NaN before a point's query frame); visible (F, K) bool; visibility, confidence (F, K)
    probabilities.
    """

    frames: np.ndarray
    ids: np.ndarray
    xy: np.ndarray
    visible: np.ndarray
    visibility: np.ndarray
    confidence: np.ndarray

    @classmethod
    def empty(cls, ids: np.ndarray | None = None) -> "Tracks":
        ids = np.zeros(0, np.int64) if ids is None else np.asarray(ids, np.int64)
        K = len(ids)
        return cls(np.zeros(0, np.int64), ids, np.zeros((0, K, 2), np.float32), np.zeros((0, K), bool),
                   np.zeros((0, K), np.float32), np.zeros((0, K), np.float32))

    def __len__(self) -> int:
        return len(self.frames)

    @staticmethod
    def concat(parts: "list[Tracks]") -> "Tracks":
        """Join chunks in time; points missing from a chunk get NaN / invisible there."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Tracks.empty()
        ids = np.unique(np.concatenate([p.ids for p in parts]))
        F = sum(len(p) for p in parts)
        xy = np.full((F, len(ids), 2), np.nan, np.float32)
        visible = np.zeros((F, len(ids)), bool)
        visibility = np.zeros((F, len(ids)), np.float32)
        confidence = np.zeros((F, len(ids)), np.float32)
        row = 0
        for p in parts:
            cols = np.searchsorted(ids, p.ids)
            rows = slice(row, row + len(p))
            xy[rows, cols] = p.xy
            visible[rows, cols] = p.visible
            visibility[rows, cols] = p.visibility
            confidence[rows, cols] = p.confidence
            row += len(p)
        return Tracks(np.concatenate([p.frames for p in parts]), ids, xy, visible, visibility, confidence)
