"""Pseudo-labels for unlabelled real videos: clips, teacher tracks, selection, and the label cache.

A labelled clip is a random temporal crop of a real video resized to the training size, its SIFT
queries (training.sift_queries) and the tracks of M teachers for those queries. The label the
student learns from is chosen per clip by `selection`:
- random: one teacher drawn uniformly (per batch, as CoTracker3); on the fly only that teacher runs;
- mean / median: per frame and point, the coordinate-wise mean / median of all M teachers' tracks;
- verifier: a learned model picks per frame (training.verifier.select, imported only then).
For mean, median and verifier the occlusion flag is a majority vote of the teachers: a point is
visible when more than half of them see it (a tie counts as occluded, the cautious side: occluded
frames weigh 1/5 in the track loss).

Cache (--cache DIR): every teacher runs once per clip and all M candidates are stored, so any
selection can be made from it later and random selection still gives a clip different teachers
over epochs. Layout:
  DIR/meta.json                       settings that determine the labels (checked on reuse)
  DIR/<video file name>.cJJJ.npz      one labelled clip: video, frame_ids (T,), frames (T, H, W, 3)
                                      uint8, queries (N, 3), candidates (M, N, T, 2) float32,
                                      occluded (M, N, T) bool, teachers (M,) specs
  DIR/<video file name>.cJJJ.skip.json  a clip SIFT skipped, with the reason
Existing files are reused, never recomputed; clip JJJ of a video is drawn from (seed, name, JJJ)
only, so adding videos changes no existing clip.
"""

from __future__ import annotations

import io
import json
import os
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from .options import SELECTIONS
from .sift_queries import BIAS_POWER, KEYFRAMES, POINTS, sift_queries
from .teachers import Teacher

CACHE_FORMAT = 1


# ---------------------------------------------------------------- real video clips


@dataclass(frozen=True)
class ClipSpec:
    """How clips are cut and queried: length T, output (H, W), SIFT queries per clip and keyframes."""

    frames: int
    size: tuple[int, int]
    points: int = POINTS
    keyframes: int = KEYFRAMES
    power: float = BIAS_POWER

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if self.frames < 2 or min(self.size) < 2 or self.points < 1 or self.keyframes < 1:
            raise ValueError(f"need frames >= 2, size >= 2x2, points >= 1, keyframes >= 1; got {self.frames}, "
                             f"{self.size}, {self.points}, {self.keyframes}")


def list_videos(root: str | os.PathLike) -> list[Path]:
    """Sorted video files and folders of images directly under the directory root (`rt_edge.video.list_clips`)."""
    from rt_edge.video import list_clips

    if not Path(root).is_dir():
        raise FileNotFoundError(f"--videos {root} is not a directory")
    return list_clips(root, image_folders=True)


def video_length(path: str | os.PathLike) -> int:
    """Frame count from the container (decoding the whole video only when it does not say)."""
    from rt_edge.video import open_source

    with open_source(path) as src:
        if src.num_frames:
            return int(src.num_frames)
        return sum(1 for _ in src)


def read_clip(path: str | os.PathLike, start: int, length: int, size: tuple[int, int]) -> tuple[np.ndarray,
                                                                                                  np.ndarray]:
    """Frames start..start+length-1 of a video resized to size (H, W): (frames (T, H, W, 3) uint8, ids (T,)).

    A video shorter than expected (container counts can be approximate) gives its last frames; one
    shorter than `length` is padded by repeating its last frame (ids repeat too), as the supervised
    dataset pads short clips.
    """
    from rt_edge.video import open_source

    H, W = size
    kept: deque[tuple[int, np.ndarray]] = deque(maxlen=length)
    with open_source(path) as src:
        for i, frame in enumerate(src):
            kept.append((i, frame))
            if i >= start + length - 1:
                break
    ids = [i for i, _ in kept]
    frames = [cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA) for _, f in kept]
    while len(frames) < length:
        ids.append(ids[-1])
        frames.append(frames[-1])
    return np.stack(frames), np.array(ids, np.int64)


