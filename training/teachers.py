"""Pseudo-label teachers: frozen trackers behind one interface, chosen by a SPEC string.

A teacher is a callable (video (T, H, W, 3) uint8 RGB, queries (N, 3) rows (t, x, y) px) ->
(tracks (N, T, 2) float32 (x, y) px, occluded (N, T) bool), an rt_edge.evaluation.trackers
Predictor, defined on every frame (before the query frame too). Teachers are never trained:
checkpoints are loaded once, put in eval mode with requires_grad off, and run without gradients.

SPEC forms (fields separated by ':'; options as comma-separated key=value):
  ckpt:PATH[:online|offline][:OPTS]   a project checkpoint (torch backend), online by default;
                                      OPTS: iters=6, size=HxW (model input; default the model's
                                      resolution), support=joint|single, backward=1|0
  onnx:DIR[:OPTS]                     a `python -m export onnx` directory run with onnxruntime;
                                      OPTS: support, backward
  trt:DIR[:OPTS]                      the same directory with TensorRT plans (needs tensorrt)
  lk[:OPTS]                           OpenCV pyramidal Lucas-Kanade; OPTS: win=21, levels=3, fb=1.0
  flow[:OPTS]                         chained dense optical flow (rt_edge.evaluation.flow_tracker);
                                      OPTS: method=dis|farneback, fb=1.0
  NAME                                a callable registered with register_teacher(NAME, fn)
backward=1 (the default) also tracks each point before its query frame, so labels exist on every
frame (mean/median/verifier selection and offline students use them); backward=0 halves the cost
and fills those frames with the query position, marked occluded. Paths may not contain ':'.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

Teacher = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

BUILTIN = ("ckpt", "onnx", "trt", "lk", "flow")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_REGISTRY: dict[str, Teacher] = {}

_OPTIONS = {
    "ckpt": {"iters": int, "size": "hw", "support": str, "backward": "bool"},
    "onnx": {"support": str, "backward": "bool"},
    "trt": {"support": str, "backward": "bool"},
    "lk": {"win": int, "levels": int, "fb": float},
    "flow": {"method": str, "fb": float},
}


def register_teacher(name: str, fn: Teacher) -> None:
    """Make `fn` (video, queries) -> (tracks, occluded) available as the teacher SPEC `name`."""
    if not isinstance(name, str) or not _NAME.match(name) or name in BUILTIN:
        raise ValueError(f"teacher name must match {_NAME.pattern} and not be one of {BUILTIN}, got {name!r}")
    if not callable(fn):
        raise ValueError(f"teacher {name!r} must be callable (video, queries) -> (tracks, occluded), got "
                         f"{type(fn).__name__}")
    _REGISTRY[name] = fn


def unregister_teacher(name: str) -> None:
    """Forget a registered teacher (no error when absent)."""
    _REGISTRY.pop(name, None)


def registered_teachers() -> list[str]:
    """Names usable as SPEC besides the built-in kinds."""
    return sorted(_REGISTRY)


def _convert(kind: str, key: str, value: str, spec: str):
    want = _OPTIONS[kind][key]
    try:
        if want == "hw":
            h, w = value.lower().split("x")
            return int(h), int(w)
        if want == "bool":
            if value not in ("0", "1"):
                raise ValueError
            return value == "1"
        return want(value)
    except ValueError:
        form = {"hw": "HxW", "bool": "0 or 1"}.get(want, getattr(want, "__name__", str(want)))
        raise ValueError(f"teacher {spec!r}: option {key}={value!r} is not a valid {form}") from None


def _options(kind: str, text: str, spec: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in _OPTIONS[kind]:
            raise ValueError(f"teacher {spec!r}: unknown option {item!r}; {kind} takes "
                             f"{', '.join(k + '=' for k in _OPTIONS[kind])}")
        out[key] = _convert(kind, key, value, spec)
    return out


def parse_spec(spec: str) -> tuple[str, str | None, dict]:
    """SPEC -> (kind, argument, options): kind is a built-in kind or a registered name; argument
    the path (ckpt/onnx/trt; for ckpt the mode is in options["mode"]). No file is opened here."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"teacher SPEC must be a non-empty string, got {spec!r}")
    kind, _, rest = spec.partition(":")
    if kind not in BUILTIN:
        if kind in _REGISTRY and not rest:
            return kind, None, {}
        known = ", ".join([*(f"{k}:..." for k in BUILTIN[:3]), "lk", "flow", *registered_teachers()])
        raise ValueError(f"unknown teacher {spec!r}; expected one of {known}")
    if kind in ("lk", "flow"):
        return kind, None, _options(kind, rest, spec)
    fields = rest.split(":")
    if not fields[0]:
        raise ValueError(f"teacher {spec!r}: {kind} needs a path, e.g. {kind}:PATH")
    path, opts = fields[0], {}
    for field in fields[1:]:
        if kind == "ckpt" and field in ("online", "offline"):
            if "mode" in opts:
                raise ValueError(f"teacher {spec!r}: mode given twice")
            opts["mode"] = field
        elif "=" in field:
            opts.update(_options(kind, field, spec))
        else:
            modes = "online|offline or " if kind == "ckpt" else ""
            raise ValueError(f"teacher {spec!r}: unexpected field {field!r}; expected {modes}key=value options")
    return kind, path, opts


