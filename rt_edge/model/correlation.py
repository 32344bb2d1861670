"""4D correlation between query support features and track neighbourhoods (reference path).

This is the PyTorch reference of the fused CUDA kernel in `kernels/`: same inputs, same
output layout, so the two are interchangeable inside `window_step`.
"""

from __future__ import annotations

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


def corr4d_patches(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    """`corr4d` (same arguments, same result to float rounding) by gathering instead of grid sampling.

    A point's (2r+1)^2 samples are integer offsets of its position, so they share one fractional offset: a
    (2r+2)^2 patch of whole pixels holds the four corners of every sample, and the bilinear weights can be
    applied to the patch's correlations rather than to its features. Clamping the patch indices to the map
    reproduces the border padding exactly. The exported graphs use this form: onnxruntime's CPU GridSample,
    and the transpose its channels-first output needs, cost several times more than a row gather.
    """
    B, T, C, H, W = fmap.shape
    N, K = coords.shape[2], 2 * radius + 1
    P = K + 1
    rows = fmap.permute(0, 1, 3, 4, 2).reshape(B * T * H * W, C)  # channels last: one row per pixel
    x0, y0 = coords[..., 0].floor(), coords[..., 1].floor()  # B T N
    wx, wy = coords[..., 0] - x0, coords[..., 1] - y0
    steps = torch.arange(-radius, radius + 2, device=coords.device)
    xi = (x0.long()[..., None] + steps).clamp(0, W - 1)  # B T N P
    yi = (y0.long()[..., None] + steps).clamp(0, H - 1)
    frame = (torch.arange(B * T, device=fmap.device) * (H * W)).reshape(B, T, 1, 1, 1)
    index = frame + xi[..., :, None] + yi[..., None, :] * W  # B T N P(x) P(y)
    patch = rows[index.reshape(-1)].reshape(B, T, N, P * P, C)
    support = query_feats.reshape(B, 1, N, K * K, C).transpose(-1, -2)  # B 1 N C K^2
    corr = torch.matmul(patch, support).reshape(B, T, N, P, P, K * K)  # (patch x, patch y, query)
    wx, wy = wx[..., None, None, None], wy[..., None, None, None]
    corr = corr[:, :, :, :K] * (1 - wx) + corr[:, :, :, 1:] * wx  # B T N K P K^2
    corr = corr[:, :, :, :, :K] * (1 - wy) + corr[:, :, :, :, 1:] * wy  # B T N K K K^2
    return corr.reshape(B, T, N, K**4)


def corr4d_auto(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    """`corr4d`, run by the registered fused kernel (`register_fused_corr4d`) when the tensors are on CUDA, and as
    `corr4d_patches` while tracing for ONNX."""
    fused = _FUSED if fmap.is_cuda else None
    if fused is None and torch.onnx.is_in_onnx_export():
        return corr4d_patches(fmap, coords, query_feats, radius)
    return (fused or corr4d)(fmap, coords, query_feats, radius)


_FUSED = None  # set by the optional `kernels` package when it is imported and its CUDA library is built


def register_fused_corr4d(fn) -> None:
    """Route CUDA correlations through `fn` (same arguments and result as `corr4d`; None: back to `corr4d`).
    `import kernels.op` registers the fused CUDA kernel here; rt_edge itself never imports kernels."""
    global _FUSED
    _FUSED = fn


def support_features(fmap: torch.Tensor, frame_index: torch.Tensor, xy: torch.Tensor, radius: int) -> torch.Tensor:
    """Query support features: fmap (B, T, C, H, W), frame_index (B, N), xy (B, N, 2) level pixels -> (B, N, K, K, C)."""
    K = 2 * radius + 1
    pts = xy[:, :, None, None, :] + neighbourhood(radius, xy.device, xy.dtype)  # B N K K 2
    B, N = frame_index.shape
    feats = sample_at_frames(fmap, frame_index, pts.reshape(B, N, K * K, 2))  # B N KK C
    return feats.reshape(B, N, K, K, -1)