def draw_clip(path: Path, num_frames: int, rng: np.random.Generator, spec: ClipSpec) -> tuple[dict | None, str | None]:
    """A random temporal crop of `path` with SIFT queries: ({video, frame_ids, frames, queries}, None),
    or (None, reason) when SIFT skips it."""
    start = int(rng.integers(0, max(num_frames - spec.frames, 0) + 1))
    frames, ids = read_clip(path, start, spec.frames, spec.size)
    queries, reason = sift_queries(frames, rng, spec.points, spec.keyframes, spec.power)
    if queries is None:
        return None, f"{path.name} frames {ids[0]}-{ids[-1]}: {reason}"
    return {"video": path.name, "frame_ids": ids, "frames": frames, "queries": queries}, None


# ---------------------------------------------------------------- teachers and selection


def run_teachers(teachers: list[Teacher], frames: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All teachers on one clip: candidates (M, N, T, 2) float32, occluded (M, N, T) bool."""
    out = [teacher(frames, queries) for teacher in teachers]
    return np.stack([t for t, _ in out]).astype(np.float32), np.stack([o for _, o in out])


def majority_occluded(occluded: np.ndarray) -> np.ndarray:
    """(M, N, T) teacher flags -> (N, T): visible only when more than half of the M teachers see the point."""
    occluded = np.asarray(occluded, bool)
    return ~(2 * (~occluded).sum(axis=0) > occluded.shape[0])


def combine(candidates: np.ndarray, occluded: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """mean | median over teachers: candidates (M, N, T, 2), occluded (M, N, T) -> (N, T, 2), (N, T)."""
    reduce = {"mean": np.mean, "median": np.median}
    if how not in reduce:
        raise ValueError(f"combine takes 'mean' or 'median', got {how!r}")
    tracks = reduce[how](np.asarray(candidates, np.float64), axis=0).astype(np.float32)
    return tracks, majority_occluded(occluded)


def select(selection: str, candidates: np.ndarray, occluded: np.ndarray, rng: np.random.Generator | None,
           frames: np.ndarray | None = None, queries: np.ndarray | None = None,
           verifier: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The pseudo-label from M candidates: (tracks (N, T, 2), occluded (N, T), teacher index or -1).

    random draws the teacher with rng.integers(M) (the other selections use no rng); verifier needs
    frames, queries and the verifier checkpoint.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if selection == "random":
        m = int(rng.integers(len(candidates)))
        return candidates[m], occluded[m], m
    if selection == "verifier":
        if verifier is None or frames is None or queries is None:
            raise ValueError("verifier selection needs --verifier CKPT (and the clip's frames and queries)")
        from . import (
            verifier as verifier_model,  # only now: it is another module's model
        )

        tracks, occ = verifier_model.select(verifier, frames, queries, candidates, occluded)
        return np.asarray(tracks, np.float32), np.asarray(occ, bool), -1
    tracks, occ = combine(candidates, occluded, selection)
    return tracks, occ, -1


def label_clip(clip: dict, teachers: list[Teacher], selection: str, rng: np.random.Generator | None,
               verifier: str | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Label a clip on the fly: random runs only the drawn teacher; the others run all M then select."""
    frames, queries = clip["frames"], clip["queries"]
    if selection == "random":
        m = int(rng.integers(len(teachers)))
        tracks, occ = teachers[m](frames, queries)
        return tracks.astype(np.float32), occ, m
    candidates, occluded = run_teachers(teachers, frames, queries)
    return select(selection, candidates, occluded, rng, frames, queries, verifier)


# ---------------------------------------------------------------- cache


def clip_seed(seed: int, name: str, index: int) -> np.random.Generator:
    """The generator of clip `index` of video `name` (independent of which other videos exist)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), index])


def cache_meta(specs: list[str], spec: ClipSpec, seed: int, clips_per_video: int) -> dict:
    """What the cached labels depend on; a cache built with other values is refused."""
    return {"format": CACHE_FORMAT, "teachers": list(specs), "clip": {**asdict(spec), "size": list(spec.size)},
            "seed": int(seed), "clips_per_video": int(clips_per_video)}


def _write_atomic(path: Path, data: bytes, tag: str) -> None:
    """Write via a temporary file and a rename: readers never see a partial file."""
    tmp = path.with_name(f"{path.name}.{tag}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def check_meta(cache: Path, meta: dict, rank: int = 0) -> None:
    """Write DIR/meta.json, or check that an existing one matches (ValueError naming what differs)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "meta.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != meta:
            diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k))
            raise ValueError(f"--cache {cache} holds labels made with other settings ({', '.join(diff)}: "
                             f"{[old.get(k) for k in diff]} there, {[meta.get(k) for k in diff]} now); "
                             "use another --cache directory")
        return
    _write_atomic(path, (json.dumps(meta, indent=2) + "\n").encode(), f"rank{rank}")


