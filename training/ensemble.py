"""Trackers as an ensemble at inference: several teachers track a clip, the verifier picks per frame.

The same selection the pseudo-labelling uses (training.pseudo_labels.select), applied to a user's
clip: `track_ensemble(video, queries, teachers, verifier)` -> rt_edge.Tracks; `python -m training
ensemble` does it from the command line and writes tracks and an overlay video.
"""

from __future__ import annotations

import numpy as np

from rt_edge.tracks import Tracks

from .pseudo_labels import SELECTIONS, run_teachers, select
from .teachers import load_teachers


def track_ensemble(video: np.ndarray, queries: np.ndarray, teachers: list[str], verifier=None,
                   selection: str = "verifier", seed: int = 0) -> Tracks:
    """video (T, H, W, 3) uint8 RGB, queries (N, 3) rows (t, x, y) -> Tracks of all T frames (ids 0..N-1).

    teachers: SPECs of training.teachers (ckpt:PATH, onnx:DIR, lk, registered names); verifier: a
    checkpoint of `python -m training verifier` (needed for selection "verifier"); other selections
    are random | mean | median. Confidence is 1 where the chosen label is visible (no score is kept).
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    if len(teachers) < 2:
        raise ValueError(f"an ensemble needs at least 2 teachers, got {len(teachers)}")
    video, queries = np.asarray(video), np.asarray(queries, np.float64)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise ValueError(f"video must be (T, H, W, 3) uint8, got {video.shape} {video.dtype}")
    if queries.ndim != 2 or queries.shape[1] != 3:
        raise ValueError(f"queries must be (N, 3) rows (t, x, y), got {queries.shape}")
    if selection == "verifier":
        if verifier is None:
            raise ValueError("selection 'verifier' needs a verifier checkpoint")
        from .verifier import load_verifier

        verifier = load_verifier(verifier)
    candidates, occluded = run_teachers(load_teachers(teachers), video, queries)
    tracks, occ, _ = select(selection, candidates, occluded, np.random.default_rng(seed), video, queries, verifier)
    visible = ~occ.T  # (T, N)
    T, N = video.shape[0], len(queries)
    return Tracks(np.arange(T), np.arange(N), tracks.transpose(1, 0, 2).astype(np.float32), visible,
                  visible.astype(np.float32), visible.astype(np.float32))
