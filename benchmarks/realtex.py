"""Point-tracking sequences with exact ground truth, made by moving real video frames as textures.

A frame of a real video is the texture. A texture point u (texture px, float64) appears in frame t at

    x = F_t(u) = H_t(u + d_t(u))

H_t: a homography (camera motion: rotation, scale, translation, mild perspective, each parameter a
bounded smooth path over time), d_t: a low-frequency displacement field (a few travelling sine
waves in texture space: smooth non-rigid motion of the surface). The motion is DEFINED forward:
ground-truth tracks are F_t applied to the points exactly. Frames are rendered by the inverse
G_t = F_t^-1 (cv2.remap samples the texture at G_t(x) for every pixel x): H_t^-1 is exact and
u + d_t(u) = v is solved by fixed-point iteration, a contraction because the waves' summed
gradient bound is kept below 0.25; it stops at a residual below 1e-6 texture px, so F_t(G_t(x))
is within about 1e-5 px of x. (cv2.remap itself interpolates at 1/32 px steps.)

On top move 1-3 occluders: convex polygons (ellipses or hulls), flat colour or a patch of another
real frame, each sliding and turning along a bounded smooth path. A point is occluded in a frame
when its position is inside an occluder's polygon (the same test that paints the occluder's
pixels, at pixel centres) or outside the image [0, W-1] x [0, H-1].

Query points are sampled where visible, mostly on frame 0 (a fraction on random later frames);
each point's query frame is the first frame it is visible in (TAP-Vid's "first" protocol).
Everything is drawn from numpy Generators seeded by the caller: same seed, same sequences.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sized
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rt_edge.evaluation.tapvid import SUMMARY, WITHIN, raster_metrics
from rt_edge.evaluation.trackers import Predictor
from rt_edge.video import list_clips

_MAX_GRADIENT = 0.25  # bound on |grad d_t|: the fixed-point inverse contracts by this factor per step


@dataclass(frozen=True)
class Motion:
    """The forward map F_t(u) = H_t(u + d_t(u)) from texture px to frame px, all in float64.

    homographies (T, 3, 3) texture -> frame; d_t(u) = sum_k amplitude[t, k] * sin(2 pi freq_k . u +
    phase[t, k]) * direction_k with freq (K, 2) cycles/px, direction (K, 2) unit vectors.
    """

    homographies: np.ndarray  # (T, 3, 3)
    amplitude: np.ndarray  # (T, K) texture px
    phase: np.ndarray  # (T, K) radians
    freq: np.ndarray  # (K, 2)
    direction: np.ndarray  # (K, 2)

    @property
    def num_frames(self) -> int:
        return len(self.homographies)

    def displacement(self, t: int, uv: np.ndarray) -> np.ndarray:
        """d_t(uv): (M, 2) texture px -> (M, 2) texture px."""
        s = np.sin(2 * np.pi * (uv @ self.freq.T) + self.phase[t])  # (M, K)
        return (s * self.amplitude[t]) @ self.direction

    def forward(self, t: int, uv: np.ndarray) -> np.ndarray:
        """F_t: texture points (M, 2) -> frame points (M, 2) (x, y) px."""
        uv = np.asarray(uv, np.float64)
        return _apply_homography(self.homographies[t], uv + self.displacement(t, uv))

    def inverse(self, t: int, xy: np.ndarray, tol: float = 1e-6, max_iter: int = 100) -> np.ndarray:
        """G_t = F_t^-1: frame points (M, 2) -> texture points (M, 2), solved to `tol` texture px."""
        v = _apply_homography(np.linalg.inv(self.homographies[t]), np.asarray(xy, np.float64))
        u = v.copy()
        for _ in range(max_iter):
            u, previous = v - self.displacement(t, u), u
            if np.abs(u - previous).max(initial=0.0) < tol:  # = the residual of `previous`; u's is smaller
                return u
        raise RuntimeError(f"inverse of the deformation did not converge in {max_iter} steps (frame {t})")


@dataclass(frozen=True)
class Occluder:
    """A convex polygon moving rigidly in the frame, painted with `patch` (centred on its origin)."""

    polygon: np.ndarray  # (V, 2) local px, positive shoelace area: edge x (p - vertex) >= 0 inside
    centers: np.ndarray  # (T, 2) frame px
    angles: np.ndarray  # (T,) radians
    patch: np.ndarray  # (P, P, 3) uint8, patch centre = local origin

    def vertices(self, t: int) -> np.ndarray:
        """(V, 2) frame px of the polygon in frame t."""
        c, s = np.cos(self.angles[t]), np.sin(self.angles[t])
        return self.polygon @ np.array([[c, s], [-s, c]]) + self.centers[t]

    def covers(self, t: int, xy: np.ndarray) -> np.ndarray:
        """(M,) bool: points (M, 2) inside (or on) the polygon in frame t."""
        v = self.vertices(t)
        edge = np.roll(v, -1, axis=0) - v  # (V, 2)
        rel = np.asarray(xy, np.float64)[:, None, :] - v[None]  # (M, V, 2)
        cross = edge[None, :, 0] * rel[..., 1] - edge[None, :, 1] * rel[..., 0]
        return (cross >= 0).all(axis=1)


@dataclass(frozen=True)
class Sequence:
    """One generated clip with its ground truth (positions in video px, pixel centres at integers)."""

    video: np.ndarray  # (T, H, W, 3) uint8 RGB
    tracks: np.ndarray  # (N, T, 2) float64 (x, y)
    occluded: np.ndarray  # (N, T) bool
    query_frames: np.ndarray  # (N,) int64: first visible frame of each point
    texture_points: np.ndarray  # (N, 2) float64: the points in texture px
    occluder_masks: np.ndarray  # (T, H, W) bool: pixels painted by an occluder
    motion: Motion
    occluders: tuple[Occluder, ...]
    name: str

    @property
    def queries(self) -> np.ndarray:
        """(N, 3) rows (t, x, y): the Predictor's queries (each point at its query frame)."""
        n = np.arange(len(self.tracks))
        return np.concatenate([self.query_frames[:, None].astype(np.float64), self.tracks[n, self.query_frames]], 1)


