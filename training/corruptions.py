"""Corrupt-then-detect: candidate tracks made from ground truth by the errors real trackers make.

The verifier (training/verifier.py) learns to score candidate tracks per frame. It is trained
only on synthetic clips, whose exact tracks are corrupted here into M candidates per query, each
a plausible teacher output: mostly right, wrong in one characteristic way.

Every corruption acts on a contiguous *affected segment* of frames: the frames from an onset
frame outward to one end of the clip, on one side of the query frame (a tracker starts at the
query and goes wrong later, forward or, when tracking backward, earlier). The query frame
itself is never affected. Kinds (magnitudes `a` drawn log-uniform in `magnitude`, pixels):

- drift: an offset in a random direction growing linearly over the segment, `a` at its far end
  (|offset| = a * (k + 1) / n at the k-th of n affected frames).
- jump: a constant offset of length `a` from the onset on.
- switch: from the onset on the candidate follows another ground-truth point (positions and
  occlusion flags): the one whose distance at the onset is closest to `a` (a nearby point for
  small `a`). Without another distinct point it falls back to a jump.
- occlusion: the occlusion flag flipped on a random contiguous run inside the segment;
  positions untouched (the magnitude is not used).
- jitter: independent Gaussian noise per affected frame with per-axis std a / sqrt(2), so the
  root-mean-square offset length is `a`.
- frozen: stuck at the last good position (the frame before the onset, on the query side) over
  the segment; the error is the point's own motion (the magnitude is not used).
- lost: frozen, and flagged occluded over the segment: a tracker with a failure check (LK's
  forward-backward test) that has lost the point holds its last position and says so. Real
  teachers' occlusion flags carry this information; without this kind the verifier only ever
  sees flags that are uninformative about position (the occlusion kind).

Real teachers make correlated errors (two LK settings lose a point on the same frame and hold the
same stale position), so agreement between candidates is no proof: with probability `dup_prob` a
corrupted candidate repeats the corruption of an earlier corrupted candidate of the same query
(the same track before noise), and only its noise differs.

Every candidate, the clean one included, also carries small tracker noise (`noise_px`, per-axis
std) on all frames but the query frame, so the clean track is not recognisable by being exact.
Everything is drawn from the numpy Generator passed in: same generator state, same candidates.
Numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("drift", "jump", "switch", "occlusion", "jitter", "frozen", "lost")
CLEAN = -1  # kind code of the uncorrupted candidate


@dataclass(frozen=True)
class CorruptionConfig:
    """How candidates are drawn (see the module doc)."""

    kinds: tuple[str, ...] = KINDS  # corruption types to draw from (uniformly)
    magnitude: tuple[float, float] = (1.0, 128.0)  # pixels, log-uniform
    clean_prob: float = 0.5  # chance that one of a query's M candidates is the clean track
    combine_prob: float = 0.25  # chance that a corrupted candidate gets a second corruption on top
    noise_px: float = 0.5  # per-axis std of the small noise every candidate carries
    dup_prob: float = 0.25  # chance that a corrupted candidate repeats an earlier corrupted one (correlated errors)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        bad = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or bad:
            raise ValueError(f"corruption kinds must be a non-empty subset of {KINDS}, got {self.kinds}")
        lo, hi = self.magnitude
        if not 0 < lo <= hi:
            raise ValueError(f"magnitude must be (lo, hi) pixels with 0 < lo <= hi, got {self.magnitude}")
        for name in ("clean_prob", "combine_prob", "dup_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.noise_px < 0:
            raise ValueError(f"noise_px must be >= 0, got {self.noise_px}")


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One draw whose logarithm is uniform in [log lo, log hi]."""
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def affected_segment(rng: np.random.Generator, T: int, query_t: int) -> tuple[np.ndarray, int]:
    """Frames a corruption covers: (indices (n,) ordered away from the query, last good frame).

    The side (after or before the query frame) is random when both exist; the onset is uniform
    on that side. Empty (and last good = query_t) when the clip has only the query frame.
    """
    if not 0 <= query_t < T:
        raise ValueError(f"query frame {query_t} is outside a {T}-frame clip")
    sides = [s for s, ok in ((1, query_t < T - 1), (-1, query_t > 0)) if ok]
    if not sides:
        return np.zeros(0, np.int64), query_t
    side = sides[int(rng.integers(len(sides)))]
    end = T - 1 if side == 1 else 0
    onset = int(rng.integers(query_t + 1, T)) if side == 1 else int(rng.integers(0, query_t))
    return np.arange(onset, end + side, side, dtype=np.int64), onset - side


def _direction(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0.0, 2.0 * np.pi)
    return np.array([np.cos(angle), np.sin(angle)])


