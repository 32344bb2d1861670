"""CPU reference of the fused op: the model's own correlation path, with the op's input checks.

The computation is `rt_edge.model.correlation.corr4d` (grid_sample + one batched product per point), reused
rather than copied so the kernel is always checked against what the model actually runs.
"""

from __future__ import annotations

import torch

from rt_edge.model.correlation import corr4d as _model_corr4d

FEATURE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def check_inputs(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> None:
    """ValueError naming the first input that breaks the op's contract (shapes, dtypes, devices, radius)."""
    if not isinstance(radius, int) or isinstance(radius, bool) or radius < 0:
        raise ValueError(f"radius must be a non-negative int, got {radius!r}")
    if fmap.dim() != 5:
        raise ValueError(f"fmap must be (B, T, C, H, W), got shape {tuple(fmap.shape)}")
    B, T, C, H, W = fmap.shape
    if C % 8 != 0 or C == 0:
        raise ValueError(f"fmap channels C must be a positive multiple of 8, got C={C}")
    if H == 0 or W == 0:
        raise ValueError(f"fmap must have a non-empty image, got H={H}, W={W}")
    if coords.dim() != 4 or coords.shape[:2] != (B, T) or coords.shape[3] != 2:
        raise ValueError(f"coords must be (B, T, N, 2) = ({B}, {T}, N, 2), got shape {tuple(coords.shape)}")
    N, K = coords.shape[2], 2 * radius + 1
    if tuple(query_feats.shape) != (B, N, K, K, C):
        raise ValueError(f"query_feats must be (B, N, K, K, C) = ({B}, {N}, {K}, {K}, {C}) for radius {radius}, "
                         f"got shape {tuple(query_feats.shape)}")
    if fmap.dtype not in FEATURE_DTYPES:
        raise ValueError(f"fmap dtype must be one of {FEATURE_DTYPES}, got {fmap.dtype}")
    if query_feats.dtype != fmap.dtype:
        raise ValueError(f"query_feats dtype {query_feats.dtype} differs from fmap dtype {fmap.dtype}")
    if not coords.dtype.is_floating_point:
        raise ValueError(f"coords must be floating point, got {coords.dtype}")
    if not (fmap.device == coords.device == query_feats.device):
        raise ValueError(f"inputs on different devices: fmap {fmap.device}, coords {coords.device}, "
                         f"query_feats {query_feats.device}")


def corr4d_reference(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    """fmap (B, T, C, H, W), coords (B, T, N, 2) level pixels, query_feats (B, N, K, K, C) -> (B, T, N, K^4).

    Exactly the model's path, on any device (its sampling grid is cast to fmap's dtype, so half-precision inputs
    also get half-precision sampling positions there; the CUDA kernel keeps positions in float32).
    """
    check_inputs(fmap, coords, query_feats, radius)
    return _model_corr4d(fmap, coords, query_feats, radius)
