"""Executors of the per-window graphs, chosen by name: "torch" (a checkpoint; needs torch) or
"onnxruntime" (a directory written by `python -m export onnx`; no torch needed) or "tensorrt"
(the same directory with plans from `python -m export trt`; no torch needed), or "auto" (`choose_backend`)."""

from __future__ import annotations

from typing import Any

from ..config import ModelConfig
from .base import Executor

BACKENDS = ("torch", "onnxruntime", "tensorrt")
AUTO = "auto"


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def choose_backend(src: Any = None, backend: str = AUTO, *, image_size=None, iters: int = 6,
                   stream_iters: int | None = None, stream_refine: int | None = None,
                   device: str = "cpu") -> tuple[str, str]:
    """(backend, why): `backend` itself unless it is "auto". Auto picks onnxruntime for an export directory, and
    for no source when the package's ONNX export ships and fits the request (its image size, iterations and
    stream settings, on the CPU); torch for a checkpoint, or for no source when the export does not fit or
    onnxruntime is missing."""
    if backend != AUTO:
        return backend, "asked for"
    from pathlib import Path

    if isinstance(src, (str, Path)) and Path(src).is_dir():
        return "onnxruntime", "an export directory"
    if src is not None:
        return "torch", "a checkpoint"
    from ..default_model import shipped
    from .onnx_meta import read_meta

    export = shipped("onnxruntime")
    reason = None
    if export is None:
        reason = "the package's ONNX export is not installed"
    elif not _installed("onnxruntime"):
        reason = "onnxruntime is not installed"
    else:
        meta = read_meta(export)
        asks = {"image size": (image_size is None or tuple(image_size) == tuple(meta["image_size"]),
                               f"{tuple(meta['image_size'])}"),
                "iters": (iters == meta["iters"], str(meta["iters"])),
                "stream iters": (stream_iters is None or stream_iters == meta.get("stream_iters"),
                                 str(meta.get("stream_iters"))),
                "stream refine": (stream_refine is None or stream_refine == meta.get("stream_refine"),
                                  str(meta.get("stream_refine"))),
                "device": (str(device) == "cpu", "cpu")}
        misfit = [f"{k} (the export has {v})" for k, (ok, v) in asks.items() if not ok]
        if not misfit:
            return "onnxruntime", "the package's default model as ONNX (no torch needed)"
        reason = "the shipped export does not fit the " + ", ".join(misfit)
    if not _installed("torch"):
        raise ValueError(f"no backend can run the default model: {reason}, and torch is not installed "
                         "(pip install 'rt-edge[onnx]' or 'rt-edge[torch]')")
    return "torch", f"the package's default weights ({reason})"


def check_image_size(image_size, cfg: ModelConfig) -> tuple[int, int]:
    """Validate an (H, W) model input size against the stride and the pyramid depth; None: the config's."""
    if image_size is None:
        image_size = cfg.image_size
    try:
        H, W = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (H, W), got {image_size!r}") from None
    min_size = cfg.stride * 2 ** (cfg.corr_levels - 1)
    if H % cfg.stride or W % cfg.stride or H < min_size or W < min_size:
        raise ValueError(f"image_size {H}x{W}: both sides must be multiples of {cfg.stride} and at least {min_size}")
    return H, W


def load_executor(src: Any, backend: str = "torch", device: str = "cpu", image_size=None, iters: int = 6,
                  dtype: str = "float32", providers=None) -> Executor:
    """An executor for `src`: a checkpoint path, state dict or CoTracker3 (torch), or an export
    directory (onnxruntime; image size and iterations are those of the export). backend "auto": see
    `choose_backend`."""
    if backend == AUTO:
        backend, _ = choose_backend(src, backend, image_size=image_size, iters=iters, device=device)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS + (AUTO,)}, got {backend!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    if backend in ("onnxruntime", "tensorrt"):
        if backend == "onnxruntime":
            from .onnxruntime_backend import OrtExecutor

            ex = OrtExecutor(src, providers=providers, device=device)
        else:
            from .tensorrt_backend import TrtExecutor

            ex = TrtExecutor(src)
        if image_size is not None and tuple(image_size) != ex.image_size:
            raise ValueError(f"image_size {tuple(image_size)} differs from the export's {ex.image_size}; re-export")
        return ex
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ValueError("the torch backend needs PyTorch: pip install 'rt-edge[torch]'") from None
    from ..model import CoTracker3, load_checkpoint
    from .torch_backend import TorchExecutor

    model = src if isinstance(src, CoTracker3) else load_checkpoint(src)
    size = check_image_size(image_size, model.cfg)
    return TorchExecutor(model, size, iters=iters, device=device, dtype=dtype)
