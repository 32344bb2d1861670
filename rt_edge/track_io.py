"""Saving and loading tracks (.npz, .csv, .json) and reading query points from a user CSV.

Torch-free (numpy + the standard library). Array layout everywhere:
    frames (F,) int, ids (K,) int, xy (F, K, 2) float pixels (x, y) with NaN where unknown,
    visible (F, K) bool, confidence (F, K) float.
.npz round-trips exactly. .csv and .json hold one row per (frame, id) with a finite position:
rows with NaN xy are skipped, x/y keep 3 decimals and confidence 4.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np

TRACK_FORMATS = (".npz", ".csv", ".json")
CSV_HEADER = ("frame", "id", "x", "y", "visible", "confidence")
_KEYS = ("frames", "ids", "xy", "visible", "confidence")

PathLike = str | os.PathLike


def _format_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in TRACK_FORMATS:
        raise ValueError(f"unsupported tracks file extension {ext or '(none)'!r} for {path}: "
                         f"expected one of {', '.join(TRACK_FORMATS)}")
    return ext


def _check_arrays(frames, ids, xy, visible, confidence) -> dict[str, np.ndarray]:
    """The five arrays as numpy, shapes and kinds checked against each other."""
    frames, ids = np.asarray(frames), np.asarray(ids)
    xy, visible, confidence = np.asarray(xy), np.asarray(visible), np.asarray(confidence)
    if frames.ndim != 1 or (frames.size and frames.dtype.kind not in "iu"):
        raise ValueError(f"frames must be a 1-D integer array (F,), got {frames.dtype} {frames.shape}")
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(f"ids must be a 1-D integer array (K,), got {ids.dtype} {ids.shape}")
    F, K = frames.shape[0], ids.shape[0]
    if xy.shape != (F, K, 2):
        raise ValueError(f"xy must have shape (F, K, 2) = ({F}, {K}, 2), got {xy.shape}")
    if visible.shape != (F, K):
        raise ValueError(f"visible must have shape (F, K) = ({F}, {K}), got {visible.shape}")
    if confidence.shape != (F, K):
        raise ValueError(f"confidence must have shape (F, K) = ({F}, {K}), got {confidence.shape}")
    if xy.size and xy.dtype.kind not in "fiu":
        raise ValueError(f"xy must be numeric, got {xy.dtype}")
    if confidence.size and confidence.dtype.kind not in "fiu":
        raise ValueError(f"confidence must be numeric, got {confidence.dtype}")
    if np.unique(ids).size != K:
        raise ValueError(f"ids must be unique, got {ids.tolist()}")
    if np.unique(frames).size != F:
        raise ValueError(f"frames must be unique, got {frames.tolist()}")
    return {
        "frames": frames.astype(np.int64, copy=False),
        "ids": ids.astype(np.int64, copy=False),
        "xy": xy if xy.dtype.kind == "f" else xy.astype(np.float64),
        "visible": visible.astype(bool, copy=False),
        "confidence": confidence if confidence.dtype.kind == "f" else confidence.astype(np.float64),
    }


def _rows(a: dict[str, np.ndarray]):
    """(frame, id, x, y, visible, confidence) for every (f, k) with a finite position, frame-major."""
    fi, ki = np.nonzero(np.isfinite(a["xy"]).all(axis=-1))
    for f, k in zip(fi.tolist(), ki.tolist()):
        x, y = a["xy"][f, k]
        yield (int(a["frames"][f]), int(a["ids"][k]), float(x), float(y), bool(a["visible"][f, k]),
               float(a["confidence"][f, k]))


def write_tracks(path: PathLike, frames: np.ndarray, ids: np.ndarray, xy: np.ndarray, visible: np.ndarray,
                 confidence: np.ndarray) -> Path:
    """Save tracks; the format comes from the extension (.npz, .csv or .json). Returns the path.

    frames (F,) int, ids (K,) int, xy (F, K, 2) float (NaN = unknown), visible (F, K) bool,
    confidence (F, K) float. The parent directory is created.
    """
    path = Path(path)
    fmt = _format_of(path)
    a = _check_arrays(frames, ids, xy, visible, confidence)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".npz":
        with open(path, "wb") as fh:  # a file object: np.savez would otherwise append ".npz" itself
            np.savez_compressed(fh, **a)
    elif fmt == ".csv":
        lines = [",".join(CSV_HEADER)]
        lines += [f"{f},{i},{x:.3f},{y:.3f},{int(v)},{c:.4f}" for f, i, x, y, v, c in _rows(a)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        rows = [
            {"frame": f, "id": i, "x": round(x, 3), "y": round(y, 3), "visible": v,
             "confidence": round(c, 4) if math.isfinite(c) else None}  # NaN is not JSON
            for f, i, x, y, v, c in _rows(a)
        ]
        path.write_text(json.dumps(rows, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def _from_rows(rows: list[tuple[int, int, float, float, bool, float]], where: list[str]) -> dict[str, np.ndarray]:
    """Dense arrays from sparse rows: frames and ids sorted ascending, NaN xy / not visible /
    confidence 0 where a (frame, id) has no row."""
    frames = np.array(sorted({r[0] for r in rows}), dtype=np.int64)
    ids = np.array(sorted({r[1] for r in rows}), dtype=np.int64)
    F, K = frames.size, ids.size
    xy = np.full((F, K, 2), np.nan)
    visible = np.zeros((F, K), bool)
    confidence = np.zeros((F, K))
    seen = np.zeros((F, K), bool)
    fi = np.searchsorted(frames, [r[0] for r in rows])
    ki = np.searchsorted(ids, [r[1] for r in rows])
    for n, (f, k, r) in enumerate(zip(fi.tolist(), ki.tolist(), rows)):
        if seen[f, k]:
            raise ValueError(f"{where[n]}: second row for frame {r[0]}, id {r[1]}")
        seen[f, k] = True
        xy[f, k] = r[2], r[3]
        visible[f, k] = r[4]
        confidence[f, k] = r[5]
    return {"frames": frames, "ids": ids, "xy": xy, "visible": visible, "confidence": confidence}


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true"):
        return True
    if t in ("0", "false"):
        return False
    raise ValueError(f"visible must be 0 or 1, got {text!r}")


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header = tuple(h.strip() for h in lines[0].split(",")) if lines else ()
    if header != CSV_HEADER:
        raise ValueError(f"{path}:1: expected the header {','.join(CSV_HEADER)!r}, got {lines[0] if lines else ''!r}")
    rows, where = [], []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        try:
            if len(parts) != len(CSV_HEADER):
                raise ValueError(f"expected {len(CSV_HEADER)} fields, got {len(parts)}")
            rows.append((int(parts[0]), int(parts[1]), float(parts[2]), float(parts[3]), _parse_bool(parts[4]),
                         float(parts[5])))
        except ValueError as e:
            raise ValueError(f"{path}:{n}: malformed row {line!r} ({e})") from None
        where.append(f"{path}:{n}")
    return _from_rows(rows, where)


def _read_json(path: Path) -> dict[str, np.ndarray]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of row objects, got {type(data).__name__}")
    rows, where = [], []
    for n, obj in enumerate(data):
        try:
            if not isinstance(obj, dict) or set(obj) != set(CSV_HEADER):
                raise ValueError(f"expected an object with keys {', '.join(CSV_HEADER)}")
            v = obj["visible"]
            if v not in (True, False, 0, 1):
                raise ValueError(f"visible must be true/false, got {v!r}")
            c = obj["confidence"]
            rows.append((int(obj["frame"]), int(obj["id"]), float(obj["x"]), float(obj["y"]), bool(v),
                         math.nan if c is None else float(c)))
        except (ValueError, TypeError) as e:
            raise ValueError(f"{path}: row {n}: malformed {obj!r} ({e})") from None
        where.append(f"{path}: row {n}")
    return _from_rows(rows, where)


def read_tracks(path: PathLike) -> dict[str, np.ndarray]:
    """Load tracks saved by `write_tracks` as a dict with keys frames, ids, xy, visible, confidence.

    .npz gives back exactly what was written. .csv / .json are rebuilt from their rows: frames and
    ids sorted ascending (a frame or id with no finite row anywhere is absent), xy NaN, visible
    False and confidence 0 where a (frame, id) has no row; float64 arrays.
    """
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise FileNotFoundError(f"tracks file not found: {path}")
    if fmt == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in _KEYS if k not in z.files]
                if missing:
                    raise ValueError(f"{path}: missing arrays {', '.join(missing)} (expected {', '.join(_KEYS)})")
                out = {k: z[k] for k in _KEYS}
        except (OSError, EOFError) as e:  # not a zip / truncated
            raise ValueError(f"{path}: not a readable .npz file ({e})") from None
        return out
    return _read_csv(path) if fmt == ".csv" else _read_json(path)


def read_points_csv(path: PathLike) -> np.ndarray:
    """Query points (K, 3) float64 rows (t, x, y) from a CSV: t a frame index >= 0, x/y pixels.

    An optional first line `t,x,y` is a header; blank lines and lines starting with '#' are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"points file not found: {path}")
    rows: list[tuple[float, float, float]] = []
    first = True
    for n, line in enumerate(io.StringIO(path.read_text(encoding="utf-8-sig")), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [p.strip() for p in text.split(",")]
        if first and [f.lower() for f in fields] == ["t", "x", "y"]:
            first = False
            continue
        first = False
        try:
            if len(fields) != 3:
                raise ValueError(f"{len(fields)} fields")
            t, x, y = (float(v) for v in fields)
        except ValueError:
            raise ValueError(f"{path}:{n}: expected 't,x,y' (three numbers), got {text!r}") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"{path}:{n}: x and y must be finite, got {text!r}")
        if not (math.isfinite(t) and t >= 0 and t == int(t)):
            raise ValueError(f"{path}:{n}: t must be a frame index (an integer >= 0), got {fields[0]!r}")
        rows.append((t, x, y))
    if not rows:
        raise ValueError(f"no points in {path}: expected lines 't,x,y'")
    return np.array(rows, dtype=np.float64)