def _apply_homography(h: np.ndarray, xy: np.ndarray) -> np.ndarray:
    p = xy @ h[:, :2].T + h[:, 2]
    return p[:, :2] / p[:, 2:]


def _wave_path(rng: np.random.Generator, num_frames: int, amplitude: float, periods=(20.0, 60.0)) -> np.ndarray:
    """(T,) a smooth bounded path starting at 0: two sines of random period (frames) and phase."""
    t = np.arange(num_frames, dtype=np.float64)
    out = np.zeros(num_frames)
    for _ in range(2):
        a, p, ph = rng.uniform(-amplitude, amplitude), rng.uniform(*periods), rng.uniform(0, 2 * np.pi)
        out += a * (np.sin(2 * np.pi * t / p + ph) - np.sin(ph))
    return out


def random_motion(rng: np.random.Generator, texture_hw: tuple[int, int], frame_hw: tuple[int, int],
                  num_frames: int, deformation: float = 1.0) -> Motion:
    """A smooth camera path over a texture of texture_hw plus a travelling-wave deformation.

    The frame's centre looks at a texture point near the texture's centre; rotation (about
    +-18 deg), scale (0.8-1.25), translation (+-16% of the texture's short side) and perspective
    (about +-0.1 of the half frame) vary smoothly. deformation scales the waves' amplitude (0: rigid).
    """
    hs, ws = texture_hw
    h, w = frame_hw
    T, L, S = num_frames, max(h, w), min(hs, ws)
    theta = rng.uniform(-0.1, 0.1) + _wave_path(rng, T, 0.08)
    log_scale = rng.uniform(-0.1, 0.1) + _wave_path(rng, T, 0.05)
    look = (np.array([(ws - 1) / 2, (hs - 1) / 2]) + rng.uniform(-0.04, 0.04, 2) * S
            + np.stack([_wave_path(rng, T, 0.04 * S), _wave_path(rng, T, 0.04 * S)], 1))  # (T, 2)
    persp = rng.uniform(-0.05, 0.05, 2) + np.stack([_wave_path(rng, T, 0.02), _wave_path(rng, T, 0.02)], 1)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    hom = np.empty((T, 3, 3))
    for t in range(T):
        c, s, k = np.cos(theta[t]), np.sin(theta[t]), np.exp(log_scale[t])
        to_origin = np.array([[1, 0, -look[t, 0]], [0, 1, -look[t, 1]], [0, 0, 1]])
        rot_scale = np.array([[k * c, -k * s, 0], [k * s, k * c, 0], [0, 0, 1]])
        perspective = np.array([[1, 0, 0], [0, 1, 0], [persp[t, 0] * 2 / L, persp[t, 1] * 2 / L, 1]])
        to_centre = np.array([[1, 0, centre[0]], [0, 1, centre[1]], [0, 0, 1]])
        hom[t] = to_centre @ perspective @ rot_scale @ to_origin

    K = 3
    wavelength = rng.uniform(0.6, 1.2, K) * L
    angle = rng.uniform(0, 2 * np.pi, K)
    freq = np.stack([np.cos(angle), np.sin(angle)], 1) / wavelength[:, None]
    d_angle = rng.uniform(0, 2 * np.pi, K)
    direction = np.stack([np.cos(d_angle), np.sin(d_angle)], 1)
    peak = rng.uniform(0.5, 1.0, K) * 0.02 * L * deformation
    gradient = np.sum(2 * np.pi * peak / wavelength)
    if gradient >= _MAX_GRADIENT:  # keep the fixed-point inverse a strong contraction
        peak *= 0.9 * _MAX_GRADIENT / gradient
    t = np.arange(T, dtype=np.float64)[:, None]
    amplitude = peak * (0.75 + 0.25 * np.sin(2 * np.pi * t / rng.uniform(30, 80, K) + rng.uniform(0, 2 * np.pi, K)))
    phase = rng.uniform(0, 2 * np.pi, K) + 2 * np.pi * t / (rng.uniform(25, 60, K) * rng.choice([-1, 1], K))
    return Motion(hom, amplitude, phase, freq, direction)


