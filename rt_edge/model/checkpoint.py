"""Loading published-layout CoTracker3 checkpoints (and the project's own) safely.

Accepted: a path to a .pth/.pt file, or a mapping of name -> torch tensor / numpy array;
either a bare state dict or one wrapped under "model" (or "state_dict"), optionally with
a "config" dict (the project's own checkpoints carry one). Files are read with
`torch.load(weights_only=True)`: a checkpoint can never run code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..config import ModelConfig
from .cotracker3 import CoTracker3

_WRAPPER_KEYS = ("model", "state_dict")
_PREFIXES = ("module.", "model.")


def _read(src: Any) -> Mapping[str, Any]:
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"checkpoint not found: {path}")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle/zip errors: one clear line, not a traceback chain
            raise ValueError(f"{path} is not a readable weights-only PyTorch checkpoint: {e}") from None
    if isinstance(src, Mapping):
        return src
    raise ValueError(f"checkpoint source must be a file path or a dict of tensors, got {type(src).__name__}")


def split_checkpoint(obj: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """-> (state dict of torch tensors with wrapper prefixes removed, embedded config or None)."""
    config = obj.get("config") if isinstance(obj.get("config"), Mapping) else None
    for key in _WRAPPER_KEYS:
        if isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    state = {}
    for name, value in obj.items():
        if not isinstance(name, str):
            raise ValueError(f"checkpoint keys must be strings, got {name!r}")
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.ascontiguousarray(value))
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"checkpoint entry {name!r} is a {type(value).__name__}, expected a tensor or array")
        state[name] = value
    for prefix in _PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state, (dict(config) if config is not None else None)


def _check_layout(model: CoTracker3, state: Mapping[str, torch.Tensor]) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(given) - {"time_emb"})
    unexpected = sorted(set(given) - set(expected))
    misshaped = sorted(f"{k} {given[k]} (expected {expected[k]})" for k in set(given) & set(expected) if given[k] != expected[k])
    if missing or unexpected or misshaped:

        def show(items):
            return ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")

        parts = [f"{label}: {show(items)}" for label, items in
                 (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if items]
        raise ValueError("checkpoint is not a CoTracker3 model of this configuration; " + "; ".join(parts))


def load_checkpoint(src: Any, window_len: int | None = None, config: ModelConfig | None = None) -> CoTracker3:
    """Build a CoTracker3 and load `src` into it (eval mode, float32, CPU).

    window_len comes from the checkpoint's `time_emb` when present, else from the
    argument, else the online default (16; the published offline models use 60).
    """
    state, embedded = split_checkpoint(_read(src))
    cfg = config or (ModelConfig.from_dict(embedded) if embedded else ModelConfig())
    if "time_emb" in state:
        if state["time_emb"].ndim != 3:
            raise ValueError(f"time_emb must be (1, window_len, dim), got {tuple(state['time_emb'].shape)}")
        found = int(state["time_emb"].shape[1])
        if window_len is not None and window_len != found:
            raise ValueError(f"window_len={window_len} disagrees with the checkpoint's time_emb length {found}")
        window_len = found
    if window_len is not None:
        if isinstance(window_len, bool) or not isinstance(window_len, int) or window_len < 2:
            raise ValueError(f"window_len must be an int >= 2, got {window_len!r}")
        cfg = cfg.replace(window_len=window_len)
    model = CoTracker3(cfg)
    _check_layout(model, state)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict="time_emb" in state)
    return model.eval()
