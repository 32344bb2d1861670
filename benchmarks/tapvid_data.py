"""TAP-Vid readers: the published pickles -> evaluation examples on the 256x256 raster (numpy + OpenCV).

Published layouts (tapnet's tapvid README and readers; CoTracker's for RoboTAP's file names):
- DAVIS: one pickle, a dict video name -> {"video", "points", "occluded"}.
- RGB-Stacking: one pickle, a list of such dicts (no names; named by index here).
- Kinetics: a directory of shards "0000_of_0010.pkl" ..., each a list of such dicts whose "video"
  is a sequence (a numpy bytes array) of JPEG-encoded frames.
- RoboTAP: a directory of "robotap_split*.pkl", each a dict name -> example (or one such file).
In every example "video" is (T, H, W, 3) uint8 RGB or T encoded JPEG frames (both are handled for
every dataset), "points" (N, T, 2) (x, y) normalised to [0, 1] of the frame, "occluded" (N, T) bool.

Examples are what `rt_edge.evaluation.tapvid.compute_metrics` needs (batch of one):
query_points (1, Q, 3) rows (t, y, x), target_points (1, Q, T, 2) (x, y), occluded (1, Q, T), all on
the 256x256 raster, plus video (T, 256, 256, 3) uint8 and name.

The pickles are third-party files: they are read with an unpickler that admits only containers,
scalars and numpy arrays and refuses every other global with a ValueError (no code can run).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rt_edge.safe_pickle import read_pickle

DATASETS = ("davis", "rgb_stacking", "kinetics", "robotap")
QUERY_MODES = ("first", "strided")
QUERY_STRIDE = 5  # "strided": a query every 5 frames (tapnet's sample_queries_strided default)
RASTER = 256  # the benchmark's evaluation size (H = W)
# How normalised points map to raster pixels: tapnet multiplies by the size (x * 256);
# CoTracker's evaluation by size - 1 (x * 255, its corner-aligned pixel convention).
COORD_CONVENTIONS = {"tapnet": 0, "cotracker": 1}

# Directory layouts: the shard pattern tried first, then any *.pkl.
_SHARD_PATTERNS = {"kinetics": "*_of_*.pkl", "robotap": "robotap_split*.pkl"}
_FILE_ONLY = ("davis", "rgb_stacking")


# ---------------------------------------------------------------- raw videos
def pickle_files(dataset: str, path: str | Path) -> list[Path]:
    """The pickle files of `dataset` at `path` (a file, or for kinetics/robotap a directory of shards)."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{dataset} data not found: {path}")
    if path.is_file():
        return [path]
    if dataset in _FILE_ONLY:
        raise ValueError(f"{path} is a directory; {dataset} is one pickle file (e.g. tapvid_{dataset}.pkl)")
    files = sorted(path.glob(_SHARD_PATTERNS[dataset])) or sorted(path.glob("*.pkl"))
    if not files:
        raise FileNotFoundError(f"no {_SHARD_PATTERNS[dataset]} (or other .pkl) files in {path}")
    return files


def iter_raw_videos(dataset: str, path: str | Path) -> Iterator[tuple[str, dict]]:
    """(name, {"video", "points", "occluded"}) for each video, one pickle file in memory at a time.

    Dicts are named by their keys, lists by index (prefixed with the shard's stem when the data
    is a directory of shards).
    """
    files = pickle_files(dataset, path)
    for f in files:
        data = read_pickle(f)
        prefix = f"{f.stem}/" if len(files) > 1 else ""
        if isinstance(data, dict):
            items = ((str(k), v) for k, v in data.items())
        elif isinstance(data, (list, tuple)):
            items = ((f"{prefix}{i:04d}", v) for i, v in enumerate(data))
        else:
            raise ValueError(f"{f}: expected a dict or list of videos, got {type(data).__name__}")
        for name, example in items:
            if not isinstance(example, dict) or not {"video", "points", "occluded"} <= set(example):
                raise ValueError(f"{f}: video {name!r} is not a dict with 'video', 'points' and 'occluded'")
            yield name, example