def random_occluder(rng: np.random.Generator, frame_hw: tuple[int, int], num_frames: int,
                    patch_source: np.ndarray | None = None) -> Occluder:
    """An ellipse or convex hull (radius 7-18% of the frame's long side) sweeping across the frame.

    Filled with a flat random colour, or (half the time, when patch_source (H, W, 3) is given) a
    crop of patch_source.
    """
    h, w = frame_hw
    L = max(h, w)
    if rng.random() < 0.5:
        a, b = rng.uniform(0.07, 0.16, 2) * L
        ang = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        poly = np.stack([a * np.cos(ang), b * np.sin(ang)], 1)
    else:
        r = rng.uniform(0.1, 0.18) * L
        pts = rng.uniform(-r, r, (12, 2)).astype(np.float32)
        poly = cv2.convexHull(pts).reshape(-1, 2).astype(np.float64)
    area2 = np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1])
    if area2 < 0:  # orient so that inside points have non-negative cross products
        poly = poly[::-1].copy()
    t = np.arange(num_frames, dtype=np.float64)
    mid = rng.uniform(0.2, 0.8, 2) * np.array([w - 1, h - 1])
    d = rng.uniform(0, 2 * np.pi)
    sweep = rng.uniform(0.2, 0.4) * L * np.sin(2 * np.pi * t / rng.uniform(50, 120) + rng.uniform(0, 2 * np.pi))
    side = _wave_path(rng, num_frames, 0.05 * L)
    centers = mid + np.outer(sweep, [np.cos(d), np.sin(d)]) + np.outer(side, [-np.sin(d), np.cos(d)])
    angles = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.05, 0.05) * t
    size = 2 * int(np.ceil(np.abs(poly).max())) + 3
    if patch_source is not None and rng.random() < 0.5 and min(patch_source.shape[:2]) > size:
        y0 = rng.integers(0, patch_source.shape[0] - size + 1)
        x0 = rng.integers(0, patch_source.shape[1] - size + 1)
        patch = patch_source[y0 : y0 + size, x0 : x0 + size].copy()
    else:
        patch = np.empty((size, size, 3), np.uint8)
        patch[:] = rng.integers(0, 256, 3)
    return Occluder(poly, centers, angles, patch)


