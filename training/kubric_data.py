"""Kubric-format clips as CoTracker3 training items (the published release or `training.synthetic`).

On disk, per sequence `<root>/<seq>/`: `frames/*.png` (sorted by name, RGB content) and
`<seq>.npy`, a pickled dict with `coords` (N, T, 2) pixels (x, y) and `visibility` (N, T)
bool that is True where the point is OCCLUDED. The .npy is read with rt_edge.safe_pickle
(never np.load(allow_pickle=True)).

One item, drawn from np.random.default_rng([seed, epoch, index]) so it depends on nothing else
(not on worker order or earlier items):

1. Temporal crop: T frames (online: 64; offline: 30-60 at random, see VARIANTS), taken every
   `stride` frames (offline: up to 4, as the reference's random frame rate; online: 1) from a
   random start; train=False: start 0, stride 1. Clips shorter than T are padded by repeating
   their last frame, tracks and occlusion flags, so every item keeps the drawn length; the
   model sees a still ending. (Offline lengths vary per item: batch one clip per step, as the
   reference does, or fix `frames`.)
2. Spatial: one affine map per frame (scale, crop offset, optional flips) applied to the frames
   with cv2.warpAffine and to the tracks with the same matrix, so they agree exactly. Pixel
   centres are at integers: a horizontal flip maps x to W - 1 - x. The scale is never below
   what covers the output (no empty borders); train=False uses that covering scale (1 when the
   clip already has the output size) and a centred crop. With augmentation the scale is random
   (Augment.scale) and drifts smoothly over time, as does the crop window.
3. Photometric (augmentation on): per-frame brightness/contrast/saturation/hue jitter and
   Gaussian blur, each on a random share of clips (Augment). Tracks are unchanged.
4. Points: only points visible in at least one frame of the crop (inside it, not occluded) are
   candidates. The format has no object ids, so "bias toward objects" is approximated by motion:
   a point is "moving" when its displacement since the first frame, minus the median
   displacement of all candidates (roughly the camera's), exceeds Augment.moving_px in some
   frame. Sampling weights are 1 + motion_weight * moving + early_weight * (first visible in
   the first quarter of the clip; online only by default): with the defaults a moving point
   is 3x as likely as a still one. Points are drawn without replacement by these weights;
   when there are fewer candidates than points, the rest are drawn again from the candidates
   (duplicate tracks), so shapes stay fixed.
5. Queries (t, x, y): a share (Variant.first_query_share: 3/4 online, 0 offline) at the point's
   first visible frame, the others at a uniformly random visible frame; so every query frame
   shows its point.

Items: video (T, 3, H, W) float32 in [0, 255], tracks (T, N, 2) float32, visible (T, N) bool,
queries (N, 3) float32, and for bookkeeping point_ids (N,) (rows of the file's coords) and
frame_ids (T,) (source frames). torch is imported only to wrap items as tensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from rt_edge.safe_pickle import load_npy

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg")
MAX_ATTEMPTS = 10  # fresh crops tried before a clip with no visible point is reported
MAX_LOG_STRETCH = np.log(1.25)  # the per-frame scale drift stays within 0.8x..1.25x of the clip's zoom


@dataclass(frozen=True)
class Variant:
    """Per-model defaults (CoTracker3 appendix; the reference launch scripts)."""

    frames: tuple[int, int]  # clip length, drawn uniformly in this inclusive range
    points: int  # tracks per item
    first_query_share: float  # share of queries at the point's first visible frame (others: random visible frame)
    early_weight: float  # extra sampling weight for points first visible in the first quarter of the clip
    max_frame_stride: int  # frames are taken every s frames, s uniform in [1, min(this, clip_len // T)]


VARIANTS = {
    # online: T=64 (window 16), 384 points, queries mostly at the beginning (it only tracks forward)
    "online": Variant(frames=(64, 64), points=384, first_query_share=0.75, early_weight=1.0, max_frame_stride=1),
    # offline: T in 30..60, 512 points, queries uniform in time, random frame rate as in the reference script
    "offline": Variant(frames=(30, 60), points=512, first_query_share=0.0, early_weight=0.0, max_frame_stride=4),
}


@dataclass(frozen=True)
class Augment:
    """Augmentation strengths; defaults follow the reference Kubric training (probabilities per clip)."""

    scale: tuple[float, float] = (0.75, 1.25)  # random zoom (raised to the covering scale when needed)
    scale_drift: float = 0.05  # per-frame smooth change of the x/y scales (relative)
    crop_drift: float = 15.0  # per-frame smooth move of the crop window, pixels
    hflip: float = 0.5
    vflip: float = 0.5
    color: float = 0.25  # share of clips with colour jitter (fresh amounts per frame)
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.25 / 3.14  # fraction of the hue circle
    blur: float = 0.25  # share of clips blurred (fresh sigma per frame)
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    moving_px: float = 8.0  # residual motion (output pixels) that marks a point as moving (sampling bias)
    motion_weight: float = 2.0


NO_AUGMENT = Augment(scale=(1.0, 1.0), scale_drift=0.0, crop_drift=0.0, hflip=0.0, vflip=0.0, color=0.0, blur=0.0)


def list_sequences(root: str | os.PathLike) -> list[str]:
    """Sorted names of the sequence folders under root (those with frames/ and <name>.npy)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset root not found: {root}")
    names = sorted(d.name for d in root.iterdir()
                   if d.is_dir() and (d / "frames").is_dir() and (d / f"{d.name}.npy").is_file())
    if not names:
        raise FileNotFoundError(f"no sequences in {root}: expected <root>/<seq>/frames/*.png and <seq>/<seq>.npy")
    return names


