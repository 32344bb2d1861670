"""Pyramidal Lucas-Kanade point tracking (OpenCV) as a benchmark baseline and pseudo-label teacher.

numpy + OpenCV only (cv2 is imported when tracking, so importing this module needs neither cv2 nor
torch). Each point is tracked frame to frame on grayscale frames, forward from its query frame to
the end and backward from it to frame 0. Every step is checked forward-backward: the new position
is tracked back to the frame it came from, and the step is accepted only when both LK calls report
status 1, it lands inside the image, and the round trip returns within `fb_threshold` px of where
it started.

A rejected step marks the point occluded in that frame. A lost point keeps its last accepted
position (that is what is returned while it is lost) and its last accepted frame as the
reference: every later frame is matched against that reference frame from that position, so the
point is re-acquired (and visible again) as soon as a step from its last good view passes the
check, e.g. once an occluder has moved off it. Re-acquisition therefore needs the point to be
within the pyramid's reach (about win_size * 2**levels / 2 px) of where it was lost.
"""

from __future__ import annotations

import numpy as np

from .trackers import Predictor


def _check_inputs(video: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
        raise ValueError(f"video must be (T, H, W, 3) uint8, got {video.shape} {video.dtype}")
    queries = np.asarray(queries, np.float64)
    if queries.ndim != 2 or queries.shape[1] != 3:
        raise ValueError(f"queries must be (N, 3) rows (t, x, y), got {queries.shape}")
    t = np.round(queries[:, 0])
    if not np.isfinite(queries).all() or ((t < 0) | (t >= len(video))).any():
        raise ValueError(f"query frames must be finite and in [0, {len(video) - 1}], got {queries[:, 0].tolist()}")
    return video, queries


def _track_one_way(gray: list[np.ndarray], xy0: np.ndarray, lk: dict, fb_threshold: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Track xy0 (N, 2) from gray[0] through gray[1:] -> xy (T', N, 2), occluded (T', N)."""
    import cv2

    n, h, w = len(xy0), *gray[0].shape
    pos = xy0.astype(np.float32).copy()  # last accepted position
    ref = np.zeros(n, np.int64)  # frame of the last accepted position
    xy = np.empty((len(gray), n, 2), np.float32)
    occluded = np.zeros((len(gray), n), bool)
    xy[0] = pos
    for t in range(1, len(gray)):
        accepted = np.zeros(n, bool)
        new = pos.copy()
        for r in np.unique(ref):
            sel = np.flatnonzero(ref == r)
            p0 = pos[sel].reshape(-1, 1, 2)
            p1, st1, _ = cv2.calcOpticalFlowPyrLK(gray[r], gray[t], p0, None, **lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(gray[t], gray[r], p1, None, **lk)
            p1, back = p1.reshape(-1, 2), back.reshape(-1, 2)
            round_trip = np.linalg.norm(back - p0.reshape(-1, 2), axis=1)
            inside = (p1[:, 0] >= 0) & (p1[:, 0] <= w - 1) & (p1[:, 1] >= 0) & (p1[:, 1] <= h - 1)
            ok = (st1.ravel() == 1) & (st2.ravel() == 1) & inside & (round_trip <= fb_threshold)
            ok &= np.isfinite(p1).all(axis=1)
            accepted[sel] = ok
            new[sel[ok]] = p1[ok]
        pos[accepted] = new[accepted]
        ref[accepted] = t
        xy[t] = pos
        occluded[t] = ~accepted
    return xy, occluded


def track_lk(video: np.ndarray, queries: np.ndarray, win_size: int = 21, levels: int = 3, fb_threshold: float = 1.0,
             max_iter: int = 30, eps: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Track queries (N, 3) rows (t, x, y) px through video (T, H, W, 3) uint8 RGB with pyramidal LK.

    Returns tracks (N, T, 2) (x, y) px float32 and occluded (N, T) bool (see the module docstring for
    the forward-backward rule and how lost points continue). The query frame holds the query.
    """
    if win_size < 3 or levels < 0 or not fb_threshold > 0:
        raise ValueError(f"need win_size >= 3, levels >= 0, fb_threshold > 0; got {win_size}, {levels}, {fb_threshold}")
    import cv2

    video, queries = _check_inputs(video, queries)
    T = len(video)
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video]
    lk = dict(winSize=(win_size, win_size), maxLevel=levels,
              criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, max_iter, eps))
    def leg(t0: int, xy0: np.ndarray, ahead: bool) -> tuple[np.ndarray, np.ndarray]:
        return _track_one_way(gray[t0:] if ahead else gray[t0::-1], xy0, lk, fb_threshold)

    return both_ways(queries, T, leg)


def both_ways(queries: np.ndarray, T: int, leg) -> tuple[np.ndarray, np.ndarray]:
    """Tracks (N, T, 2) float32 and occluded (N, T) of every query, forward from its frame to T-1 and
    backward to 0. leg(t0, xy0 (n, 2), ahead) -> (xy (K, n, 2), occluded (K, n)) follows the points
    of query frame t0 away from it (frames t0, t0+1, ... when ahead, else t0, t0-1, ...)."""
    tracks = np.zeros((len(queries), T, 2), np.float32)
    occluded = np.zeros((len(queries), T), bool)
    frames = np.round(queries[:, 0]).astype(np.int64)
    for t0 in np.unique(frames):
        sel = np.flatnonzero(frames == t0)
        xy0 = queries[sel, 1:]
        fwd, fwd_occ = leg(int(t0), xy0, True)  # frames t0 .. T-1
        bwd, bwd_occ = leg(int(t0), xy0, False)  # frames t0 .. 0
        tracks[sel, t0:] = fwd.transpose(1, 0, 2)
        occluded[sel, t0:] = fwd_occ.T
        tracks[sel, : t0 + 1] = bwd[::-1].transpose(1, 0, 2)
        occluded[sel, : t0 + 1] = bwd_occ[::-1].T
    return tracks, occluded


def lk_predictor(win_size: int = 21, levels: int = 3, fb_threshold: float = 1.0) -> Predictor:
    """A Predictor (video (T, H, W, 3) uint8, queries (N, 3) (t, x, y)) -> (tracks (N, T, 2), occluded (N, T))
    running `track_lk` with these settings."""
    if win_size < 3 or levels < 0 or not fb_threshold > 0:
        raise ValueError(f"need win_size >= 3, levels >= 0, fb_threshold > 0; got {win_size}, {levels}, {fb_threshold}")

    def run(video: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return track_lk(video, queries, win_size=win_size, levels=levels, fb_threshold=fb_threshold)

    return run
