"""Frame checks, resizing to the model's input size, and the pixel mapping between the two.

The mapping is the reference predictor's corner convention: pixel centres of the first
and last columns/rows correspond (scale (model - 1) / (caller - 1)), matching a bilinear
resize with aligned corners.
"""

from __future__ import annotations

import numpy as np


def check_frame(frame: np.ndarray, expected_hw: tuple[int, int] | None = None) -> None:
    """ValueError unless frame is (H, W, 3) uint8 (of size expected_hw when given)."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array (H, W, 3) uint8, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must have shape (H, W, 3), got {frame.shape}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame must be at least 2x2 pixels, got {frame.shape[1]}x{frame.shape[0]}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 RGB, got dtype {frame.dtype}")
    if expected_hw is not None and frame.shape[:2] != tuple(expected_hw):
        raise ValueError(f"frame size {frame.shape[:2]} differs from this stream's {tuple(expected_hw)}")


def _axis_weights(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.arange(dst, dtype=np.float64) * ((src - 1) / (dst - 1) if dst > 1 else 0.0)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, src - 1)
    hi = np.minimum(lo + 1, src - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def resize_aligned(frame: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """frame (H0, W0, C) -> float32 (H, W, C), bilinear with aligned corners (no-op copy if same size)."""
    H, W = size_hw
    if frame.shape[:2] == (H, W):
        return frame.astype(np.float32)
    y0, y1, wy = _axis_weights(frame.shape[0], H)
    x0, x1, wx = _axis_weights(frame.shape[1], W)
    top = frame[y0].astype(np.float32)  # only the H source rows used are converted
    rows = top + (frame[y1].astype(np.float32) - top) * wy[:, None, None]
    left = rows[:, x0]
    return left + (rows[:, x1] - left) * wx[None, :, None]


def pixel_scale(from_hw: tuple[int, int], to_hw: tuple[int, int]) -> np.ndarray:
    """(sx, sy) mapping (x, y) pixels of an image of size from_hw onto one of size to_hw."""
    (h0, w0), (h1, w1) = from_hw, to_hw
    return np.array([(w1 - 1) / max(w0 - 1, 1), (h1 - 1) / max(h0 - 1, 1)], dtype=np.float64)