def _paint(frame: np.ndarray, occ: Occluder, t: int) -> np.ndarray:
    """Paint occluder `occ` on frame (H, W, 3) in place; return its pixel mask (H, W)."""
    h, w = frame.shape[:2]
    mask = np.zeros((h, w), bool)
    v = occ.vertices(t)
    x0, y0 = np.maximum(np.floor(v.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(v.max(0)).astype(int), [w - 1, h - 1])
    if x0 > x1 or y0 > y1:
        return mask
    yy, xx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
    inside = occ.covers(t, np.stack([xx.ravel(), yy.ravel()], 1)).reshape(xx.shape)
    mask[y0 : y1 + 1, x0 : x1 + 1] = inside
    c, s = np.cos(occ.angles[t]), np.sin(occ.angles[t])
    half = (len(occ.patch) - 1) / 2
    rot = np.array([[c, -s], [s, c]])  # local -> frame, the same rotation as Occluder.vertices
    affine = np.concatenate([rot, (occ.centers[t] - rot @ [half, half])[:, None]], 1)
    painted = cv2.warpAffine(occ.patch, affine, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    frame[mask] = painted[mask]
    return mask


def prepare_texture(frame: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Resize a video frame so its short side is twice the output's long side (the camera path
    then stays on the texture for nearly every path)."""
    short = 2 * max(frame_hw)
    k = short / min(frame.shape[:2])
    size = (max(short, round(frame.shape[1] * k)), max(short, round(frame.shape[0] * k)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)


def make_sequence(texture: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (256, 256),
                  frames: int = 24, points: int = 64, occluders: tuple[int, int] = (1, 3),
                  occluder_source: np.ndarray | None = None, late_queries: float = 0.2, deformation: float = 1.0,
                  texture_points: np.ndarray | None = None, motion: Motion | None = None,
                  name: str = "") -> Sequence:
    """Render one sequence over `texture` (Hs, Ws, 3) uint8 (used as given: see prepare_texture).

    size (H, W) of the frames; occluders: (min, max) count; late_queries: fraction of points
    sampled on a random later frame instead of frame 0; texture_points (N, 2): track exactly these
    texture points instead of sampling (all are kept, even if never visible); motion: use this one
    (its num_frames replaces `frames`) instead of random_motion's; deformation scales the random
    motion's non-rigid waves (0: homographies only). Motion, occluders and
    points come from three independent child streams of rng, so changing `occluders` leaves the
    motion unchanged.
    """
    h, w = (int(v) for v in size)
    if h < 16 or w < 16 or frames < 2 or points < 1:
        raise ValueError(f"need size >= 16x16, frames >= 2, points >= 1; got {size}, {frames}, {points}")
    if not 0 <= occluders[0] <= occluders[1]:
        raise ValueError(f"occluders must be (min, max) counts with 0 <= min <= max, got {occluders}")
    texture = np.asarray(texture)
    if texture.ndim != 3 or texture.shape[2] != 3 or texture.dtype != np.uint8:
        raise ValueError(f"texture must be (H, W, 3) uint8, got {texture.shape} {texture.dtype}")
    motion_rng, occ_rng, point_rng = rng.spawn(3)
    if motion is None:
        motion = random_motion(motion_rng, texture.shape[:2], (h, w), frames, deformation)
    if motion.num_frames < 2:
        raise ValueError(f"motion must span >= 2 frames, got {motion.num_frames}")
    frames = motion.num_frames
    occs = tuple(random_occluder(occ_rng, (h, w), frames, occluder_source)
                 for _ in range(occ_rng.integers(occluders[0], occluders[1] + 1)))

    pix = np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), -1).reshape(-1, 2)
    video = np.empty((frames, h, w, 3), np.uint8)
    masks = np.zeros((frames, h, w), bool)
    for t in range(frames):
        src = motion.inverse(t, pix).astype(np.float32).reshape(h, w, 2)
        video[t] = cv2.remap(texture, src[..., 0], src[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        for occ in occs:
            masks[t] |= _paint(video[t], occ, t)

    def hidden(t: int, xy: np.ndarray) -> np.ndarray:
        out = (xy[:, 0] < 0) | (xy[:, 0] > w - 1) | (xy[:, 1] < 0) | (xy[:, 1] > h - 1)
        for occ in occs:
            out |= occ.covers(t, xy)
        return out

    if texture_points is None:
        texture_points = _sample_points(point_rng, motion, hidden, texture.shape[:2], (h, w), points, late_queries)
    uv = np.asarray(texture_points, np.float64).reshape(-1, 2)
    tracks = np.stack([motion.forward(t, uv) for t in range(frames)], 1)  # (N, T, 2)
    occluded = np.stack([hidden(t, tracks[:, t]) for t in range(frames)], 1)
    query_frames = np.where(occluded.all(1), 0, np.argmax(~occluded, axis=1)).astype(np.int64)
    return Sequence(video, tracks, occluded, query_frames, uv, masks, motion, occs, name)


def _sample_points(rng: np.random.Generator, motion: Motion, hidden, texture_hw, frame_hw, n: int,
                   late_queries: float) -> np.ndarray:
    """(n, 2) texture points, each visible (and on the texture) in the frame it is sampled on."""
    h, w = frame_hw
    hs, ws = texture_hw
    kept: list[np.ndarray] = []
    for _ in range(100):
        t_s = np.where(rng.random(2 * n) < late_queries, rng.integers(0, motion.num_frames, 2 * n), 0)
        xy = rng.uniform(0, 1, (2 * n, 2)) * [w - 1, h - 1]
        uv, ok = np.empty_like(xy), np.empty(len(xy), bool)
        for t in np.unique(t_s):
            sel = t_s == t
            uv[sel] = motion.inverse(int(t), xy[sel])
            ok[sel] = ~hidden(int(t), xy[sel])
        ok &= (uv[:, 0] >= 0) & (uv[:, 0] <= ws - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= hs - 1)
        kept.append(uv[ok])  # in draw order: late and frame-0 points mixed as drawn
        if sum(map(len, kept)) >= n:
            return np.concatenate(kept)[:n]
    raise ValueError(f"could not place {n} visible query points (occluders cover nearly every frame?)")


def _read_frame(rng: np.random.Generator, paths: list[Path], max_index: int = 40) -> tuple[np.ndarray, str]:
    """A random frame (among the first max_index) of a random video -> (frame, 'name#index')."""
    from rt_edge.video import open_source

    path = paths[rng.integers(len(paths))]
    index = int(rng.integers(max_index))
    with open_source(path) as src:
        for i, candidate in enumerate(src):  # a shorter video gives its last frame
            frame, found = candidate, i
            if i == index:
                break
    return frame, f"{path.name}#{found}"


class SequenceStream:
    """`count` sequences from frames of the videos (a folder or files), made one at a time as iterated.

    Deterministic in `seed`: sequence i draws from its own stream (SeedSequence(seed).spawn): a
    texture frame, a frame of a random video for the occluders' patches, and make_sequence's streams.
    """

    def __init__(self, videos: str | Path | Seq[str | Path], seed: int = 0, count: int = 4,
                 size: tuple[int, int] = (256, 256), frames: int = 24, points: int = 64,
                 occluders: tuple[int, int] = (1, 3), late_queries: float = 0.2) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        self.paths = list_clips(videos)
        self.seed, self.count, self.size, self.frames, self.points = seed, count, tuple(size), frames, points
        self.occluders, self.late_queries = occluders, late_queries
        self.names: list[str] = []  # "i:video#frame" of the sequences made by the last iteration

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Sequence]:
        self.names = []
        for i, child in enumerate(np.random.SeedSequence(self.seed).spawn(self.count)):
            src_rng, seq_rng = np.random.default_rng(child).spawn(2)
            frame, name = _read_frame(src_rng, self.paths)
            patches, _ = _read_frame(src_rng, self.paths)
            self.names.append(f"{i}:{name}")
            yield make_sequence(prepare_texture(frame, self.size), seq_rng, self.size, self.frames, self.points,
                                self.occluders, occluder_source=patches, late_queries=self.late_queries,
                                name=self.names[-1])


def generate(videos: str | Path | Seq[str | Path], seed: int = 0, count: int = 4, size: tuple[int, int] = (256, 256),
             frames: int = 24, points: int = 64, occluders: tuple[int, int] = (1, 3),
             late_queries: float = 0.2) -> list[Sequence]:
    """All of SequenceStream(...)'s sequences in a list (see SequenceStream)."""
    return list(SequenceStream(videos, seed, count, size, frames, points, occluders, late_queries))


def score(sequence: Sequence, tracks: np.ndarray, occluded: np.ndarray) -> dict[str, float]:
    """TAP-Vid metrics (query mode "first") of one prediction: tracks (N, T, 2) (x, y) px, occluded (N, T).

    Coordinates are rescaled from the video's W x H to the 256 x 256 raster the thresholds assume.
    """
    n, T = sequence.occluded.shape
    tracks, occluded = np.asarray(tracks, np.float64), np.asarray(occluded, bool)
    if tracks.shape != (n, T, 2) or occluded.shape != (n, T):
        raise ValueError(f"prediction must be tracks (N, T, 2) = {(n, T, 2)} and occluded (N, T) = {(n, T)}, "
                         f"got {tracks.shape} and {occluded.shape}")
    if not np.isfinite(tracks).all():
        raise ValueError("predicted tracks must be finite in every frame")
    return raster_metrics(sequence.queries, sequence.tracks, sequence.occluded, tracks, occluded,
                          sequence.video.shape[1:3])


def evaluate(predictors: dict[str, Predictor], sequences: Iterable[Sequence], progress: bool = False,
             timings: dict[str, float] | None = None,
             per_sequence: dict[str, list[dict[str, float]]] | None = None,
             on_prediction: Callable[[str, Sequence, np.ndarray, np.ndarray], None] | None = None,
             ) -> dict[str, dict[str, float]]:
    """Score each predictor on every sequence -> {name: {metric: mean over sequences}}.

    metrics: rt_edge.evaluation.tapvid.SUMMARY, then WITHIN (the share of visible points within each threshold).

    sequences: a list or a SequenceStream (generated while scoring); progress: a tqdm bar on
    stderr; timings: if given, filled with each predictor's mean seconds per sequence;
    per_sequence: if given, filled with each predictor's scores of every sequence, in order (for
    paired comparisons of two trackers on the same sequences); on_prediction: if given, called as
    on_prediction(name, sequence, tracks, occluded) after each prediction (for error breakdowns).
    """
    if not predictors:
        raise ValueError("need at least one predictor")
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in predictors}
    seconds = dict.fromkeys(predictors, 0.0)
    bar = None
    if progress:
        from tqdm import tqdm

        total = len(sequences) * len(predictors) if isinstance(sequences, Sized) else None
        bar = tqdm(total=total, desc="realtex", unit="run")
    for seq in sequences:
        for name, predict in predictors.items():
            start = time.perf_counter()
            tracks, occluded = predict(seq.video, seq.queries)
            seconds[name] += time.perf_counter() - start
            scores[name].append(score(seq, tracks, occluded))
            if on_prediction is not None:
                on_prediction(name, seq, tracks, occluded)
            if bar is not None:
                bar.set_postfix_str(name)
                bar.update()
    if bar is not None:
        bar.close()
    count = len(scores[next(iter(scores))])
    if count == 0:
        raise ValueError("need at least one sequence")
    if timings is not None:
        timings.update({name: s / count for name, s in seconds.items()})
    if per_sequence is not None:
        per_sequence.update(scores)
    return {name: {key: float(np.mean([s[key] for s in rows])) for key in SUMMARY + WITHIN}
            for name, rows in scores.items()}
