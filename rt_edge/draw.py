"""Track overlays on RGB uint8 frames: a stable colour per track id and fading trails.

Torch-free (numpy + OpenCV). Colours are RGB; since frames are RGB too, the tuples go to
OpenCV's drawing calls unchanged.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

_GOLDEN = 0.618034  # golden-ratio hue step: consecutive ids get well-separated hues
_SHIFT = 4  # OpenCV fixed-point bits: sub-pixel centres (1/16 px)
_SATURATION = 0.85
_VALUE = 0.95


def track_colors(ids: np.ndarray) -> np.ndarray:
    """RGB colours (K, 3) uint8 for track ids (K,): same id -> same colour, in every call.

    Hue is (id * 0.618034) mod 1, so it depends on the id alone (not on K or order).
    """
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(f"ids must be a 1-D integer array (K,), got {ids.dtype} {ids.shape}")
    h = np.mod(ids.astype(np.float64) * _GOLDEN, 1.0) * 6.0  # hue sector in [0, 6)
    s, v = _SATURATION, _VALUE
    i = np.floor(h).astype(np.int64) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    vv = np.full_like(f, v)
    pp = np.full_like(f, p)
    # (r, g, b) per sector 0..5 of the hue circle
    r = np.choose(i, [vv, q, pp, pp, t, vv])
    g = np.choose(i, [t, vv, vv, q, pp, pp])
    b = np.choose(i, [pp, pp, t, vv, vv, q])
    return np.round(np.stack([r, g, b], axis=-1) * 255.0).astype(np.uint8).reshape(-1, 3)


def _fixed(x: float, y: float) -> tuple[int, int]:
    return int(round(x * (1 << _SHIFT))), int(round(y * (1 << _SHIFT)))


class TrailDrawer:
    """Draws points with fading trails; keeps the last `trail_len` positions of each id.

    Memory is bounded: a position older than `trail_len` draw calls is dropped, and an id with
    no position left (unseen, or only NaN, for `trail_len` frames) is forgotten. A trail breaks
    where a frame had no position for its id. Call `reset()` between unrelated videos.
    """

    def __init__(self, trail_len: int = 12, radius: int = 3) -> None:
        if isinstance(trail_len, bool) or not isinstance(trail_len, (int, np.integer)) or trail_len < 1:
            raise ValueError(f"trail_len must be an integer >= 1, got {trail_len!r}")
        if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 1:
            raise ValueError(f"radius must be an integer >= 1, got {radius!r}")
        self.trail_len = int(trail_len)
        self.radius = int(radius)
        self.thickness = max(1, (self.radius + 1) // 2)  # trail line width
        self._frame = -1  # index of the last draw call
        self._trails: dict[int, deque[tuple[int, float, float]]] = {}  # id -> (frame, x, y), oldest first

    def reset(self) -> None:
        """Forget every trail."""
        self._trails.clear()
        self._frame = -1

    def draw(self, frame: np.ndarray, ids: np.ndarray, xy: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """A new frame (H, W, 3) uint8 with this step's points and the trails drawn; `frame` is untouched.

        ids: (K,) int, xy: (K, 2) float pixels (x, y), NaN where unknown (skipped), visible: (K,) bool
        (filled circle if visible, hollow if occluded). Points outside the frame are fine.
        """
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
        ids = np.asarray(ids)
        k = ids.shape[0] if ids.ndim == 1 else -1
        if k < 0 or (k and ids.dtype.kind not in "iu"):
            raise ValueError(f"ids must be a 1-D integer array (K,), got {ids.dtype} {ids.shape}")
        xy = np.asarray(xy, dtype=np.float64)
        visible = np.asarray(visible)
        if k == 0 and xy.size == 0 and visible.size == 0:  # no points this frame: plain lists are fine
            xy, visible = xy.reshape(0, 2), visible.reshape(0)
        if xy.shape != (k, 2):
            raise ValueError(f"xy must have shape ({k}, 2) to match ids, got {xy.shape}")
        if visible.shape != (k,):
            raise ValueError(f"visible must have shape ({k},) to match ids, got {visible.shape}")
        if np.unique(ids).size != k:
            raise ValueError(f"ids must be unique, got {ids.tolist()}")
        visible = visible.astype(bool)

        H, W = frame.shape[:2]
        margin = 4 * max(H, W)  # farther than this is off-screen noise (and would overflow int32 at 1/16 px)
        ok = np.isfinite(xy).all(axis=1) & (np.abs(xy - [W / 2, H / 2]) < margin).all(axis=1)

        # update the trails, then drop positions older than trail_len frames and forgotten ids
        self._frame += 1
        t = self._frame
        for i in np.flatnonzero(ok):
            key = int(ids[i])
            trail = self._trails.get(key)
            if trail is None:
                trail = self._trails[key] = deque(maxlen=self.trail_len)
            trail.append((t, float(xy[i, 0]), float(xy[i, 1])))
        oldest = t - self.trail_len + 1
        for key in list(self._trails):
            trail = self._trails[key]
            while trail and trail[0][0] < oldest:
                trail.popleft()
            if not trail:
                del self._trails[key]

        out = frame.copy()
        self._draw_trails(out)
        colors = track_colors(ids.astype(np.int64)) if k else np.zeros((0, 3), np.uint8)
        r = self.radius << _SHIFT
        for i in np.flatnonzero(ok):
            x, y = xy[i]
            if x < -self.radius or y < -self.radius or x > W + self.radius or y > H + self.radius:
                continue
            color = tuple(int(c) for c in colors[i])
            thickness = cv2.FILLED if visible[i] else 1
            cv2.circle(out, _fixed(x, y), r, color, thickness, cv2.LINE_8, _SHIFT)
        return out

    def _draw_trails(self, out: np.ndarray) -> None:
        """Blend every trail segment onto `out` (in place); opacity falls linearly with age."""
        if self.trail_len < 2 or not self._trails:
            return
        H, W = out.shape[:2]
        layer = np.zeros_like(out)  # segment colours
        alpha = np.zeros((H, W), np.float32)  # segment opacity, newest drawn last (on top)
        t = self._frame
        keys = list(self._trails)
        colors = track_colors(np.asarray(keys, dtype=np.int64))
        segments: list[tuple[int, int, tuple[int, int], tuple[int, int]]] = []  # (age, color row, p0, p1)
        for row, key in enumerate(keys):
            trail = self._trails[key]
            for (f0, x0, y0), (f1, x1, y1) in zip(trail, list(trail)[1:]):
                if f1 == f0 + 1:  # a gap breaks the trail
                    segments.append((t - f1, row, _fixed(x0, y0), _fixed(x1, y1)))
        if not segments:
            return
        segments.sort(key=lambda s: -s[0])  # oldest first
        for age, row, p0, p1 in segments:
            a = 0.9 * (1.0 - age / (self.trail_len - 1))  # age 0 -> 0.9, oldest possible -> 0
            if a <= 0.0:
                continue
            color = tuple(int(c) for c in colors[row])
            cv2.line(layer, p0, p1, color, self.thickness, cv2.LINE_8, _SHIFT)
            cv2.line(alpha, p0, p1, a, self.thickness, cv2.LINE_8, _SHIFT)
        ys, xs = np.nonzero(alpha)
        if ys.size:
            a = alpha[ys, xs, None]
            out[ys, xs] = np.round(out[ys, xs] * (1.0 - a) + layer[ys, xs] * a).astype(np.uint8)
