"""4D correlation between query support features and track neighbourhoods (reference path).

This is the PyTorch reference of the fused CUDA kernel in `kernels/`: same inputs, same
output layout, so the two are interchangeable inside `window_step`.
"""

from __future__ import annotations

import functools

import torch

from .sampling import bilinear_sample, neighbourhood, sample_at_frames


def corr4d(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    """All-pairs correlation of a (2r+1)^2 neighbourhood with a query's (2r+1)^2 support.

    fmap (B, T, C, H, W) one pyramid level; coords (B, T, N, 2) track positions in that
    level's pixels; query_feats (B, N, K, K, C), K = 2r+1.
    Returns (B, T, N, K^4) flattened as (target a, target b, query a, query b), a = x step.
    """
    B, T, C, H, W = fmap.shape
    N = coords.shape[2]
    K = 2 * radius + 1
    pts = coords[:, :, :, None, None, :] + neighbourhood(radius, coords.device, coords.dtype)  # B T N K K 2
    sampled = bilinear_sample(fmap.reshape(B * T, C, H, W), pts.reshape(B * T, N * K, K, 2))  # BT C NK K
    # one (T*K*K, C) x (C, K*K) product per point: no copy of the support per frame
    sampled = sampled.reshape(B, T, C, N, K * K).permute(0, 3, 1, 4, 2).reshape(B * N, T * K * K, C)
    support = query_feats.reshape(B * N, K * K, C).transpose(1, 2)
    return torch.bmm(sampled, support).reshape(B, N, T, K**4).transpose(1, 2)


def corr4d_auto(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    """`corr4d`, run by the fused CUDA kernel (optional `kernels` package, built) when the tensors are on CUDA."""
    fused = _fused_corr4d() if fmap.is_cuda else None
    return (fused or corr4d)(fmap, coords, query_feats, radius)


@functools.lru_cache(maxsize=1)
def _fused_corr4d():
    try:  # lazy and optional: rt_edge runs without kernels/ or without its compiled library
        from kernels.op import cuda_ready, model_corr4d
    except ImportError:
        return None
    return model_corr4d if cuda_ready() else None


def support_features(fmap: torch.Tensor, frame_index: torch.Tensor, xy: torch.Tensor, radius: int) -> torch.Tensor:
    """Query support features: fmap (B, T, C, H, W), frame_index (B, N), xy (B, N, 2) level pixels -> (B, N, K, K, C)."""
    K = 2 * radius + 1
    pts = xy[:, :, None, None, :] + neighbourhood(radius, xy.device, xy.dtype)  # B N K K 2
    B, N = frame_index.shape
    feats = sample_at_frames(fmap, frame_index, pts.reshape(B, N, K * K, 2))  # B N KK C
    return feats.reshape(B, N, K, K, -1)
