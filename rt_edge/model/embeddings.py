"""Fixed (non-learned) encodings: the frame-index embedding and the displacement encoding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def time_embedding(dim: int, length: int) -> torch.Tensor:
    """1-D sin/cos embedding of frame indices 0..length-1 -> (1, length, dim) float32.

    Frequencies 10000^(-k/(dim/2)), k < dim/2; sines in the first half, cosines in the
    second; computed in float64 and rounded once.
    """
    if dim % 2:
        raise ValueError(f"time embedding size must be even, got {dim}")
    freqs = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    angles = torch.arange(length, dtype=torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)[None].float()


def resample_time_embedding(emb: torch.Tensor, length: int) -> torch.Tensor:
    """emb (1, L, D) -> (1, length, D): linear interpolation (half-pixel centres) when L differs."""
    if emb.shape[1] == length:
        return emb
    out = F.interpolate(emb.float().transpose(1, 2), size=length, mode="linear", align_corners=False)
    return out.transpose(1, 2).to(emb.dtype)


def fourier_encode(x: torch.Tensor, degrees: int) -> torch.Tensor:
    """x (..., D) -> (..., D + 2*D*degrees): x, then sin and cos of x * 2^k for k < degrees.

    Within each of the sin / cos halves, values are ordered degree-major, component-minor.
    """
    scales = 2.0 ** torch.arange(degrees, dtype=x.dtype, device=x.device)
    xb = (x[..., None, :] * scales[:, None]).flatten(-2)
    return torch.cat([x, torch.sin(xb), torch.sin(xb + 0.5 * math.pi)], dim=-1)