def decode_frames(video: Any) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB from either the array itself or T JPEG-encoded frames (bytes)."""
    if isinstance(video, np.ndarray) and video.dtype == np.uint8:
        if video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(f"video must be (T, H, W, 3) uint8, got {video.shape}")
        return video
    if len(video) and all(isinstance(f, (bytes, bytearray)) for f in video):
        import cv2

        frames = []
        for i, data in enumerate(video):
            bgr = cv2.imdecode(np.frombuffer(bytes(data), np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"frame {i} is not a decodable image ({len(data)} bytes)")
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if len({f.shape for f in frames}) != 1:
            raise ValueError(f"encoded frames differ in size: {sorted({f.shape for f in frames})}")
        return np.stack(frames)
    kind = getattr(video, "dtype", type(video).__name__)
    raise ValueError(f"video must be (T, H, W, 3) uint8 or a sequence of encoded frames, got {kind}")


def resize_video(frames: np.ndarray, size_hw: tuple[int, int] = (RASTER, RASTER)) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, h, w, 3) uint8 with OpenCV: INTER_AREA when shrinking (box-filtered,
    no aliasing), INTER_LINEAR otherwise. (tapnet's reader uses PIL's Lanczos via mediapy.)"""
    import cv2

    h, w = size_hw
    if frames.shape[1:3] == (h, w):
        return frames
    interp = cv2.INTER_AREA if frames.shape[1] >= h and frames.shape[2] >= w else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


# ---------------------------------------------------------------- queries
def sample_queries_first(occluded: np.ndarray, points: np.ndarray) -> dict[str, np.ndarray]:
    """One query per track at its first visible frame; tracks never visible are dropped.

    occluded (N, T) bool, points (N, T, 2) (x, y) raster px -> query_points (1, Q, 3) (t, y, x),
    target_points (1, Q, T, 2), occluded (1, Q, T).
    """
    keep = (~occluded).any(axis=1)
    occ, pts = occluded[keep], points[keep]
    t = np.argmax(~occ, axis=1)  # first visible frame
    xy = pts[np.arange(len(pts)), t]
    q = np.stack([t.astype(np.float64), xy[:, 1], xy[:, 0]], axis=-1)
    return {"query_points": q[None], "target_points": pts[None], "occluded": occ[None]}


def sample_queries_strided(occluded: np.ndarray, points: np.ndarray, stride: int = QUERY_STRIDE
                           ) -> dict[str, np.ndarray]:
    """A query at frames 0, stride, 2*stride, ... for every track visible there (a track may give
    several queries, each a separate target), ordered by query frame then track.

    Same shapes as sample_queries_first, plus track (1, Q): the source track of each query.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    T = occluded.shape[1]
    frames = np.arange(0, T, stride)
    vis = ~occluded[:, frames]  # (N, F)
    f_idx, track = np.nonzero(vis.T)  # frame-major, as the benchmark orders its queries
    t = frames[f_idx]
    xy = points[track, t]
    q = np.stack([t.astype(np.float64), xy[:, 1], xy[:, 0]], axis=-1).reshape(-1, 3)
    return {"query_points": q[None], "target_points": points[track][None], "occluded": occluded[track][None],
            "track": track[None]}


def make_example(name: str, raw: dict, query_mode: str, size: int = RASTER, coords: str = "tapnet") -> dict:
    """One raw video -> an evaluation example on the size x size raster (see the module docstring)."""
    if query_mode not in QUERY_MODES:
        raise ValueError(f"query_mode must be one of {QUERY_MODES}, got {query_mode!r}")
    if coords not in COORD_CONVENTIONS:
        raise ValueError(f"coords must be one of {tuple(COORD_CONVENTIONS)}, got {coords!r}")
    try:
        frames = decode_frames(raw["video"])
    except ValueError as e:
        raise ValueError(f"video {name!r}: {e}") from None
    points = np.asarray(raw["points"], dtype=np.float64)
    occluded = np.asarray(raw["occluded"]).astype(bool)
    T = len(frames)
    if points.ndim != 3 or points.shape[1:] != (T, 2) or occluded.shape != points.shape[:2]:
        raise ValueError(f"video {name!r}: expected points (N, {T}, 2) and occluded (N, {T}) for its {T} frames, "
                         f"got {points.shape} and {occluded.shape}")
    points = points * (size - COORD_CONVENTIONS[coords])
    sampled = (sample_queries_first(occluded, points) if query_mode == "first"
               else sample_queries_strided(occluded, points))
    return {"name": name, "video": resize_video(frames, (size, size)), **sampled}


def load_examples(dataset: str, path: str | Path, query_mode: str, limit: int | None = None, size: int = RASTER,
                  coords: str = "tapnet") -> Iterator[dict]:
    """Evaluation examples of a TAP-Vid dataset, lazily (the first `limit` videos when given)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if query_mode not in QUERY_MODES:
        raise ValueError(f"query_mode must be one of {QUERY_MODES}, got {query_mode!r}")
    pickle_files(dataset, path)  # fail before the first next(): missing data, wrong layout
    return _examples(dataset, path, query_mode, limit, size, coords)


def _examples(dataset, path, query_mode, limit, size, coords) -> Iterator[dict]:
    for i, (name, raw) in enumerate(iter_raw_videos(dataset, path)):
        if limit is not None and i >= limit:
            return
        yield make_example(name, raw, query_mode, size, coords)
