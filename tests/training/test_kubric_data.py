"""training.kubric_data and rt_edge.safe_pickle: round trip of generated clips, augmentation consistency,
point/query sampling, and refusal of malicious annotation files."""

from __future__ import annotations

import os
import pickle
from dataclasses import replace

import cv2
import numpy as np
import pytest
from numpy.lib import format as npy_format

from rt_edge.safe_pickle import load_npy
from training import synthetic
from training.kubric_data import NO_AUGMENT, VARIANTS, Augment, KubricDataset, select_points

from .test_synthetic import colour_agreement

FRAMES, SIZE, POINTS, SEED = 10, (64, 80), 200, 2
PLAIN = replace(NO_AUGMENT, scale=Augment().scale, scale_drift=Augment().scale_drift,
                crop_drift=Augment().crop_drift)  # spatial augmentation only: no flips, no colour, no blur


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("kubric")
    synthetic.generate(out, 2, FRAMES, SIZE, SEED, POINTS, progress=False)
    return out


def _file(root, seq):
    frames = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
                       for p in sorted((root / seq / "frames").glob("*.png"))])
    ann = np.load(root / seq / f"{seq}.npy", allow_pickle=True).item()  # our own file: trusted
    return frames, ann["coords"], ann["visibility"]


def test_round_trip_without_augmentation(root):
    ds = KubricDataset(root, "offline", frames=FRAMES, size=SIZE, points=50, seed=0, train=False)
    assert ds.sequences == ["00000", "00001"]
    it = ds.item(1)
    frames, coords, occluded = _file(root, "00001")
    # the generator's own in-memory frames (RGB) equal what the reader returns: channel order survives the disk
    scene = synthetic.build_scene(synthetic.sequence_rng(SEED, 1), FRAMES, SIZE, POINTS)
    rendered, _ = synthetic.render(scene)
    assert np.array_equal(it["video"], rendered.transpose(0, 3, 1, 2).astype(np.float32))
    assert np.array_equal(rendered, frames)
    assert list(it["frame_ids"]) == list(range(FRAMES))
    ids = it["point_ids"]
    assert len(set(ids.tolist())) == 50
    assert np.array_equal(it["tracks"], coords[ids].transpose(1, 0, 2))  # exact
    assert np.array_equal(it["visible"], ~occluded[ids].T)  # the file's flag means occluded
    t = it["queries"][:, 0].astype(int)
    assert np.array_equal(it["queries"][:, 0], t)
    assert it["visible"][t, np.arange(50)].all()
    assert np.array_equal(it["queries"][:, 1:], it["tracks"][t, np.arange(50)])


def test_short_clips_repeat_the_last_frame(root):
    ds = KubricDataset(root, "online", frames=16, size=SIZE, points=30, seed=0, train=True, augment=False)
    it = ds.item(0, epoch=3)
    frames, coords, occluded = _file(root, "00000")
    assert list(it["frame_ids"]) == list(range(FRAMES)) + [FRAMES - 1] * 6
    assert it["video"].shape == (16, 3, *SIZE)
    for t in range(FRAMES, 16):
        assert np.array_equal(it["video"][t], it["video"][FRAMES - 1])
        assert np.array_equal(it["tracks"][t], it["tracks"][FRAMES - 1])
        assert np.array_equal(it["visible"][t], it["visible"][FRAMES - 1])
    assert np.array_equal(it["tracks"][:FRAMES], coords[it["point_ids"]].transpose(1, 0, 2))
    assert it["video"].shape[0] == it["tracks"].shape[0] == it["visible"].shape[0] == 16


def test_variant_defaults_and_overrides(root):
    on = KubricDataset(root, "online", size=(32, 48))
    off = KubricDataset(root, "offline", size=(32, 48))
    assert (on.cfg.frames, on.cfg.points, off.cfg.frames, off.cfg.points) == ((64, 64), 384, (30, 60), 512)
    lengths = {off.item(0, e)["video"].shape[0] for e in range(8)}
    assert len(lengths) > 1 and all(30 <= n <= 60 for n in lengths)
    it = on.item(1)
    assert it["video"].shape == (64, 3, 32, 48) and it["tracks"].shape == (64, 384, 2)
    assert it["visible"].shape == (64, 384) and it["queries"].shape == (384, 3)
    off4 = KubricDataset(root, "offline", frames=4, size=(32, 48))
    strides = {tuple(np.diff(off4.item(0, e)["frame_ids"])) for e in range(12)}
    assert strides == {(1, 1, 1), (2, 2, 2)}  # offline: random frame rate, up to what the 10-frame clip allows
    ids = KubricDataset(root, "offline", frames=4, size=(32, 48), train=False).item(0, 5)["frame_ids"]
    assert list(ids) == [0, 1, 2, 3]
    assert {tuple(np.diff(on.item(0, e)["frame_ids"][:FRAMES])) for e in range(3)} == {(1,) * (FRAMES - 1)}
    small = KubricDataset(root, "offline", frames=(12, 14), points=7, size=(32, 48)).item(0)
    assert small["tracks"].shape[1:] == (7, 2) and 12 <= small["tracks"].shape[0] <= 14


