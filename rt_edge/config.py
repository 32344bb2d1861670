"""The CoTracker3 architecture's hyper-parameters, in one place.

Torch-free on purpose: the runtime (onnxruntime / TensorRT backends) reads window length,
stride and radius from here (or from an export's meta.json built from it) without torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

# time_emb length of the published checkpoints, by variant.
PUBLISHED_WINDOW_LEN = {"online": 16, "offline": 60}


@dataclass(frozen=True)
class ModelConfig:
    """Every size of the model; derived sizes are properties, never stored twice."""

    window_len: int = 16  # frames per window = length of the time embedding
    stride: int = 4  # encoder output stride (input pixels per feature pixel)
    corr_radius: int = 3  # neighbourhood radius: (2r+1)^2 samples per level
    corr_levels: int = 4  # pyramid levels (2x2 average pooling between them)
    num_virtual_tracks: int = 64
    model_resolution: tuple[int, int] = (384, 512)  # (H, W) that scales displacements
    latent_dim: int = 128  # per-pixel feature size of the encoder
    encoder_dims: tuple[int, int, int, int] = (64, 96, 128, 128)  # layer1..layer4 widths
    encoder_hidden: int = 256  # width of the fusion conv (conv2)
    hidden_size: int = 384  # transformer width
    num_heads: int = 8
    time_depth: int = 3
    space_depth: int = 3
    mlp_ratio: float = 4.0
    corr_hidden: int = 384  # corr_mlp hidden width
    corr_dim: int = 256  # corr_mlp output per level
    posenc_degrees: int = 10  # Fourier degrees 0..posenc_degrees-1 of the displacements
    # the stream schedule (frame_step): update iterations per push, and how many of the newest frames each
    # push refines (the newest is returned; the others improve the history later frames are tracked
    # against). Chosen by measurement: docs/streaming.md.
    stream_iters: int = 3
    stream_refine: int = 1
    # passes after a push's first recompute only the zone and the frame before it (whose motion input changed);
    # the older frames enter the time blocks through the first pass's keys and values. False: every pass over
    # the whole window (each pass then equals window_step's, its cost too)
    stream_reuse: bool = True
    # (H, W) frames are resized to when the caller names no size; None: model_resolution. A model
    # trained small can run best larger (the shipped default model), without changing its displacement scale.
    default_image_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_resolution", tuple(int(v) for v in self.model_resolution))
        object.__setattr__(self, "encoder_dims", tuple(int(v) for v in self.encoder_dims))
        if self.default_image_size is not None:
            object.__setattr__(self, "default_image_size", tuple(int(v) for v in self.default_image_size))
        checks = {
            "window_len": self.window_len >= 2,
            "stride": self.stride >= 1,
            "corr_radius": self.corr_radius >= 0,
            "corr_levels": self.corr_levels >= 1,
            "num_virtual_tracks": self.num_virtual_tracks >= 1,
            "model_resolution": len(self.model_resolution) == 2 and min(self.model_resolution) > 0,
            "encoder_dims": len(self.encoder_dims) == 4 and min(self.encoder_dims) > 0,
            "default_image_size": self.default_image_size is None
            or (len(self.default_image_size) == 2 and min(self.default_image_size) > 0),
            "hidden_size": self.hidden_size % self.num_heads == 0,
            "time_depth": self.time_depth >= 1,
            "stream_iters": self.stream_iters >= 1,
            "stream_refine": 1 <= self.stream_refine < self.window_len,
            "space_depth": 0 <= self.space_depth <= self.time_depth
            and (self.space_depth == 0 or self.time_depth % self.space_depth == 0),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid ModelConfig values: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    # --- derived sizes -------------------------------------------------------------
    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) model input when the caller names none."""
        return self.default_image_size or self.model_resolution

    @property
    def window_step(self) -> int:
        """Online sliding-window step (half a window, as published)."""
        return self.window_len // 2

    @property
    def corr_window(self) -> int:
        """Side of the sampled neighbourhood: 2r+1 (7 for r=3)."""
        return 2 * self.corr_radius + 1

    @property
    def corr_size(self) -> int:
        """Correlation values per (frame, point, level): (2r+1)^4 (2401 for r=3)."""
        return self.corr_window**4

    @property
    def posenc_dim(self) -> int:
        """Displacement encoding size: 4 raw values + sin/cos at each degree."""
        return 4 * (1 + 2 * self.posenc_degrees)

    @property
    def input_dim(self) -> int:
        """Transformer token size: vis, conf, per-level correlation features, encoding."""
        return 2 + self.corr_levels * self.corr_dim + self.posenc_dim

    # --- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model_resolution"] = list(self.model_resolution)
        d["encoder_dims"] = list(self.encoder_dims)
        if self.default_image_size is None:
            del d["default_image_size"]  # absent unless set: configs written before it existed read the same
        else:
            d["default_image_size"] = list(self.default_image_size)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def published(cls, variant: str = "online") -> "ModelConfig":
        """The published CoTracker3 configuration (online window 16, offline 60)."""
        if variant not in PUBLISHED_WINDOW_LEN:
            raise ValueError(f"variant must be one of {sorted(PUBLISHED_WINDOW_LEN)}, got {variant!r}")
        return cls(window_len=PUBLISHED_WINDOW_LEN[variant])
