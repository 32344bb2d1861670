"""The stride-4 CNN feature encoder (`fnet`) and the feature pyramid built on it.

Layout fixed by the published state dict: a 7x7/2 stem, four stages of two residual
blocks (stages 2-4 halve the resolution), every stage resampled to stride 4, fused by a
3x3 conv and projected by a 1x1 conv. Normalisation is parameter-free instance norm.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig


def _instance_norm(x: torch.Tensor) -> torch.Tensor:
    return F.instance_norm(x, eps=1e-5)


class ResidualBlock(nn.Module):
    """conv-IN-ReLU twice plus a (strided 1x1 conv + IN) shortcut when the shape changes."""

    def __init__(self, in_dim: int, out_dim: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_dim, out_dim, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(out_dim, out_dim, 3, padding=1)
        self.downsample = (
            nn.Sequential(nn.Conv2d(in_dim, out_dim, 1, stride=stride), nn.InstanceNorm2d(out_dim))
            if stride != 1
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(_instance_norm(self.conv1(x)))
        y = F.relu(_instance_norm(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return F.relu(x + y)


class FeatureEncoder(nn.Module):
    """images (M, 3, H, W) in [-1, 1] -> features (M, latent_dim, H/stride, W/stride)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.stride = cfg.stride
        d1, d2, d3, d4 = cfg.encoder_dims
        self.conv1 = nn.Conv2d(3, d1, 7, stride=2, padding=3)
        self.layer1 = nn.Sequential(ResidualBlock(d1, d1, 1), ResidualBlock(d1, d1))
        self.layer2 = nn.Sequential(ResidualBlock(d1, d2, 2), ResidualBlock(d2, d2))
        self.layer3 = nn.Sequential(ResidualBlock(d2, d3, 2), ResidualBlock(d3, d3))
        self.layer4 = nn.Sequential(ResidualBlock(d3, d4, 2), ResidualBlock(d4, d4))
        self.conv2 = nn.Conv2d(d1 + d2 + d3 + d4, cfg.encoder_hidden, 3, padding=1)
        self.conv3 = nn.Conv2d(cfg.encoder_hidden, cfg.latent_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_size = (x.shape[-2] // self.stride, x.shape[-1] // self.stride)
        x = F.relu(_instance_norm(self.conv1(x)))
        stages = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            stages.append(F.interpolate(x, out_size, mode="bilinear", align_corners=True))
        x = F.relu(_instance_norm(self.conv2(torch.cat(stages, dim=1))))
        return self.conv3(x)


def l2_normalise(fmaps: torch.Tensor, dim: int) -> torch.Tensor:
    """Unit-length feature vectors along `dim` (norm floored at 1e-6, i.e. 1e-12 squared)."""
    sq = torch.sum(fmaps * fmaps, dim=dim, keepdim=True)
    return fmaps / torch.sqrt(torch.clamp(sq, min=1e-12))


def build_pyramid(fmaps: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """fmaps (B, T, C, H, W) -> `levels` tensors (B, T, C, H/2^l, W/2^l), 2x2 average pooling."""
    B, T = fmaps.shape[:2]
    pyramid = [fmaps]
    for _ in range(levels - 1):
        prev = pyramid[-1]
        pooled = F.avg_pool2d(prev.reshape(B * T, *prev.shape[2:]), 2, stride=2)
        pyramid.append(pooled.reshape(B, T, *pooled.shape[1:]))
    return pyramid


def init_encoder_weights(enc: FeatureEncoder) -> None:
    """He init (fan-out) for the convolutions, the convention the architecture was trained with."""
    for m in enc.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