def test_deterministic_per_seed_epoch_index(root):
    a = KubricDataset(root, "offline", frames=8, size=(48, 64), points=40, seed=1)
    b = KubricDataset(root, "offline", frames=8, size=(48, 64), points=40, seed=1)
    x, y = a.item(1, 2), b.item(1, 2)
    assert all(np.array_equal(x[k], y[k]) for k in x)
    z = a.item(1, 3)
    assert not np.array_equal(x["video"], z["video"])
    s = a.sample(5)  # sequence 1 of epoch 2
    assert all(np.array_equal(s[k].numpy(), x[k]) for k in x)
    a.set_epoch(2)
    assert np.array_equal(a[1]["tracks"].numpy(), x["tracks"])


def test_spatial_augmentation_keeps_tracks_on_the_texture(root):
    """Random scale, crop drift and stretch are one affine map per frame applied to frames and tracks alike:
    the colour under each visible track stays that of its first visible frame (tracks off by 2 px do not)."""
    ds = KubricDataset(root, "offline", frames=FRAMES, size=(48, 64), points=150, seed=4, augment=PLAIN)
    goods, bads = [], []
    for epoch in range(3):
        it = ds.item(0, epoch)
        frames = it["video"].transpose(0, 2, 3, 1)
        tracks, visible = it["tracks"].transpose(1, 0, 2).astype(np.float64), it["visible"].T
        goods.append(colour_agreement(frames, tracks, visible, tol=20))
        tracks[:, 1:] += 2.0
        bads.append(colour_agreement(frames, tracks, visible, tol=20))
    assert min(goods) > 0.75 and max(bads) < min(goods) - 0.2, (goods, bads)


def test_spatial_augmentation_is_one_affine_map_for_frames_and_tracks(root):
    """Recover each frame's map from (file coords -> item tracks) by least squares: the tracks must be an exact
    affine image of the file's coords, and every output pixel must show the source frame, sampled bilinearly
    (here, independently of OpenCV) at that map's inverse image of the pixel."""
    from .test_synthetic import bilinear

    frames, coords, _ = _file(root, "00001")
    aug = replace(PLAIN, hflip=0.5, vflip=0.5)
    ds = KubricDataset(root, "offline", frames=FRAMES, size=(40, 56), points=120, seed=9, augment=aug)
    for epoch in range(3):
        it = ds.item(1, epoch)
        src = coords[it["point_ids"]].astype(np.float64)  # (N, T, 2)
        H, W = 40, 56
        yy, xx = np.mgrid[0:H, 0:W]
        grid = np.stack([xx.ravel(), yy.ravel(), np.ones(H * W)], axis=1)
        for t, f in enumerate(it["frame_ids"]):
            A = np.c_[src[:, t], np.ones(len(src))]
            M, *_ = np.linalg.lstsq(A, it["tracks"][t].astype(np.float64), rcond=None)  # (3, 2)
            np.testing.assert_allclose(A @ M, it["tracks"][t], atol=1e-3)
            inv = np.linalg.inv(np.r_[M.T, [[0, 0, 1]]])
            expected = bilinear(frames[f], (grid @ inv.T)[:, :2]).reshape(H, W, 3)
            got = it["video"][t].transpose(1, 2, 0)
            err = np.abs(got - expected)[1:-1, 1:-1]  # borders may sample outside the image (reflected there)
            assert err.max() < 6.0 and err.mean() < 0.6, (epoch, t, err.max(), err.mean())


def _bilinear_chw(video_t: np.ndarray, xy: np.ndarray) -> np.ndarray:
    from .test_synthetic import bilinear

    return bilinear(video_t.transpose(1, 2, 0), xy)