def clip_file(cache: Path, name: str, index: int) -> Path:
    return Path(cache) / f"{name}.c{index:03d}.npz"


def save_labelled(path: Path, clip: dict, candidates: np.ndarray, occluded: np.ndarray, specs: list[str]) -> None:
    """One labelled clip, written atomically (see the module doc for the arrays)."""
    arrays = dict(video=np.array(clip["video"]), frame_ids=clip["frame_ids"], frames=clip["frames"],
                  queries=clip["queries"].astype(np.float32), candidates=candidates.astype(np.float32),
                  occluded=occluded.astype(bool), teachers=np.array(specs))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _write_atomic(path, buf.getvalue(), "w")


def load_labelled(path: str | os.PathLike) -> dict:
    """A labelled clip as saved (no pickles: strings are stored as unicode arrays)."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    out["video"] = str(out["video"])
    out["teachers"] = [str(s) for s in out["teachers"]]
    return out


def build_cache(cache: str | os.PathLike, videos: list[Path], teachers: list[Teacher] | Callable[[], list[Teacher]],
                specs: list[str], spec: ClipSpec, seed: int, clips_per_video: int, rank: int = 0,
                world: int = 1, progress: bool = False) -> dict:
    """Label clips_per_video clips of each video this rank owns (videos rank::world) into `cache`.

    teachers may be a list or a zero-argument function returning one (loaded only if something is
    left to label). Returns {"labelled": files written now, "reused": files already there,
    "skipped": reasons of SIFT-skipped clips (new and earlier)}.
    """
    cache = Path(cache)
    check_meta(cache, cache_meta(specs, spec, seed, clips_per_video), rank)
    stats = {"labelled": 0, "reused": 0, "skipped": []}
    todo = [(v, j) for v in videos[rank::world] for j in range(clips_per_video)]
    bar = todo
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(todo, unit="clip", desc=f"labelling (rank {rank})", dynamic_ncols=True)
        except ImportError:
            pass
    loaded = None
    lengths: dict[Path, int] = {}
    for video, j in bar:
        out = clip_file(cache, video.name, j)
        skip = out.with_suffix(".skip.json")
        if out.is_file():
            stats["reused"] += 1
            continue
        if skip.is_file():
            stats["skipped"].append(json.loads(skip.read_text())["reason"])
            continue
        if video not in lengths:
            lengths[video] = video_length(video)
        clip, reason = draw_clip(video, lengths[video], clip_seed(seed, video.name, j), spec)
        if clip is None:
            record = {"video": video.name, "clip": j, "reason": reason}
            _write_atomic(skip, (json.dumps(record) + "\n").encode(), "w")
            stats["skipped"].append(reason)
            continue
        if loaded is None:
            loaded = teachers() if callable(teachers) else teachers
        candidates, occluded = run_teachers(loaded, clip["frames"], clip["queries"])
        save_labelled(out, clip, candidates, occluded, specs)
        stats["labelled"] += 1
    return stats


def cached_clips(cache: str | os.PathLike, videos: list[Path], clips_per_video: int) -> list[Path]:
    """The labelled clip files of these videos present in the cache, in a fixed order."""
    return [p for v in videos for j in range(clips_per_video) if (p := clip_file(Path(cache), v.name, j)).is_file()]