def read_annotations(path: str | os.PathLike, num_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(coords (N, T, 2) float64, occluded (N, T) bool) from a release .npy, checked."""
    ann = load_npy(path)
    if not isinstance(ann, dict) or "coords" not in ann or "visibility" not in ann:
        keys = sorted(ann) if isinstance(ann, dict) else type(ann).__name__
        raise ValueError(f"{path}: expected a dict with 'coords' and 'visibility', got {keys}")
    coords, occluded = np.asarray(ann["coords"]), np.asarray(ann["visibility"])
    if coords.ndim != 3 or coords.shape[2] != 2 or not np.issubdtype(coords.dtype, np.number):
        raise ValueError(f"{path}: coords must be numeric (N, T, 2), got {coords.dtype} {coords.shape}")
    if occluded.shape != coords.shape[:2]:
        raise ValueError(f"{path}: visibility must be (N, T) = {coords.shape[:2]}, got {occluded.shape}")
    if num_frames is not None and coords.shape[1] != num_frames:
        raise ValueError(f"{path}: annotations cover {coords.shape[1]} frames but the sequence has {num_frames}")
    return coords.astype(np.float64), occluded.astype(bool)


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read frame {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------- spatial


def _drift(rng: np.random.Generator, T: int, amount: float, size: int = 1) -> np.ndarray:
    """(T, size) a smooth random walk starting at 0: velocity with momentum, steps within +-amount."""
    step = rng.uniform(-1.0, 1.0, (T, size)) * amount
    out, velocity = np.zeros((T, size)), np.zeros(size)
    for t in range(1, T):
        velocity = step[t] if t == 1 else 0.8 * velocity + 0.2 * step[t]
        out[t] = out[t - 1] + velocity
    return out


def spatial_maps(rng: np.random.Generator, T: int, src_hw: tuple[int, int], out_hw: tuple[int, int],
                 aug: Augment, train: bool) -> np.ndarray:
    """(T, 2, 3) per-frame affine maps from source pixels to output pixels (scale, crop, flips).

    Every random number is drawn whatever the settings, so two configurations that differ only
    in, say, flip probability produce the same crop.
    """
    (hs, ws), (ho, wo) = src_hw, out_hw
    cover = max((ho - 1) / max(hs - 1, 1), (wo - 1) / max(ws - 1, 1))
    zoom = rng.uniform(*aug.scale)
    stretch = np.exp(np.clip(_drift(rng, T, aug.scale_drift, 2), -MAX_LOG_STRETCH, MAX_LOG_STRETCH))  # (T, 2): x, y
    centre_u = rng.random(2)
    move = _drift(rng, T, aug.crop_drift, 2)
    hflip, vflip = rng.random() < aug.hflip, rng.random() < aug.vflip
    base = max(zoom, cover) if train else cover
    scales = np.maximum(base * stretch, cover)  # (T, 2)
    # crop centre in source pixels: random where the first frame's window fits (train), else the middle
    half = np.array([(wo - 1) / 2, (ho - 1) / 2]) / scales[0]
    lo, hi = half, np.array([ws - 1, hs - 1]) - half
    centre = lo + centre_u * (hi - lo) if train else np.array([(ws - 1) / 2, (hs - 1) / 2])
    maps = np.zeros((T, 2, 3))
    for t in range(T):
        sx, sy = scales[t]
        ox = np.clip(sx * centre[0] - (wo - 1) / 2 + move[t, 0], 0, sx * (ws - 1) - (wo - 1))
        oy = np.clip(sy * centre[1] - (ho - 1) / 2 + move[t, 1], 0, sy * (hs - 1) - (ho - 1))
        maps[t] = [[sx, 0, -ox], [0, sy, -oy]]
    if hflip:
        maps[:, 0] = -maps[:, 0]
        maps[:, 0, 2] += wo - 1
    if vflip:
        maps[:, 1] = -maps[:, 1]
        maps[:, 1, 2] += ho - 1
    return maps


def warp_clip(frames: np.ndarray, tracks: np.ndarray, maps: np.ndarray, out_hw: tuple[int, int]):
    """(frames (T, H, W, 3) float32, tracks (T, N, 2)): frames (T, h, w, 3) and tracks mapped by maps (T, 2, 3)."""
    ho, wo = out_hw
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    out = np.empty((len(frames), ho, wo, 3), np.float32)
    for t, (frame, m) in enumerate(zip(frames, maps, strict=True)):
        if frame.shape[:2] == (ho, wo) and np.array_equal(m, identity):
            out[t] = frame
        else:
            out[t] = cv2.warpAffine(frame.astype(np.float32), m, (wo, ho), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT_101)
    mapped = np.einsum("tij,tnj->tni", maps[:, :, :2], tracks) + maps[:, None, :, 2]
    return out, mapped


# ---------------------------------------------------------------- photometric


def _gray(img: np.ndarray) -> np.ndarray:
    return img @ np.array([0.299, 0.587, 0.114], np.float32)


def photometric(rng: np.random.Generator, frames: np.ndarray, aug: Augment) -> np.ndarray:
    """Colour jitter and blur on float32 RGB frames (T, H, W, 3) in [0, 255], in place; all draws always made."""
    T = len(frames)
    do_color, do_blur = rng.random() < aug.color, rng.random() < aug.blur
    # python floats keep the arithmetic in float32 (numpy scalars would promote to float64)
    b = rng.uniform(1 - aug.brightness, 1 + aug.brightness, T).tolist()
    c = rng.uniform(1 - aug.contrast, 1 + aug.contrast, T).tolist()
    s = rng.uniform(1 - aug.saturation, 1 + aug.saturation, T).tolist()
    h = rng.uniform(-aug.hue, aug.hue, T).tolist()
    sigma = rng.uniform(*aug.blur_sigma, T).tolist()
    for t in range(T):
        img = frames[t]
        if do_color:
            img = np.clip(img * b[t], 0, 255)
            mean = _gray(img).mean()
            img = np.clip((img - mean) * c[t] + mean, 0, 255)
            g = _gray(img)[..., None]
            img = np.clip((img - g) * s[t] + g, 0, 255)
            hsv = cv2.cvtColor(img / 255.0, cv2.COLOR_RGB2HSV)  # float: hue in degrees [0, 360)
            hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * h[t], 360.0)
            img = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0, 0, 255)
        if do_blur:
            img = cv2.GaussianBlur(img, (11, 11), sigma[t])
        frames[t] = img
    return frames


# ---------------------------------------------------------------- points and queries


def select_points(rng: np.random.Generator, tracks: np.ndarray, visible: np.ndarray, n: int, variant: Variant,
                  aug: Augment) -> tuple[np.ndarray, np.ndarray]:
    """(point indices (n,), query frames (n,)) for tracks (T, N, 2) and visible (T, N); see the module doc.

    ValueError when no point is visible in any frame.
    """
    T = len(visible)
    cand = np.flatnonzero(visible.any(axis=0))
    if len(cand) == 0:
        raise ValueError("no point is visible in this crop")
    rel = tracks[:, cand] - tracks[:1, cand]  # (T, C, 2) motion since the first frame
    residual = rel - np.median(rel, axis=1, keepdims=True)
    moving = np.linalg.norm(residual, axis=-1).max(axis=0) > aug.moving_px
    first = visible[:, cand].argmax(axis=0)
    weight = 1.0 + aug.motion_weight * moving + variant.early_weight * (first < max(1, T // 4))
    p = weight / weight.sum()
    k = min(n, len(cand))
    chosen = rng.choice(len(cand), size=k, replace=False, p=p)
    extra = rng.choice(len(cand), size=n - k, replace=True, p=p)
    chosen = np.concatenate([chosen, extra])
    vis = visible[:, cand[chosen]]  # (T, n)
    count = vis.sum(axis=0)
    rank = np.minimum((rng.random(n) * count).astype(np.int64), count - 1)  # which visible frame, uniformly
    at_random = (np.cumsum(vis, axis=0) > rank[None]).argmax(axis=0)
    at_first = rng.random(n) < variant.first_query_share
    return cand[chosen], np.where(at_first, vis.argmax(axis=0), at_random)


# ---------------------------------------------------------------- dataset


class KubricDataset:
    """Training items from a folder of Kubric-format clips (see the module doc for what an item is).

    variant: "online" | "offline" (defaults in VARIANTS); frames: clip length, an int or an
    inclusive (lo, hi) range (default: the variant's); size: (H, W) of the output; points:
    tracks per item (default: the variant's); train: random temporal start, frame stride and crop
    position (False: the first frames at stride 1, centred crop); augment: True/False or an
    Augment (default: = train).
    Items depend only on (seed, epoch, index). Works as a map-style torch Dataset.
    """

    def __init__(self, root: str | os.PathLike, variant: str = "online", frames: int | tuple[int, int] | None = None,
                 size: tuple[int, int] = (384, 512), points: int | None = None, seed: int = 0, train: bool = True,
                 augment: bool | Augment | None = None):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        cfg = VARIANTS[variant]
        if frames is not None:
            lo, hi = (frames, frames) if isinstance(frames, (int, np.integer)) else tuple(frames)
            if not 2 <= lo <= hi:
                raise ValueError(f"frames must be an int >= 2 or a range (lo, hi) with 2 <= lo <= hi, got {frames}")
            cfg = replace(cfg, frames=(int(lo), int(hi)))
        if points is not None:
            if points < 1:
                raise ValueError(f"points must be >= 1, got {points}")
            cfg = replace(cfg, points=int(points))
        if len(size) != 2 or min(size) < 2:
            raise ValueError(f"size must be (H, W) with both >= 2, got {size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if augment is None:
            augment = train
        self.aug = augment if isinstance(augment, Augment) else (Augment() if augment else NO_AUGMENT)
        self.root, self.variant, self.cfg = Path(root), variant, cfg
        self.size, self.seed, self.train, self.epoch = (int(size[0]), int(size[1])), int(seed), bool(train), 0
        self.sequences = list_sequences(self.root)

    def __len__(self) -> int:
        return len(self.sequences)

    def set_epoch(self, epoch: int) -> None:
        """Items of __getitem__ are drawn for this epoch (sample(k) carries its own epoch)."""
        self.epoch = int(epoch)

    def _frame_paths(self, name: str) -> list[Path]:
        folder = self.root / name / "frames"
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS)
        if not paths:
            raise ValueError(f"no frames ({', '.join(FRAME_EXTENSIONS)}) in {folder}")
        return paths

    def _frame_ids(self, rng: np.random.Generator, length: int) -> np.ndarray:
        T = int(rng.integers(self.cfg.frames[0], self.cfg.frames[1] + 1))
        stride = int(rng.integers(1, max(1, min(self.cfg.max_frame_stride, length // T)) + 1))
        start = int(rng.integers(0, max(length - (T - 1) * stride - 1, 0) + 1))
        if not self.train:  # evaluation: the clip's first T frames at their own rate (draws above still made)
            start, stride = 0, 1
        return np.minimum(start + stride * np.arange(T), length - 1)  # short clips: last frame repeated

    def item(self, index: int, epoch: int = 0) -> dict[str, np.ndarray]:
        """Item `index` of `epoch` as numpy arrays (see the module doc)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} sequences")
        name = self.sequences[index]
        paths = self._frame_paths(name)
        coords, occluded = read_annotations(self.root / name / f"{name}.npy", len(paths))
        rng = np.random.default_rng([self.seed, int(epoch), int(index)])
        for _ in range(MAX_ATTEMPTS):
            ids = self._frame_ids(rng, len(paths))
            unique = {int(i): _read_rgb(paths[i]) for i in np.unique(ids)}
            src = np.stack([unique[int(i)] for i in ids])
            if any(f.shape != src[0].shape for f in unique.values()):
                raise ValueError(f"frames of {self.root / name} differ in size")
            maps = spatial_maps(rng, len(ids), src.shape[1:3], self.size, self.aug, self.train)
            video, tracks = warp_clip(src, coords[:, ids].transpose(1, 0, 2), maps, self.size)
            H, W = self.size
            x, y = tracks[..., 0], tracks[..., 1]
            visible = ~occluded[:, ids].T & (x >= 0) & (x <= W - 1) & (y >= 0) & (y <= H - 1)
            photometric(rng, video, self.aug)
            if visible.any():
                break
        else:
            raise ValueError(f"{self.root / name}: no point visible in {MAX_ATTEMPTS} random crops")
        pts, qt = select_points(rng, tracks, visible, self.cfg.points, self.cfg, self.aug)
        tracks, visible = tracks[:, pts].astype(np.float32), visible[:, pts]
        queries = np.concatenate([qt[:, None].astype(np.float32), tracks[qt, np.arange(len(pts))]], axis=1)
        return {"video": np.ascontiguousarray(video.transpose(0, 3, 1, 2)), "tracks": tracks, "visible": visible,
                "queries": queries, "point_ids": pts.astype(np.int64), "frame_ids": ids.astype(np.int64)}

    def sample(self, k: int) -> dict:
        """The k-th item of an endless stream (sequence k % len, epoch k // len) as torch tensors."""
        return _to_torch(self.item(k % len(self), k // len(self)))

    def __getitem__(self, index: int) -> dict:
        return _to_torch(self.item(index, self.epoch))


def _to_torch(item: dict[str, np.ndarray]) -> dict:
    import torch

    return {k: torch.from_numpy(v) for k, v in item.items()}