def _checked(spec: str, fn: Teacher) -> Teacher:
    """fn with its outputs validated (shapes, finiteness, dtypes): a bad teacher fails at its first call."""

    def run(video: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tracks, occluded = fn(video, queries)
        tracks, occluded = np.asarray(tracks), np.asarray(occluded)
        n, T = len(queries), len(video)
        if tracks.shape != (n, T, 2) or occluded.shape != (n, T):
            raise ValueError(f"teacher {spec!r} returned tracks {tracks.shape} and occluded {occluded.shape}; "
                             f"expected ({n}, {T}, 2) and ({n}, {T})")
        if not np.isfinite(tracks).all():
            raise ValueError(f"teacher {spec!r} returned non-finite positions (every frame needs a position)")
        if occluded.dtype != bool:
            raise ValueError(f"teacher {spec!r} returned occluded of dtype {occluded.dtype}; expected bool")
        return tracks.astype(np.float32), occluded

    return run


def _model_teacher(kind: str, path: str, opts: dict) -> Teacher:
    from rt_edge.evaluation.trackers import rt_edge_predictor

    src = Path(path)
    common = dict(support=opts.get("support", "joint"), backward=opts.get("backward", True))
    if kind == "ckpt":
        if not src.is_file():
            raise FileNotFoundError(f"teacher checkpoint not found: {src}")
        from rt_edge.model import load_checkpoint

        model = load_checkpoint(src).eval().requires_grad_(False)  # frozen: never updated
        return rt_edge_predictor(model, backend="torch", mode=opts.get("mode", "online"),
                                 image_size=opts.get("size"), iters=opts.get("iters", 6), **common)
    if not src.is_dir():
        raise FileNotFoundError(f"teacher export directory not found: {src} (write one with python -m export onnx)")
    backend = "onnxruntime" if kind == "onnx" else "tensorrt"
    return rt_edge_predictor(str(src), backend=backend, mode="online", **common)


def load_teacher(spec: str) -> Teacher:
    """The teacher a SPEC names (see the module doc), its outputs checked at every call."""
    kind, path, opts = parse_spec(spec)
    if kind in _REGISTRY and kind not in BUILTIN:
        return _checked(spec, _REGISTRY[kind])
    if kind == "lk":
        from rt_edge.evaluation.lk import lk_predictor

        return _checked(spec, lk_predictor(win_size=opts.get("win", 21), levels=opts.get("levels", 3),
                                           fb_threshold=opts.get("fb", 1.0)))
    if kind == "flow":
        from rt_edge.evaluation.flow_tracker import flow_predictor

        return _checked(spec, flow_predictor(method=opts.get("method", "dis"), fb_threshold=opts.get("fb", 1.0)))
    return _checked(spec, _model_teacher(kind, path, opts))


def load_teachers(specs: list[str]) -> list[Teacher]:
    """One teacher per SPEC, in order (at least one)."""
    if not specs:
        raise ValueError("give at least one teacher SPEC")
    return [load_teacher(s) for s in specs]
