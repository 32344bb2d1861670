"""Training checkpoints: the model in the published layout (loadable by `rt_edge.model.load_checkpoint`)
with its config, plus what an exact resume needs (optimizer state, step, RNG)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from rt_edge.model import CoTracker3


def save(path: str | os.PathLike, model: CoTracker3, optimizer: torch.optim.Optimizer | None, step: int,
         extra: dict[str, Any] | None = None) -> Path:
    """Write atomically (a crash mid-write leaves the previous file intact)."""
    state = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": model.cfg.to_dict(),
        "step": step,
        "torch_rng": torch.get_rng_state(),
        **({"optimizer": optimizer.state_dict()} if optimizer is not None else {}),
        **(extra or {}),
    }
    return save_atomic(state, path)


def save_atomic(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """torch.save through a temporary file: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load(path: str | os.PathLike) -> dict[str, Any]:
    """The saved dict, read weights-only (a checkpoint never runs code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


def resume(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore model, optimizer and torch RNG from a training checkpoint; returns the step to continue at."""
    state = load(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["step"])
