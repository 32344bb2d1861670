"""Procedural training clips in the Kubric release's on-disk format, with exact ground truth.

A scene is a textured background seen through a smoothly moving camera (a homography per
frame) and 3-8 textured polygons ("sprites") stacked in depth order, each moving, rotating
and scaling along a smooth path, occluding one another and leaving the frame. Textures are
only moved, never changed, so a point on a surface keeps its colour.

Ground truth: points are sampled on the surfaces, in each object's own coordinates (texture
pixels of the background or of a sprite), and mapped into every frame by that object's exact
transform. A point is occluded in a frame when it falls outside the image or when the pixel
nearest to it is not rendered from its own object (a sprite above covers it): the owner map
used for that test is built from the very masks used to composite the frame.

Coordinates are pixels with pixel centres at integers, x to the right, y down (OpenCV's
warp convention, and the project's). On disk, per sequence `<out>/<seq>/`:
`frames/00000.png ...` (RGB content; written by OpenCV, so BGR order in the file as OpenCV
always stores it) and `<seq>.npy`, an `np.save`d dict with `coords` (N, T, 2) float32 (x, y)
and `visibility` (N, T) bool that is True where the point is OCCLUDED (the release's naming).

    generate("data/synth", sequences=100, frames=24, size=(256, 256), seed=0)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rt_edge.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

BACKGROUND_FRACTION = 0.4  # share of the points sampled on the background
SPRITE_COUNT = (3, 8)  # inclusive range of sprites per scene
SPRITE_MIN_SCALE = 0.6  # sprites never shrink below this (keeps sampled points >= ~2 px inside their mask)
MASK_MARGIN = 4  # sprite points are sampled this many texture pixels inside the polygon
BACKGROUND_FRAMES_PER_VIDEO = 6  # frames kept per background video (every 10th of its first 60)


@dataclass
class Sprite:
    """A textured polygon in its own coordinates and its per-frame placement."""

    texture: np.ndarray  # (h, w, 3) uint8 RGB
    polygon: np.ndarray  # (V, 2) float64 (x, y) in texture pixels
    mask: np.ndarray  # (h, w) uint8 polygon coverage, 255 inside (see polygon_coverage)
    affine: np.ndarray  # (T, 2, 3) float64: texture pixels -> image pixels per frame


@dataclass
class Scene:
    """Everything needed to render a clip and its ground truth (see `render`, `project`)."""

    size: tuple[int, int]  # (H, W) of the frames
    background: np.ndarray  # (Hb, Wb, 3) uint8 RGB texture
    homography: np.ndarray  # (T, 3, 3) float64: background texture pixels -> image pixels
    sprites: list[Sprite]  # bottom to top
    point_object: np.ndarray  # (N,) int: 0 background, k + 1 sprite k
    point_local: np.ndarray  # (N, 2) float64 (x, y) in that object's texture pixels

    @property
    def frames(self) -> int:
        return len(self.homography)


def sequence_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sequence `index` of a run seeded with `seed` (independent of other sequences)."""
    return np.random.default_rng([seed, index])


# ---------------------------------------------------------------- textures