def test_flips_mirror_frames_and_tracks(root):
    """Same seed, flips forced on vs off: the frames are mirrored, x -> W - 1 - x (y likewise), and the
    colour at each visible track is the same in both items."""
    size = (48, 64)
    plain = KubricDataset(root, "offline", frames=FRAMES, size=size, points=100, seed=7, augment=PLAIN).item(1)
    flipped = KubricDataset(root, "offline", frames=FRAMES, size=size, points=100, seed=7,
                            augment=replace(PLAIN, hflip=1.0, vflip=1.0)).item(1)
    assert np.array_equal(plain["point_ids"], flipped["point_ids"])  # same crop, same points
    np.testing.assert_allclose(flipped["video"], plain["video"][:, :, ::-1, ::-1], atol=1.0)
    H, W = size
    np.testing.assert_allclose(flipped["tracks"][..., 0], W - 1 - plain["tracks"][..., 0], atol=1e-4)
    np.testing.assert_allclose(flipped["tracks"][..., 1], H - 1 - plain["tracks"][..., 1], atol=1e-4)
    assert np.array_equal(flipped["visible"], plain["visible"])
    diffs, wrong = [], []
    for t in range(FRAMES):
        v = plain["visible"][t]
        a = _bilinear_chw(plain["video"][t], plain["tracks"][t][v].astype(np.float64))
        b = _bilinear_chw(flipped["video"][t], flipped["tracks"][t][v].astype(np.float64))
        off = flipped["tracks"][t][v].astype(np.float64) + 1.0  # the W - x convention: one pixel off
        c = _bilinear_chw(flipped["video"][t], off)
        diffs.append(np.abs(a - b).max(axis=1))
        wrong.append(np.abs(a - c).max(axis=1))
    assert np.concatenate(diffs).max() < 1.0
    assert np.median(np.concatenate(wrong)) > 5.0  # the check above would catch an off-by-one flip


def test_photometric_changes_colours_not_geometry(root):
    kw = dict(variant="offline", frames=FRAMES, size=(48, 64), points=60, seed=3)
    base = KubricDataset(root, augment=PLAIN, **kw).item(0)
    jittered = KubricDataset(root, augment=replace(PLAIN, color=1.0, blur=1.0), **kw).item(0)
    for k in ("tracks", "visible", "queries", "point_ids", "frame_ids"):
        assert np.array_equal(base[k], jittered[k]), k
    v = jittered["video"]
    assert v.dtype == np.float32 and v.min() >= 0 and v.max() <= 255
    assert np.abs(v - base["video"]).mean() > 3.0
    # blur lowers the high-frequency energy of every frame
    grad = lambda x: np.abs(np.diff(x, axis=-1)).mean(axis=(1, 2, 3))  # noqa: E731
    assert (grad(v) < grad(base["video"])).all()


