"""Torch executor: runs the model pieces of `rt_edge.model` directly (CPU or CUDA)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..model import CoTracker3
from .base import history_columns

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class TorchExecutor:
    name = "torch"

    def __init__(self, model: CoTracker3, image_size: tuple[int, int], iters: int = 6, device: str = "cpu",
                 dtype: str = "float32"):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.device = torch.device(device)
        if dtype != "float32" and self.device.type != "cuda":
            raise ValueError(f"dtype {dtype} needs a CUDA device; got device {device!r} (use float32 on CPU)")
        self.model = model.eval().to(self.device)
        self.cfg = model.cfg
        self.image_size = tuple(int(v) for v in image_size)
        self.iters = iters
        self.amp_dtype = _DTYPES[dtype]
        self.stream_iters = model.cfg.stream_iters
        self.stream_refine = model.cfg.stream_refine  # frames frame_step refines per push (the newest R)

    def _ctx(self):
        enabled = self.amp_dtype != torch.float32
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=enabled)

    @torch.no_grad()
    def encode(self, image: np.ndarray) -> list[torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1)[None, None]
        with self._ctx():
            levels = self.model.pyramid(self.model.encode(x.float()))
        return [lvl[0, 0] for lvl in levels]  # each (C, h, w)

    @torch.no_grad()
    def query_features(self, frame: list[torch.Tensor], xy: np.ndarray) -> torch.Tensor:
        xy_t = torch.as_tensor(xy, dtype=torch.float32, device=self.device)[None]
        pyramid = [lvl[None, None].float() for lvl in frame]
        t = torch.zeros(1, xy_t.shape[1], dtype=torch.long, device=self.device)
        return self.model.query_features(pyramid, t, xy_t)[0]

    def zero_queries(self, count: int) -> torch.Tensor:
        k, cfg = self.cfg.corr_window, self.cfg
        return torch.zeros(count, cfg.corr_levels, k, k, cfg.latent_dim, device=self.device)

    def concat_queries(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(parts), dim=0) if parts else self.zero_queries(0)

    @torch.no_grad()
    def window_step(self, frames, coords, vis, conf, query_feats, active):
        dev = self.device
        levels = [torch.stack([f[lvl] for f in frames])[None] for lvl in range(self.cfg.corr_levels)]
        mask = torch.as_tensor(active, device=dev, dtype=query_feats.dtype)[:, None, None, None, None]
        args = [torch.as_tensor(a, dtype=torch.float32, device=dev)[None] for a in (coords, vis, conf)]
        with self._ctx():
            c, v, f = self.model.window_step(levels, *args, (query_feats * mask)[None], self.iters)
        return tuple(x[-1][0].float().cpu().numpy() for x in (c, v, f))

    @torch.no_grad()
    def frame_step(self, frames, history, cols, coords, vis, conf, query_feats):
        dev, cfg = self.device, self.cfg
        cols = np.asarray(cols, np.int64)
        past = history_columns(history, cols, cfg.window_len - 1, cfg.corr_levels * cfg.corr_dim,
                               lambda shape: torch.zeros(shape, device=dev))
        fresh = torch.from_numpy(cols < 0).to(dev)[None]
        args = [torch.as_tensor(a, dtype=torch.float32, device=dev)[None] for a in (coords, vis, conf)]
        levels = [torch.stack([f[lvl] for f in frames])[None] for lvl in range(cfg.corr_levels)]
        with self._ctx():
            c, v, f, hist = self.model.frame_step(levels, past[None], *args, query_feats[None], fresh,
                                                  self.stream_iters)
        return (*(x[-1][0].float().cpu().numpy() for x in (c, v, f)), hist[0])
