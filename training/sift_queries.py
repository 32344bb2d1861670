"""Query points for pseudo-labelling: SIFT keypoints on a few keyframes biased toward the clip's start.

CoTracker3 (appendix of the RealTracker preprint; section 3.1 of the paper) starts 384 tracks per
video at SIFT keypoints of 8 randomly chosen frames, with the frame choice biased toward the
beginning, and skips a video when SIFT cannot supply enough points on a chosen frame. The papers
leave the bias open; the one chosen here:

- Keyframes are drawn independently (with replacement) with P(t) proportional to (T - t)^power,
  power = 2 by default. For a long clip that puts 58 % of the keyframes in the first quarter and
  87.5 % in the first half (CDF 1 - (1 - t/T)^3), yet every frame can be picked. An online
  student only learns from a point's query frame on, so early queries supervise more frames;
  unlike a hard cut-off (the first quarter only) later content still gets some queries.
- The `points` queries are split evenly over the `keyframes` draws (the first `points % keyframes`
  draws take one more); a frame drawn k times supplies the points of its k draws.
- On each keyframe the distinct keypoint locations (SIFT reports one keypoint per orientation,
  several may share a location) are ranked by detector response, the strongest kept.
- Skip rule: if any keyframe has fewer distinct keypoints than it must supply, the clip gets no
  queries and the reason names the frame and the counts.

numpy + OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

KEYFRAMES = 8
POINTS = 384
BIAS_POWER = 2.0


def keyframe_probabilities(num_frames: int, power: float = BIAS_POWER) -> np.ndarray:
    """(T,) probability of drawing each frame as a keyframe: proportional to (T - t)^power."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not power >= 0:
        raise ValueError(f"power must be >= 0 (0: uniform), got {power}")
    w = (num_frames - np.arange(num_frames, dtype=np.float64)) ** power
    return w / w.sum()


def sample_keyframes(rng: np.random.Generator, num_frames: int, count: int = KEYFRAMES,
                     power: float = BIAS_POWER) -> np.ndarray:
    """(count,) frame indices drawn independently from `keyframe_probabilities` (repeats allowed)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return rng.choice(num_frames, size=count, replace=True, p=keyframe_probabilities(num_frames, power))


def strongest_keypoints(frame: np.ndarray) -> np.ndarray:
    """(K, 2) distinct SIFT keypoint locations (x, y) of an RGB uint8 frame (H, W, 3), strongest first.

    Ties in response are broken by position, so the order does not depend on OpenCV's internal order.
    """
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    best: dict[tuple[float, float], float] = {}
    for kp in cv2.SIFT_create().detect(gray, None):
        pt = (float(kp.pt[0]), float(kp.pt[1]))
        best[pt] = max(best.get(pt, -np.inf), float(kp.response))
    if not best:
        return np.zeros((0, 2), np.float32)
    xy = np.array(list(best), np.float64)
    response = np.array(list(best.values()))
    order = np.lexsort((xy[:, 1], xy[:, 0], -response))
    return xy[order].astype(np.float32)


def sift_queries(video: np.ndarray, rng: np.random.Generator, points: int = POINTS, keyframes: int = KEYFRAMES,
                 power: float = BIAS_POWER) -> tuple[np.ndarray | None, str | None]:
    """Queries (points, 3) rows (t, x, y) float32 for video (T, H, W, 3) uint8, or (None, reason) when skipped.

    See the module doc for the keyframe bias, the per-frame split and the skip rule. Rows are
    ordered by frame, then by keypoint strength.
    """
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or len(video) == 0:
        raise ValueError(f"video must be (T, H, W, 3) uint8 with T >= 1, got {video.shape} {video.dtype}")
    if points < 1 or keyframes < 1:
        raise ValueError(f"points and keyframes must be >= 1, got {points} and {keyframes}")
    draws = sample_keyframes(rng, len(video), keyframes, power)
    share = np.full(keyframes, points // keyframes) + (np.arange(keyframes) < points % keyframes)
    rows = []
    for t in np.unique(draws):
        need = int(share[draws == t].sum())
        if need == 0:
            continue
        xy = strongest_keypoints(video[t])
        if len(xy) < need:
            return None, f"SIFT found {len(xy)} distinct keypoints on frame {int(t)}, {need} needed"
        rows.append(np.concatenate([np.full((need, 1), t, np.float32), xy[:need]], axis=1))
    return np.concatenate(rows).astype(np.float32), None
