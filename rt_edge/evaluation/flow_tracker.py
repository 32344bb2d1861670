"""Point tracking by chaining dense optical flow (OpenCV DIS or Farneback): a second classical teacher.

numpy + OpenCV only (cv2 is imported when tracking, so importing this module needs neither cv2 nor
torch). Flow is computed once per pair of consecutive frames, both ways (t -> t+1 and t+1 -> t). A
point moves from frame to frame by the flow sampled (bilinearly) at its position, forward from its
query frame to the end and backward to frame 0. A step is flagged occluded when the flow is not
consistent both ways (|f_fwd(x) + f_bwd(x + f_fwd(x))| > fb_threshold px) or the point leaves the
image. Unlike `rt_edge.evaluation.lk`, a flagged point keeps moving with the flow (no
re-acquisition): its failures differ from LK's (drift through occluders rather than freezing), which
is what makes several teachers worth choosing between.
"""

from __future__ import annotations

import numpy as np

from .lk import _check_inputs, both_ways
from .trackers import Predictor

METHODS = ("dis", "farneback")


def _check_options(method: str, fb_threshold: float) -> None:
    if method not in METHODS or not fb_threshold > 0:
        raise ValueError(f"need method in {METHODS} and fb_threshold > 0; got {method!r}, {fb_threshold}")


def _flow_fn(method: str):
    import cv2

    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda a, b: dis.calc(a, b, None)
    return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def _sample(flow: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """flow (H, W, 2) at xy (N, 2) px, bilinear with the border replicated -> (N, 2)."""
    import cv2

    m = xy.astype(np.float32).reshape(-1, 1, 2)
    out = cv2.remap(flow, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 2).astype(np.float64)


def _chain(forward: list[np.ndarray], backward: list[np.ndarray], xy0: np.ndarray, hw: tuple[int, int],
           fb_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Follow xy0 (N, 2) through the flows forward[k] (frame k -> k+1), checked with backward[k]
    (k+1 -> k) -> xy (K+1, N, 2), occluded (K+1, N)."""
    h, w = hw
    xy = np.empty((len(forward) + 1, len(xy0), 2))
    occluded = np.zeros((len(forward) + 1, len(xy0)), bool)
    xy[0] = xy0
    for k, (f, b) in enumerate(zip(forward, backward)):
        step = _sample(f, xy[k])
        new = xy[k] + step
        round_trip = np.linalg.norm(step + _sample(b, new), axis=1)
        inside = (new[:, 0] >= 0) & (new[:, 0] <= w - 1) & (new[:, 1] >= 0) & (new[:, 1] <= h - 1)
        occluded[k + 1] = ~inside | (round_trip > fb_threshold)
        xy[k + 1] = np.clip(new, 0, [w - 1, h - 1])
    return xy, occluded


def track_flow(video: np.ndarray, queries: np.ndarray, method: str = "dis", fb_threshold: float = 1.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Track queries (N, 3) rows (t, x, y) px through video (T, H, W, 3) uint8 RGB by chained dense flow.

    Returns tracks (N, T, 2) (x, y) px float32 and occluded (N, T) bool; see the module docstring.
    """
    import cv2

    _check_options(method, fb_threshold)
    video, queries = _check_inputs(video, queries)
    T, hw = len(video), video.shape[1:3]
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video]
    flow = _flow_fn(method)
    fwd = [flow(gray[t], gray[t + 1]) for t in range(T - 1)]  # t -> t+1
    bwd = [flow(gray[t + 1], gray[t]) for t in range(T - 1)]  # t+1 -> t

    def leg(t0: int, xy0: np.ndarray, ahead: bool) -> tuple[np.ndarray, np.ndarray]:
        if ahead:  # frames t0 .. T-1
            return _chain(fwd[t0:], bwd[t0:], xy0, hw, fb_threshold)
        return _chain(bwd[:t0][::-1], fwd[:t0][::-1], xy0, hw, fb_threshold)  # frames t0 .. 0

    return both_ways(queries, T, leg)


def flow_predictor(method: str = "dis", fb_threshold: float = 1.0) -> Predictor:
    """A Predictor (video, queries) -> (tracks (N, T, 2), occluded (N, T)) running `track_flow`."""
    _check_options(method, fb_threshold)

    def run(video: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return track_flow(video, queries, method=method, fb_threshold=fb_threshold)

    return run
