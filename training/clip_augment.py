"""Exact, label-preserving transforms of a pseudo-labelled clip (pseudo fine-tuning's --augment).

A user's own footage is often a handful of videos. Trained on their clips for long, the student can
learn those videos' particular motions (this camera pans left, that object falls) rather than how to
track. Mirroring, transposing and playing the clip backwards give it motions the videos never show,
and keep every label exact, because each is a permutation of pixels or of frames:

- flip_x: x -> W - 1 - x, flip_y: y -> H - 1 - y (pixel centres at integers, as in rt_edge.image);
- transpose: (x, y) -> (y, x), only for square clips, so every clip of a run keeps its size;
- reverse: frame t -> T - 1 - t, a query's frame likewise. The teachers label every frame of the
  clip (before the query too), so the reversed clip is as fully labelled as the original.

A clip is the dict of training.pseudo_labels: frames (T, H, W, 3) uint8, queries (N, 3) rows (t, x, y),
tracks (N, T, 2) (x, y) px, occluded (N, T) bool; other keys pass through unchanged.
"""

from __future__ import annotations

import numpy as np

TRANSFORMS = ("flip_x", "flip_y", "transpose", "reverse")


def apply(clip: dict, transforms: list[str] | tuple[str, ...]) -> dict:
    """clip with `transforms` applied in the given order (a new dict; arrays are copies)."""
    frames, queries = clip["frames"], np.array(clip["queries"], np.float32)
    tracks, occluded = np.array(clip["tracks"], np.float32), np.asarray(clip["occluded"], bool)
    T, H, W = frames.shape[:3]
    if queries.ndim != 2 or queries.shape[1] != 3 or tracks.shape != (len(queries), T, 2) \
            or occluded.shape != (len(queries), T):
        raise ValueError(f"clip must hold queries (N, 3), tracks (N, T, 2), occluded (N, T) for T = {T}; got "
                         f"{queries.shape}, {tracks.shape}, {occluded.shape}")
    for name in transforms:
        if name == "flip_x":
            frames = frames[:, :, ::-1]
            tracks[..., 0] = W - 1 - tracks[..., 0]
            queries[:, 1] = W - 1 - queries[:, 1]
        elif name == "flip_y":
            frames = frames[:, ::-1]
            tracks[..., 1] = H - 1 - tracks[..., 1]
            queries[:, 2] = H - 1 - queries[:, 2]
        elif name == "transpose":
            if H != W:
                raise ValueError(f"transpose needs a square clip, got {H}x{W}")
            frames = frames.transpose(0, 2, 1, 3)
            tracks = tracks[..., ::-1].copy()
            queries[:, 1:] = queries[:, :0:-1].copy()
        elif name == "reverse":
            frames, tracks, occluded = frames[::-1], tracks[:, ::-1], occluded[:, ::-1]
            queries[:, 0] = T - 1 - queries[:, 0]
        else:
            raise ValueError(f"unknown transform {name!r}; expected one of {TRANSFORMS}")
    return {**clip, "frames": np.ascontiguousarray(frames), "queries": queries,
            "tracks": np.ascontiguousarray(tracks), "occluded": np.ascontiguousarray(occluded)}


def random_transforms(rng: np.random.Generator, square: bool) -> list[str]:
    """Each transform with probability 1/2 (transpose only when square): all 16 (8 non-square)
    mirror/time combinations equally likely, the identity among them."""
    coins = rng.random(len(TRANSFORMS)) < 0.5
    return [name for name, on in zip(TRANSFORMS, coins) if on and (square or name != "transpose")]


def augment(clip: dict, rng: np.random.Generator) -> tuple[dict, list[str]]:
    """A random combination of TRANSFORMS applied to clip -> (new clip, names applied)."""
    H, W = clip["frames"].shape[1:3]
    names = random_transforms(rng, H == W)
    return apply(clip, names), names