def corrupt(rng: np.random.Generator, kind: str, track: np.ndarray, occluded: np.ndarray, query_t: int,
            magnitude: float, others: np.ndarray | None = None,
            others_occluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One corruption of one track.

    track (T, 2) pixels, occluded (T,) bool, query_t its query frame, magnitude pixels;
    others (K, T, 2) / others_occluded (K, T): other ground-truth points of the clip (for switch).
    Returns new (track (T, 2) float64, occluded (T,) bool); the inputs are not modified.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown corruption {kind!r}; expected one of {KINDS}")
    track = np.array(track, dtype=np.float64)
    occluded = np.array(occluded, dtype=bool)
    T = len(track)
    if track.shape != (T, 2) or occluded.shape != (T,):
        raise ValueError(f"track must be (T, 2) and occluded (T,), got {track.shape} and {occluded.shape}")
    seg, good = affected_segment(rng, T, query_t)
    n = len(seg)
    if n == 0:
        return track, occluded
    if kind == "switch":
        target = _switch_target(track[seg[0]], int(seg[0]), magnitude, others)
        if target is None:
            kind = "jump"
        else:
            track[seg] = others[target, seg]
            if others_occluded is not None:
                occluded[seg] = others_occluded[target, seg]
            return track, occluded
    if kind == "drift":
        track[seg] += magnitude * _direction(rng) * (np.arange(1, n + 1) / n)[:, None]
    elif kind == "jump":
        track[seg] += magnitude * _direction(rng)
    elif kind == "occlusion":
        length = int(rng.integers(1, n + 1))
        start = int(rng.integers(0, n - length + 1))
        occluded[seg[start:start + length]] ^= True
    elif kind == "jitter":
        track[seg] += rng.normal(0.0, magnitude / np.sqrt(2.0), size=(n, 2))
    elif kind in ("frozen", "lost"):
        track[seg] = track[good]
        if kind == "lost":
            occluded[seg] = True
    return track, occluded


def _switch_target(position: np.ndarray, frame: int, magnitude: float, others: np.ndarray | None) -> int | None:
    """Index of the other point whose distance to `position` at `frame` is closest to `magnitude`
    (exact duplicates excluded); None when there is none."""
    if others is None or len(others) == 0:
        return None
    dist = np.linalg.norm(others[:, frame] - position, axis=-1)
    dist = np.where(dist > 1e-6, dist, np.inf)
    if not np.isfinite(dist).any():
        return None
    return int(np.argmin(np.abs(dist - magnitude)))


@dataclass
class Candidates:
    """M candidate tracks per query, drawn by `make_candidates`."""

    tracks: np.ndarray  # (M, N, T, 2) float32 pixels
    occluded: np.ndarray  # (M, N, T) bool
    kinds: np.ndarray  # (M, N) int: CLEAN or the index in KINDS of the (first) corruption applied
    clean: np.ndarray  # (N,) int: index of the clean candidate, -1 where there is none


def make_candidates(rng: np.random.Generator, tracks: np.ndarray, occluded: np.ndarray, query_t: np.ndarray,
                    m: int, cfg: CorruptionConfig = CorruptionConfig()) -> Candidates:
    """M candidates per query from ground truth.

    tracks (N, T, 2) pixels, occluded (N, T) bool, query_t (N,) int query frames. For each query,
    with probability cfg.clean_prob one slot (uniformly placed) holds the clean track; the others
    each get one corruption (a second one with probability cfg.combine_prob), kinds uniform over
    cfg.kinds, magnitudes log-uniform in cfg.magnitude, or, with probability cfg.dup_prob when an
    earlier slot is corrupted, a copy of a random earlier corrupted slot. All get cfg.noise_px noise
    off the query frame.
    """
    tracks = np.asarray(tracks, dtype=np.float64)
    occluded = np.asarray(occluded, dtype=bool)
    query_t = np.asarray(query_t).astype(np.int64)
    if tracks.ndim != 3 or tracks.shape[2] != 2:
        raise ValueError(f"tracks must be (N, T, 2), got {tracks.shape}")
    N, T = tracks.shape[:2]
    if occluded.shape != (N, T) or query_t.shape != (N,):
        raise ValueError(f"occluded must be (N, T) = {(N, T)} and query_t (N,), got {occluded.shape}, {query_t.shape}")
    if m < 1:
        raise ValueError(f"the number of candidates must be >= 1, got {m}")
    out_xy = np.repeat(tracks[None], m, axis=0)
    out_occ = np.repeat(occluded[None], m, axis=0)
    kinds = np.full((m, N), CLEAN, np.int64)
    clean = np.full(N, -1, np.int64)
    lo, hi = cfg.magnitude
    for n in range(N):
        others = np.delete(tracks, n, axis=0)
        others_occ = np.delete(occluded, n, axis=0)
        if rng.random() < cfg.clean_prob:
            clean[n] = int(rng.integers(m))
        for j in range(m):
            if j == clean[n]:
                continue
            corrupted = [i for i in range(j) if i != clean[n]]
            if corrupted and cfg.dup_prob > 0 and rng.random() < cfg.dup_prob:
                src = corrupted[int(rng.integers(len(corrupted)))]
                out_xy[j, n], out_occ[j, n], kinds[j, n] = out_xy[src, n], out_occ[src, n], kinds[src, n]
                continue
            count = 2 if rng.random() < cfg.combine_prob else 1
            for c in range(count):
                kind = cfg.kinds[int(rng.integers(len(cfg.kinds)))]
                if c == 0:
                    kinds[j, n] = KINDS.index(kind)
                out_xy[j, n], out_occ[j, n] = corrupt(rng, kind, out_xy[j, n], out_occ[j, n], int(query_t[n]),
                                                      log_uniform(rng, lo, hi), others, others_occ)
    if cfg.noise_px > 0:
        noise = rng.normal(0.0, cfg.noise_px, size=out_xy.shape)
        noise[:, np.arange(N), query_t] = 0.0
        out_xy += noise
    return Candidates(out_xy.astype(np.float32), out_occ, kinds, clean)
