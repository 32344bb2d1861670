"""Bilinear sampling of feature maps in the model's pixel convention.

Convention (fixed by the published model): coordinates are in the sampled map's own
pixels, pixel centres at integers (x = 0 is the centre of the left column), values
outside the map take the nearest border value. Neighbourhoods are (2r+1)^2 offsets whose
*first* axis steps x and second axis steps y; the correlation volume is flattened in
that order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _to_grid(xy: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """Pixel coordinates (.., len(sizes)) ordered (x, y[, t]) -> grid_sample's [-1, 1]."""
    scale = torch.tensor([2.0 / max(s - 1, 1) for s in sizes], dtype=xy.dtype, device=xy.device)
    return xy * scale - 1.0


def bilinear_sample(fmap: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """fmap (M, C, H, W), xy (M, P, Q, 2) as (x, y) pixels -> (M, C, P, Q)."""
    grid = _to_grid(xy, (fmap.shape[-1], fmap.shape[-2]))
    return F.grid_sample(fmap, grid.to(fmap.dtype), mode="bilinear", padding_mode="border", align_corners=True)


def sample_at_frames(fmaps: torch.Tensor, t: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
    """Features at per-point frames: fmaps (B, T, C, H, W), t (B, P) int, xy (B, P, Q, 2) -> (B, P, Q, C).

    Trilinear sampling at integer t selects exactly frame t, without gathering a whole
    feature map per point.
    """
    B, T, C, H, W = fmaps.shape
    P, Q = xy.shape[1:3]
    if T == 1:  # a single frame: plain 2-D sampling (exportable to ONNX GridSample)
        return bilinear_sample(fmaps[:, 0], xy).permute(0, 2, 3, 1)
    txy = torch.cat([xy, t.to(xy.dtype)[:, :, None, None].expand(B, P, Q, 1)], dim=-1)
    grid = _to_grid(txy, (W, H, T)).reshape(B, P, Q, 1, 3)
    out = F.grid_sample(
        fmaps.transpose(1, 2), grid.to(fmaps.dtype), mode="bilinear", padding_mode="border", align_corners=True
    )  # (B, C, P, Q, 1)
    return out[..., 0].permute(0, 2, 3, 1)


def neighbourhood(radius: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Offsets (2r+1, 2r+1, 2) with [a, b] = (dx_a, dy_b): first axis steps x."""
    d = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    dx, dy = torch.meshgrid(d, d, indexing="ij")
    return torch.stack([dx, dy], dim=-1)
