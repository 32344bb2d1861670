"""Context points: extra support tracks that make the published models track better.

The papers evaluate with a 5x5 global grid over the frame and, for a lone query, an 8x8
local grid around it (50 px square at the model's 384x512 resolution). They are tracked
with the user's points but never returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ContextConfig:
    global_grid: int = 5  # side of the global grid (0: none)
    local_grid: int = 8  # side of the grid around each user query (0: none)
    local_extent: float = 50.0  # side of the local square, model pixels
    local_max_queries: int = 4  # local grids only while the user tracks at most this many points


def grid_points(size: int, extent_hw: tuple[float, float], center_xy: tuple[float, float] | None = None) -> np.ndarray:
    """size x size points (row-major, as (x, y)) covering an extent with a margin of extent_w / 64."""
    H, W = extent_hw
    cx, cy = center_xy if center_xy is not None else (W / 2, H / 2)
    if size == 1:
        return np.array([[cx, cy]], np.float32)
    margin = W / 64
    xs = np.linspace(cx - W / 2 + margin, cx + W / 2 - margin, size)
    ys = np.linspace(cy - H / 2 + margin, cy + H / 2 - margin, size)
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    return np.stack([gx.ravel(), gy.ravel()], axis=-1).astype(np.float32)


def local_grid(cfg: ContextConfig, center_xy: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """The local grid around one query, clipped into the image: (local_grid^2, 2)."""
    pts = grid_points(cfg.local_grid, (cfg.local_extent, cfg.local_extent), tuple(center_xy))
    H, W = image_hw
    return np.clip(pts, [0, 0], [W - 1, H - 1]).astype(np.float32)
