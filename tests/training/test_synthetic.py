"""training.synthetic: determinism, ground truth checked against the pixels and against the polygons."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from training import synthetic

from ..conftest import run_command

SEED, FRAMES, SIZE, POINTS = 5, 12, (96, 128), 400


def _read_clip(folder):
    """Frames (T, H, W, 3) RGB read with OpenCV and the annotation dict (our own trusted file)."""
    paths = sorted((folder / "frames").glob("*.png"))
    frames = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths])
    ann = np.load(folder / f"{folder.name}.npy", allow_pickle=True).item()
    return frames, ann


def bilinear(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """img (H, W, C) sampled at xy (K, 2), float64, coordinates clamped to the image."""
    H, W = img.shape[:2]
    x = np.clip(xy[:, 0], 0, W - 1)
    y = np.clip(xy[:, 1], 0, H - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), W - 2), np.minimum(np.floor(y).astype(int), H - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    im = img.astype(np.float64)
    top = im[y0, x0] * (1 - fx) + im[y0, x0 + 1] * fx
    bottom = im[y0 + 1, x0] * (1 - fx) + im[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def colour_agreement(frames: np.ndarray, tracks: np.ndarray, visible: np.ndarray, tol: float = 16.0) -> float:
    """Share of (point, frame) pairs, both visible, whose colour matches the point's colour in its first
    visible frame within tol (max over channels). tracks (N, T, 2), visible (N, T)."""
    hits = total = 0
    first = visible.argmax(axis=1)
    has = visible.any(axis=1)
    for t in range(frames.shape[0]):
        sel = np.flatnonzero(has & visible[:, t] & (first != t))
        if len(sel) == 0:
            continue
        ref = np.stack([bilinear(frames[first[n]], tracks[n, first[n]][None])[0] for n in sel])
        cur = bilinear(frames[t], tracks[sel, t])
        hits += int((np.abs(cur - ref).max(axis=1) <= tol).sum())
        total += len(sel)
    assert total > 500, "too few visible pairs to judge"
    return hits / total


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synthetic.generate(out, 1, FRAMES, SIZE, SEED, POINTS, progress=False)
    return out / "00000"


def test_format_and_determinism(tmp_path, clip):
    frames, ann = _read_clip(clip)
    assert frames.shape == (FRAMES, *SIZE, 3)
    assert set(ann) == {"coords", "visibility"}
    assert ann["coords"].dtype == np.float32 and ann["coords"].shape == (POINTS, FRAMES, 2)
    assert ann["visibility"].dtype == bool and ann["visibility"].shape == (POINTS, FRAMES)
    assert 0.02 < ann["visibility"].mean() < 0.8  # occlusions happen, but most points are seen
    # textured, not flat: strong local gradients almost everywhere
    grad = np.abs(np.diff(frames.astype(float), axis=2)).max(axis=-1)
    assert np.median(grad) > 2.0
    # same seed -> identical files; another seed -> different content
    again = synthetic.generate(tmp_path / "a", 1, FRAMES, SIZE, SEED, POINTS, progress=False)[0]
    other = synthetic.generate(tmp_path / "b", 1, FRAMES, SIZE, SEED + 1, POINTS, progress=False)[0]
    files = sorted(p.relative_to(clip) for p in clip.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (clip / rel).read_bytes() == (again / rel).read_bytes(), rel
    assert (clip / "00000.npy").read_bytes() != (other / "00000.npy").read_bytes()
    assert (clip / "frames/00000.png").read_bytes() != (other / "frames/00000.png").read_bytes()


def test_tracks_follow_the_texture(clip):
    """Textures are moved, never changed: at a visible point's track the frame shows the colour it showed
    where the point was first seen. Tracks shifted by 2 px do much worse (the check has teeth)."""
    frames, ann = _read_clip(clip)
    tracks, visible = ann["coords"].astype(np.float64), ~ann["visibility"]
    good = colour_agreement(frames, tracks, visible)
    shifted = tracks.copy()
    shifted[:, 1:] += 2.0  # the first frame stays, later frames are off by (2, 2) px
    bad = colour_agreement(frames, shifted, visible)
    assert good > 0.9, good
    assert bad < good - 0.25, (good, bad)


def test_occlusion_matches_the_polygons(clip):
    """Occlusion recomputed from geometry alone: the sprite polygons moved by their transforms, tested
    with cv2.pointPolygonTest at the point's nearest pixel. Only clear cases (every relevant polygon
    edge more than 1 px away) are compared; they must all agree."""
    _, ann = _read_clip(clip)
    scene = synthetic.build_scene(synthetic.sequence_rng(SEED, 0), FRAMES, SIZE, POINTS)
    tracks, occluded = ann["coords"], ann["visibility"]
    np.testing.assert_allclose(synthetic.project(scene), tracks, atol=1e-3)  # the rebuilt scene is the file's
    H, W = SIZE
    agree = clear = covered = 0
    for t in range(FRAMES):
        polys = [np.c_[s.polygon, np.ones(len(s.polygon))] @ s.affine[t].T for s in scene.sprites]
        for n in range(POINTS):
            x, y = tracks[n, t]
            obj = scene.point_object[n]
            if not (0 <= x <= W - 1 and 0 <= y <= H - 1):
                expected, ok = True, True
            else:
                pix = (float(np.round(x)), float(np.round(y)))
                dist = [cv2.pointPolygonTest(p.astype(np.float32), pix, True) for p in polys]
                above = dist[obj:]  # sprites k >= obj are above object obj (0 background, k + 1 sprite k)
                own_ok = obj == 0 or dist[obj - 1] > 1.0
                ok = all(abs(d) > 1.0 for d in above) and (obj == 0 or abs(dist[obj - 1]) > 1.0)
                expected = any(d > 0 for d in above) or not own_ok
                covered += ok and any(d > 0 for d in above)
            if ok:
                clear += 1
                agree += expected == bool(occluded[n, t])
    assert clear > 0.8 * FRAMES * POINTS
    assert covered > 100  # sprites really do hide points
    assert agree == clear, (agree, clear)


def test_backgrounds_are_used(tmp_path):
    """With real images the background comes from them: a picture without blue gives a blue-free background."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    img[..., 2] = 0  # RGB: no blue
    cv2.imwrite(str(tmp_path / "still.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    images = synthetic.load_backgrounds(tmp_path)
    assert len(images) == 1 and np.array_equal(images[0], img)  # read back as RGB
    from rt_edge.video import VideoWriter

    with VideoWriter(tmp_path / "clip.mp4", 30, (32, 48)) as writer:  # videos give every 10th of their frames
        for k in range(12):
            writer.write(np.full((32, 48, 3), 20 * k, np.uint8))
    with_video = synthetic.load_backgrounds(tmp_path)  # sorted: clip.mp4 before still.png
    assert len(with_video) == 3 and np.array_equal(with_video[2], img)
    assert abs(with_video[0].mean() - 0) < 3 and abs(with_video[1].mean() - 200) < 3
    (tmp_path / "clip.mp4").unlink()
    scene = synthetic.build_scene(np.random.default_rng(1), 4, (48, 64), 50, images)
    frames, owner = synthetic.render(scene)
    assert (frames[..., 2][owner == 0] == 0).all()
    generated = [k for k, s in enumerate(scene.sprites) if s.texture[..., 2].any()]
    if generated:  # generated sprite textures do have blue, and it shows where they are on top
        assert frames[..., 2][np.isin(owner, np.array(generated) + 1)].mean() > 20
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no videos"):
        synthetic.load_backgrounds(tmp_path / "empty")


def test_speed_24_frames_256():
    t0 = time.perf_counter()
    scene = synthetic.build_scene(synthetic.sequence_rng(0, 0), 24, (256, 256), 1024)
    frames, owner = synthetic.render(scene)
    synthetic.occlusion(synthetic.project(scene), scene.point_object, owner)
    assert time.perf_counter() - t0 < 2.0  # measured ~0.15 s; generous for a busy 2-core machine


def test_cli(tmp_path):
    def cli(*args):
        return run_command("training", "synthetic", *map(str, args))

    r = cli("--out", tmp_path / "d", "--sequences", 2, "--frames", 3, "--size", 32, 40, "--points", 10, "--quiet")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "d/00001/frames").glob("*.png"))) == 3
    r = cli("--out", tmp_path / "e", "--sequences", 0)
    assert r.returncode == 2 and r.stderr.strip() == "training: error: sequences must be >= 1, got 0"
    r = cli("--out", tmp_path / "e", "--sequences", 1, "--backgrounds", tmp_path / "missing")
    assert r.returncode == 2 and r.stderr.startswith("training: error: --backgrounds folder not found")