def make_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random trackable RGB texture (h, w, 3) uint8: colour noise at several scales (through a random
    colour mix, so each texture has its own palette), sometimes stripes, and translucent blobs."""
    img = np.zeros((h, w, 3), np.float32)
    for cell in (4, 8, 16, 32, 64):  # noise octaves, cell size in pixels
        grid = rng.normal(size=(h // cell + 2, w // cell + 2, 3)).astype(np.float32)
        big = cv2.resize(grid, ((w // cell + 2) * cell, (h // cell + 2) * cell), interpolation=cv2.INTER_CUBIC)
        img += rng.uniform(0.2, 1.0) * big[:h, :w]
    mix = np.eye(3) * rng.uniform(0.1, 0.6) + rng.uniform(-1, 1, (1, 3)) * rng.uniform(0.5, 1.0)
    img = img @ mix.astype(np.float32)
    img = (img - img.mean()) / (img.std() + 1e-6) * rng.uniform(25, 45) + rng.uniform(60, 195, size=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(rng.integers(0, 3)):  # stripes
        angle, period = rng.uniform(0, np.pi), rng.uniform(8, 40)
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi))
        img += wave[..., None] * rng.uniform(-40, 40, size=3).astype(np.float32)
    for _ in range(rng.integers(2, 3 + (h * w) // 2000)):  # translucent blobs: texture shows through
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        axes = (int(rng.integers(2, 12)), int(rng.integers(2, 12)))
        angle, colour, alpha = float(rng.uniform(0, 180)), rng.uniform(0, 255, size=3).tolist(), rng.uniform(0.3, 0.8)
        x0, y0 = max(cx - 13, 0), max(cy - 13, 0)
        roi = img[y0:cy + 14, x0:cx + 14]  # a view: blended in place
        layer = roi.copy()
        cv2.ellipse(layer, (cx - x0, cy - y0), axes, angle, 0, 360, colour, -1, cv2.LINE_AA)
        roi[:] = alpha * layer + (1 - alpha) * roi
    return np.clip(img, 0, 255).astype(np.uint8)


def load_backgrounds(folder: str | os.PathLike) -> list[np.ndarray]:
    """RGB images (H, W, 3) uint8 to texture scenes with: a few frames of each video in `folder`
    (read with rt_edge.video.read_frames) and each image file there, in sorted-name order."""
    from rt_edge.video import read_frames

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--backgrounds folder not found: {folder}")
    images: list[np.ndarray] = []
    for path in sorted(folder.iterdir()):
        ext = path.suffix.lower()
        if ext in VIDEO_EXTENSIONS:
            frames = read_frames(path, max_frames=10 * BACKGROUND_FRAMES_PER_VIDEO)
            images.extend(frames[::10])
        elif ext in IMAGE_EXTENSIONS:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError(f"cannot read background image {path}")
            images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not images:
        raise FileNotFoundError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) or images in --backgrounds {folder}")
    return images


def _crop_of(rng: np.random.Generator, image: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random (h, w) crop of `image` after a random rescale (never smaller than the crop)."""
    scale = max(h / image.shape[0], w / image.shape[1], rng.uniform(0.5, 1.0))
    if scale != 1.0:
        size = (max(w, round(image.shape[1] * scale)), max(h, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y = int(rng.integers(0, image.shape[0] - h + 1))
    x = int(rng.integers(0, image.shape[1] - w + 1))
    return np.ascontiguousarray(image[y:y + h, x:x + w])


def _textured_crop(rng: np.random.Generator, images: list[np.ndarray], h: int, w: int, tries: int = 4) -> np.ndarray:
    """The most textured (mean |Laplacian|) of a few random crops: real frames have flat regions (sky, walls)."""
    crops = [_crop_of(rng, images[int(rng.integers(len(images)))], h, w) for _ in range(tries)]
    energy = [np.abs(cv2.Laplacian(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean() for c in crops]
    return crops[int(np.argmax(energy))]


def _texture(rng: np.random.Generator, h: int, w: int, images: list[np.ndarray] | None, real_share: float):
    if images and rng.random() < real_share:
        return _textured_crop(rng, images, h, w)
    return make_texture(rng, h, w)


# ---------------------------------------------------------------- motion


def _wave(rng: np.random.Generator, T: int, amplitude: float) -> np.ndarray:
    """(T,) a smooth zero-centred signal within +-amplitude: two slow sinusoids."""
    t = np.arange(T, dtype=np.float64)
    weights = rng.dirichlet([1.0, 1.0])
    out = np.zeros(T)
    for a in weights:
        period = rng.uniform(20, 100)
        out += a * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    return amplitude * out


def _translate(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


def _rotate_scale(angle: float, sx: float, sy: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c * sx, -s * sy, 0], [s * sx, c * sy, 0], [0, 0, 1]], np.float64)


def _camera(rng: np.random.Generator, T: int, size: tuple[int, int], tex_hw: tuple[int, int]) -> np.ndarray:
    """(T, 3, 3) background texture -> image homographies: smooth pan, rotation, zoom and a little perspective."""
    H, W = size
    strength = rng.uniform(0.0, 1.0)  # some scenes have an almost still camera
    dx, dy = _wave(rng, T, 0.15 * W * strength), _wave(rng, T, 0.15 * H * strength)
    angle = _wave(rng, T, np.deg2rad(8) * strength)
    zoom = 1.15 + _wave(rng, T, 0.13 * strength)  # image pixels per texture pixel, >= 1.02
    gx, gy = _wave(rng, T, 0.15 / max(H, W) * strength), _wave(rng, T, 0.15 / max(H, W) * strength)
    to_centre = _translate(-(tex_hw[1] - 1) / 2, -(tex_hw[0] - 1) / 2)
    from_centre = _translate((W - 1) / 2, (H - 1) / 2)
    out = np.empty((T, 3, 3))
    for t in range(T):
        perspective = np.array([[1, 0, 0], [0, 1, 0], [gx[t], gy[t], 1]], np.float64)
        out[t] = (from_centre @ perspective @ _translate(dx[t], dy[t]) @ _rotate_scale(angle[t], zoom[t], zoom[t])
                  @ to_centre)
    return out


def _polygon(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(V, 2) a random star-shaped polygon, ellipse or rectangle inside an (h, w) texture."""
    cx, cy, rx, ry = (w - 1) / 2, (h - 1) / 2, (w - 3) / 2, (h - 3) / 2
    kind = rng.integers(3)
    if kind == 0:  # rectangle (possibly slightly inset)
        inset = rng.uniform(0.0, 0.2)
        xs, ys = rx * (1 - inset), ry * (1 - inset)
        return np.array([[cx - xs, cy - ys], [cx + xs, cy - ys], [cx + xs, cy + ys], [cx - xs, cy + ys]])
    if kind == 1:  # ellipse
        a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        radius = np.ones_like(a)
    else:  # star-shaped polygon
        n = int(rng.integers(5, 13))
        a = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(0.45, 1.0, n)
    return np.stack([cx + rx * radius * np.cos(a), cy + ry * radius * np.sin(a)], axis=1)


def polygon_coverage(polygon: np.ndarray, h: int, w: int, supersample: int = 4) -> np.ndarray:
    """(h, w) uint8: 255 x the share of each pixel covered by the polygon (V, 2), from a supersampled fill.

    Rendering thresholds the warped coverage at one half, so sprite edges sit on the polygon's
    edges to a fraction of a pixel (a plain fillPoly also fills pixels the outline merely touches).
    """
    k = supersample
    fine = np.zeros((h * k, w * k), np.uint8)
    # fine pixel centre i sits at coarse coordinate (i + 1/2) / k - 1/2, i.e. coarse x -> fine k * x + (k - 1) / 2
    pts = np.round((polygon * k + (k - 1) / 2) * 16).astype(np.int32)
    cv2.fillPoly(fine, [pts], 255, cv2.LINE_8, shift=4)
    return cv2.resize(fine, (w, h), interpolation=cv2.INTER_AREA)


def _sprite(rng: np.random.Generator, T: int, size: tuple[int, int], images, real_share: float) -> Sprite:
    H, W = size
    side = rng.uniform(0.2, 0.45) * min(H, W)
    h, w = (max(16, round(side * rng.uniform(0.7, 1.3))) for _ in range(2))
    texture = _texture(rng, h, w, images, real_share)
    polygon = _polygon(rng, h, w)
    mask = polygon_coverage(polygon, h, w)
    # smooth path: start inside the frame, drift at a constant velocity (often out of it), wobble
    t = np.arange(T, dtype=np.float64)
    speed = rng.uniform(0.0, 3.0) * min(H, W) / 256
    heading = rng.uniform(0, 2 * np.pi)
    x = rng.uniform(0.1, 0.9) * W + speed * np.cos(heading) * t + _wave(rng, T, rng.uniform(0, 0.1) * W)
    y = rng.uniform(0.1, 0.9) * H + speed * np.sin(heading) * t + _wave(rng, T, rng.uniform(0, 0.1) * H)
    angle = rng.uniform(0, 2 * np.pi) + rng.uniform(-0.05, 0.05) * t + _wave(rng, T, 0.3)
    scale = np.maximum(rng.uniform(0.8, 1.25) * np.exp(_wave(rng, T, 0.25)), SPRITE_MIN_SCALE)
    to_centre = _translate(-(w - 1) / 2, -(h - 1) / 2)
    affine = np.stack([(_translate(x[k], y[k]) @ _rotate_scale(angle[k], scale[k], scale[k]) @ to_centre)[:2]
                       for k in range(T)])
    return Sprite(texture=texture, polygon=polygon, mask=mask, affine=affine)


# ---------------------------------------------------------------- scene, rendering, ground truth


def _sample_points(rng: np.random.Generator, scene_bg_h: np.ndarray, sprites: list[Sprite], size, points: int):
    """(object ids (N,), local (x, y) (N, 2)): a share on the background, the rest on sprites by area."""
    H, W = size
    T = len(scene_bg_h)
    n_bg = int(round(points * BACKGROUND_FRACTION))
    areas = np.array([np.count_nonzero(s.mask >= 128) for s in sprites], np.float64)
    per_sprite = rng.multinomial(points - n_bg, areas / areas.sum())
    ids, local = [], []
    # background: a uniform pixel of a random frame, taken back into texture coordinates
    frame = rng.integers(0, T, n_bg)
    pix = np.stack([rng.uniform(0, W - 1, n_bg), rng.uniform(0, H - 1, n_bg), np.ones(n_bg)], axis=1)
    tex = np.einsum("nij,nj->ni", np.linalg.inv(scene_bg_h[frame]), pix)
    ids.append(np.zeros(n_bg, np.int64))
    local.append(tex[:, :2] / tex[:, 2:])
    kernel = np.ones((2 * MASK_MARGIN + 1, 2 * MASK_MARGIN + 1), np.uint8)
    for k, (sprite, n) in enumerate(zip(sprites, per_sprite, strict=True)):
        inner = cv2.erode((sprite.mask >= 128).astype(np.uint8), kernel)
        ys, xs = np.nonzero(inner if inner.any() else sprite.mask >= 128)
        pick = rng.integers(0, len(xs), n)
        jitter = rng.uniform(-0.5, 0.5, (n, 2))
        ids.append(np.full(n, k + 1, np.int64))
        local.append(np.stack([xs[pick], ys[pick]], axis=1) + jitter)
    order = rng.permutation(points)
    return np.concatenate(ids)[order], np.concatenate(local)[order]


def build_scene(rng: np.random.Generator, frames: int, size: tuple[int, int], points: int,
                images: list[np.ndarray] | None = None) -> Scene:
    """A random scene of `frames` frames of `size` (H, W) with `points` ground-truth points.

    `images`: real RGB images to take the background (always) and about half the sprite
    textures from; None: all textures generated.
    """
    H, W = size
    tex_hw = (2 * H, 2 * W)  # room for the camera's pan, zoom and rotation
    background = _textured_crop(rng, images, *tex_hw) if images else make_texture(rng, *tex_hw)
    homography = _camera(rng, frames, size, tex_hw)
    sprites = [_sprite(rng, frames, size, images, 0.5) for _ in range(rng.integers(SPRITE_COUNT[0],
                                                                                  SPRITE_COUNT[1] + 1))]
    ids, local = _sample_points(rng, homography, sprites, size, points)
    return Scene(size=(H, W), background=background, homography=homography, sprites=sprites, point_object=ids,
                 point_local=local)


def _footprint(sprite: Sprite, t: int, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the image box (end exclusive) that can hold sprite pixels at frame t, or None."""
    h, w = sprite.mask.shape
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64)
    xy = corners @ sprite.affine[t].T
    x0, y0 = np.maximum(np.floor(xy.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(xy.max(axis=0)).astype(int) + 2, (size[1], size[0]))
    return (int(x0), int(y0), int(x1), int(y1)) if x1 > x0 and y1 > y0 else None


def render(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, H, W, 3) uint8 RGB, owner (T, H, W) uint8): each pixel's object, 0 background, k + 1 sprite k.

    Each sprite is warped only inside its footprint box (the same affine, shifted by the box's corner).
    """
    H, W = scene.size
    frames = np.empty((scene.frames, H, W, 3), np.uint8)
    owner = np.zeros((scene.frames, H, W), np.uint8)
    for t in range(scene.frames):
        frames[t] = cv2.warpPerspective(scene.background, scene.homography[t], (W, H), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REFLECT_101)
        for k, sprite in enumerate(scene.sprites):
            box = _footprint(sprite, t, scene.size)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            affine = sprite.affine[t] - np.array([[0, 0, x0], [0, 0, y0]], np.float64)
            m = cv2.warpAffine(sprite.mask, affine, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 128
            tex = cv2.warpAffine(sprite.texture, affine, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT_101)
            np.copyto(frames[t, y0:y1, x0:x1], tex, where=m[..., None])
            owner[t, y0:y1, x0:x1][m] = k + 1
    return frames, owner


def project(scene: Scene) -> np.ndarray:
    """tracks (N, T, 2) float64: every point's image position in every frame (also where occluded)."""
    N, T = len(scene.point_local), scene.frames
    hom = np.concatenate([scene.point_local, np.ones((N, 1))], axis=1)  # (N, 3)
    tracks = np.empty((N, T, 2))
    on_bg = scene.point_object == 0
    p = np.einsum("tij,nj->nti", scene.homography, hom[on_bg])
    tracks[on_bg] = p[..., :2] / p[..., 2:]
    for k, sprite in enumerate(scene.sprites):
        sel = scene.point_object == k + 1
        tracks[sel] = np.einsum("tij,nj->nti", sprite.affine, hom[sel])
    return tracks


def occlusion(tracks: np.ndarray, point_object: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """occluded (N, T) bool: outside [0, W-1] x [0, H-1], or the nearest pixel is owned by another object."""
    T, H, W = owner.shape
    x, y = tracks[..., 0], tracks[..., 1]
    inside = (x >= 0) & (x <= W - 1) & (y >= 0) & (y <= H - 1)
    xi = np.clip(np.round(x), 0, W - 1).astype(np.int64)
    yi = np.clip(np.round(y), 0, H - 1).astype(np.int64)
    shown = owner[np.arange(T)[None, :], yi, xi]  # (N, T)
    return ~(inside & (shown == point_object[:, None]))


def write_sequence(folder: str | os.PathLike, frames: np.ndarray, tracks: np.ndarray, occluded: np.ndarray) -> Path:
    """Write one clip in the release format: folder/frames/%05d.png and folder/<name>.npy (see module doc)."""
    folder = Path(folder)
    frame_dir = folder / "frames"
    frame_dir.mkdir(parents=True, exist_ok=True)
    for stale in frame_dir.glob("*.png"):  # a previous, longer clip must not leave frames behind
        stale.unlink()
    for t, rgb in enumerate(frames):
        if not cv2.imwrite(str(frame_dir / f"{t:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise ValueError(f"cannot write {frame_dir / f'{t:05d}.png'}")
    annotations = {"coords": tracks.astype(np.float32), "visibility": np.asarray(occluded, bool)}
    np.save(folder / f"{folder.name}.npy", np.array(annotations, dtype=object), allow_pickle=True)
    return folder


def generate(out: str | os.PathLike, sequences: int, frames: int, size: tuple[int, int], seed: int,
             points: int = 1024, backgrounds: str | os.PathLike | None = None, progress: bool = True) -> list[Path]:
    """Write `sequences` clips of `frames` frames of `size` (H, W) with `points` tracks each under `out`.

    Sequence i is named %05d and drawn from sequence_rng(seed, i): the output is a function of
    the arguments (and of the background files, read in sorted order). Returns the sequence folders.
    """
    if sequences < 1:
        raise ValueError(f"sequences must be >= 1, got {sequences}")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"size must be (H, W) with both >= 16, got {tuple(size)}")
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    images = load_backgrounds(backgrounds) if backgrounds is not None else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "synthetic.json").write_text(json.dumps({
        "generator": "training.synthetic", "sequences": sequences, "frames": frames, "size": list(size),
        "seed": seed, "points": points, "backgrounds": str(backgrounds) if backgrounds is not None else None,
    }, indent=2) + "\n")
    indices = range(sequences)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc="synthetic", unit="seq", dynamic_ncols=True)
    written = []
    for i in indices:
        scene = build_scene(sequence_rng(seed, i), frames, tuple(size), points, images)
        video, owner = render(scene)
        tracks = project(scene)
        written.append(write_sequence(out / f"{i:05d}", video, tracks, occlusion(tracks, scene.point_object, owner)))
    return written
