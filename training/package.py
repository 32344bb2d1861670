"""Turn a training checkpoint into the package's default weights: fp16, config (with the input size
it runs best at) and a model card inside, optimizer state and RNG dropped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from rt_edge.model import load_checkpoint

from .checkpoints import save_atomic

FP16_MAX = float(torch.finfo(torch.float16).max)


def package(src: str | os.PathLike, out: str | os.PathLike, image_size: tuple[int, int] | None = None,
            card: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write `out` from checkpoint `src`; returns a summary (bytes written, worst fp16 rounding).

    image_size (H, W) becomes the config's default_image_size, what loaders use when the caller
    names none. A weight beyond fp16's range is an error, not a silent inf. The training step of
    `src` (a trainer checkpoint) travels along as "step", so a snapshot says where its run stood.
    """
    from rt_edge.backends import check_image_size

    model = load_checkpoint(src)  # first: its errors name a missing or unreadable file
    raw = torch.load(src, map_location="cpu", weights_only=True) if isinstance(src, (str, os.PathLike)) else src
    step = raw.get("step") if isinstance(raw, dict) else None
    cfg = model.cfg
    if image_size is not None:
        cfg = cfg.replace(default_image_size=check_image_size(image_size, cfg))
    state = model.state_dict()
    floats = {k: v for k, v in state.items() if v.is_floating_point() and v.numel()}
    too_big = {k: float(v.abs().max()) for k, v in floats.items() if float(v.abs().max()) > FP16_MAX}
    if too_big:
        raise ValueError(f"weights beyond fp16's range {FP16_MAX:g}: {too_big}")
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    rounding = max((float((half[k].float() - v).abs().max()) for k, v in floats.items()), default=0.0)
    extra = {} if step is None else {"step": int(step)}
    path = save_atomic({"model": half, "config": cfg.to_dict(), "card": dict(card or {}), **extra}, out)
    return {"out": str(path), **extra, "bytes": path.stat().st_size,
            "parameters": sum(v.numel() for v in state.values()), "max_fp16_rounding": rounding,
            "image_size": list(cfg.image_size), "config": cfg.to_dict()}


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """The model card stored in a packaged checkpoint ({} when it has none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no packaged weights at {path}")
    return dict(torch.load(path, map_location="cpu", weights_only=True).get("card", {}))