def test_point_sampling_bias_and_queries():
    rng = np.random.default_rng(0)
    T, N = 16, 2000
    tracks = np.zeros((T, N, 2))
    tracks[:, : N // 4, 0] = np.linspace(0, 30, T)[:, None]  # a quarter moves 30 px, the rest is still
    visible = np.ones((T, N), bool)
    online, offline = VARIANTS["online"], VARIANTS["offline"]
    aug = Augment()
    shares = [np.mean(select_points(rng, tracks, visible, 100, offline, aug)[0] < N // 4) for _ in range(20)]
    assert 0.44 < np.mean(shares) < 0.56  # weights 3 : 1 on 1/4 : 3/4 of the points -> 3/6 moving
    shares = [np.mean(select_points(rng, tracks, visible, 100, offline, replace(aug, motion_weight=0.0))[0] < N // 4)
              for _ in range(20)]
    assert 0.19 < np.mean(shares) < 0.31
    # a camera pan moves everything alike: nothing counts as moving, sampling stays uniform
    panned = tracks + np.linspace(0, 50, T)[:, None, None]
    shares = [np.mean(select_points(rng, panned, visible, 100, offline, aug)[0] < N // 4) for _ in range(20)]
    assert 0.44 < np.mean(shares) < 0.56
    # online queries: 3/4 at the first visible frame; offline: uniform over visible frames
    visible[:5, ::2] = False  # half the points appear at frame 5
    pts, qt = select_points(rng, tracks, visible, 1000, online, aug)
    first = visible[:, pts].argmax(axis=0)
    assert visible[qt, pts].all()
    assert 0.7 < np.mean(qt == first) < 0.85
    pts, qt = select_points(rng, tracks, visible, 1000, offline, aug)
    assert visible[qt, pts].all() and np.mean(qt == visible[:, pts].argmax(axis=0)) < 0.15
    assert abs(np.mean(qt) - np.mean([np.flatnonzero(visible[:, p]).mean() for p in pts])) < 0.5
    # never-visible points are never sampled; too few candidates -> duplicates, shapes kept
    visible[:] = False
    visible[3, [7, 11, 13]] = True
    pts, qt = select_points(rng, tracks, visible, 10, online, aug)
    assert set(pts.tolist()) == {7, 11, 13} and (qt == 3).all()
    visible[:] = False
    with pytest.raises(ValueError, match="no point is visible"):
        select_points(rng, tracks, visible, 10, online, aug)


def test_online_items_query_early(root):
    ds = KubricDataset(root, "online", frames=FRAMES, size=(48, 64), points=100, seed=0)
    it = ds.item(0)
    t = it["queries"][:, 0].astype(int)
    first = it["visible"].argmax(axis=0)
    assert it["visible"][t, np.arange(100)].all()
    assert np.mean(t == first) > 0.6 and it["visible"].any(axis=0).all()


# ---------------------------------------------------------------- safe loading


class _Payload:
    """Pickles as a call of `func(arg)`: what a malicious annotation file would contain."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


def _evil_files(tmp_path):
    marker = tmp_path / "pwned"
    system = tmp_path / "system.npy"
    np.save(system, {"coords": np.zeros((1, 2, 2)), "visibility": np.zeros((1, 2), bool),
                     "x": _Payload(os.system, f"touch {marker}")}, allow_pickle=True)
    evaluate = tmp_path / "eval.npy"
    np.save(evaluate, {"coords": _Payload(eval, f"open({str(marker)!r}, 'w').close()")}, allow_pickle=True)
    return marker, {system: "system", evaluate: "builtins.eval"}


def test_malicious_npy_is_refused_without_side_effect(tmp_path):
    marker, files = _evil_files(tmp_path)
    for path, name in files.items():
        assert name.split(".")[-1].encode() in path.read_bytes()  # the payload really is in the file
        with pytest.raises(ValueError, match="refusing to unpickle global") as err:
            load_npy(path)
        assert str(path) in str(err.value) and name in str(err.value)
        assert not marker.exists()


def test_malicious_annotations_in_a_dataset(tmp_path):
    seq = synthetic.generate(tmp_path / "d", 1, 3, (32, 32), 0, 20, progress=False)[0]
    marker, files = _evil_files(tmp_path)
    (seq / f"{seq.name}.npy").write_bytes(next(iter(files)).read_bytes())
    with pytest.raises(ValueError, match="refusing to unpickle global"):
        KubricDataset(tmp_path / "d", "offline", frames=3, size=(32, 32), points=5).item(0)
    assert not marker.exists()


def test_safe_load_of_plain_arrays_and_numpy1_names(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "plain.npy", arr)
    assert np.array_equal(load_npy(tmp_path / "plain.npy"), arr)
    # numpy 1 wrote protocol 3 naming numpy.core.multiarray: build one (protocol 3 spells globals as text)
    d = {"coords": np.ones((2, 3, 2), np.float32), "visibility": np.array([[True, False, True]] * 2),
         "n": np.int64(7), "meta": [1, 2.5, ("a", None)]}
    body = pickle.dumps(np.array(d, dtype=object), protocol=3).replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray\n_reconstruct" in body
    with open(tmp_path / "old.npy", "wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": ()})
        f.write(body)
    got = load_npy(tmp_path / "old.npy")
    assert set(got) == set(d) and got["n"] == 7 and got["meta"] == [1, 2.5, ("a", None)]
    assert np.array_equal(got["coords"], d["coords"]) and np.array_equal(got["visibility"], d["visibility"])
    # truncated file, not a .npy, missing file
    good = (tmp_path / "old.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(good[: len(good) - 40])
    with pytest.raises(ValueError, match="cannot unpickle"):
        load_npy(tmp_path / "cut.npy")
    (tmp_path / "text.npy").write_text("hello")
    with pytest.raises(ValueError, match="not a readable .npy"):
        load_npy(tmp_path / "text.npy")
    with pytest.raises(FileNotFoundError):
        load_npy(tmp_path / "missing.npy")


def test_bad_inputs_are_named(tmp_path, root):
    with pytest.raises(FileNotFoundError, match="dataset root not found"):
        KubricDataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no sequences"):
        KubricDataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="variant"):
        KubricDataset(root, "sideways")
    with pytest.raises(ValueError, match="frames"):
        KubricDataset(root, frames=(20, 10))
    seq = synthetic.generate(tmp_path / "bad", 1, 4, (32, 32), 0, 10, progress=False)[0]
    (seq / "frames" / "00003.png").unlink()
    with pytest.raises(ValueError, match="annotations cover 4 frames but the sequence has 3"):
        KubricDataset(tmp_path / "bad", size=(32, 32)).item(0)
