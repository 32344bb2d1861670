"""benchmarks.realtex (ground truth checked independently of its own maths), rt_edge.evaluation.lk and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from benchmarks.__main__ import main as benchmarks_main
from benchmarks.error_breakdown import KINDS
from benchmarks.realtex import (
    Motion,
    evaluate,
    generate,
    make_sequence,
    prepare_texture,
    score,
)
import rt_edge.default_model as default_model
from rt_edge.evaluation.lk import lk_predictor, track_lk
from rt_edge.evaluation.tapvid import SUMMARY, WITHIN
from rt_edge.model import CoTracker3
from rt_edge.video import read_frames, sample_clip_path

from ..conftest import REPO, SMALL, run_command

SQUARE = 16  # checkerboard square, texture px


def _checkerboard(n: int = 512) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n]
    board = ((xx // SQUARE + yy // SQUARE) % 2 * 200 + 25).astype(np.uint8)
    return np.repeat(cv2.GaussianBlur(board, (0, 0), 0.8)[..., None], 3, axis=-1)


def _smooth_noise(rng: np.random.Generator, n: int = 400) -> np.ndarray:
    noise = rng.uniform(0, 255, (n, n, 3)).astype(np.float32)
    img = cv2.GaussianBlur(noise, (0, 0), 4.0)
    img = (img - img.min()) / (img.max() - img.min()) * 255
    return img.round().astype(np.uint8)


def _translation(num_frames: int, start, step) -> Motion:
    """Pure translation: texture point u shows at u + start + t * step (no deformation)."""
    hom = np.stack([np.array([[1.0, 0, start[0] + t * step[0]], [0, 1, start[1] + t * step[1]], [0, 0, 1]])
                    for t in range(num_frames)])
    zeros = np.zeros((num_frames, 1))
    return Motion(hom, zeros, zeros, np.zeros((1, 2)), np.zeros((1, 2)))


def test_ground_truth_lands_on_the_rendered_checkerboard_corners():
    """OpenCV's corner finder on the rendered frames finds every checkerboard corner where the
    ground truth says it is (while the homography alone, without the deformation, is ~1 px off)."""
    corners = np.stack(np.meshgrid(np.arange(SQUARE, 512, SQUARE) - 0.5, np.arange(SQUARE, 512, SQUARE) - 0.5),
                       -1).reshape(-1, 2)  # square edges lie half-way between texture pixel centres
    seq = make_sequence(_checkerboard(), np.random.default_rng(1), size=(96, 128), frames=8, occluders=(0, 0),
                        texture_points=corners)
    h, w = seq.video.shape[1:3]
    found, gt, rigid = [], [], []
    for t in range(len(seq.video)):
        xy = seq.tracks[:, t]
        inside = (xy[:, 0] > 6) & (xy[:, 0] < w - 7) & (xy[:, 1] > 6) & (xy[:, 1] < h - 7)
        start = np.round(xy[inside]).astype(np.float32).reshape(-1, 1, 2)  # up to 0.7 px off
        gray = cv2.cvtColor(seq.video[t], cv2.COLOR_RGB2GRAY)
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
        found.append(cv2.cornerSubPix(gray, start, (4, 4), (-1, -1), crit).reshape(-1, 2))
        gt.append(xy[inside])
        rigid.append(cv2.perspectiveTransform(corners[inside][None], seq.motion.homographies[t])[0])
    found, gt, rigid = np.concatenate(found), np.concatenate(gt), np.concatenate(rigid)
    err = np.linalg.norm(found - gt, axis=1)
    err_rigid = np.linalg.norm(found - rigid, axis=1)
    print(f"\ncorners: {len(err)}, GT error median {np.median(err):.3f} max {err.max():.3f} px; "
          f"without deformation median {np.median(err_rigid):.3f} max {err_rigid.max():.3f} px")
    assert len(err) > 200
    assert err.max() < 0.15
    assert err_rigid.max() > 1.0  # the deformation is real and the check above sees it


def test_ground_truth_samples_the_texture_colour_and_inverse_is_consistent():
    """The rendered colour at a point's GT position (bilinear, float64, numpy) is the texture's colour
    at the point; one pixel away it is not. F_t(G_t(x)) = x to well under 0.05 px."""
    rng = np.random.default_rng(5)
    texture = _smooth_noise(rng)
    seq = make_sequence(texture, rng, size=(80, 96), frames=6, points=60, occluders=(0, 0))

    def bilinear(img, xy):
        x0, y0 = np.floor(xy[:, 0]).astype(int), np.floor(xy[:, 1]).astype(int)
        fx, fy = (xy[:, 0] - x0)[:, None], (xy[:, 1] - y0)[:, None]
        img = img.astype(np.float64)
        return ((1 - fy) * ((1 - fx) * img[y0, x0] + fx * img[y0, x0 + 1])
                + fy * ((1 - fx) * img[y0 + 1, x0] + fx * img[y0 + 1, x0 + 1]))

    want = bilinear(texture, seq.texture_points)
    at_gt, off = [], []
    h, w = seq.video.shape[1:3]
    for t in range(len(seq.video)):
        xy = seq.tracks[:, t]
        ok = (xy[:, 0] >= 1) & (xy[:, 0] < w - 2) & (xy[:, 1] >= 1) & (xy[:, 1] < h - 2)
        at_gt.append(np.abs(bilinear(seq.video[t], xy[ok]) - want[ok]).mean(1))
        off.append(np.abs(bilinear(seq.video[t], xy[ok] + [1.0, 0.0]) - want[ok]).mean(1))
    at_gt, off = np.concatenate(at_gt), np.concatenate(off)
    print(f"\ncolour difference at GT {at_gt.mean():.2f}, 1 px away {off.mean():.2f} (of 255)")
    assert at_gt.mean() < 1.0 and at_gt.max() < 3.0
    assert off.mean() > 4 * at_gt.mean()

    grid = np.stack(np.meshgrid(np.linspace(0, w - 1, 17), np.linspace(0, h - 1, 13)), -1).reshape(-1, 2)
    for t in range(len(seq.video)):
        assert np.abs(seq.motion.forward(t, seq.motion.inverse(t, grid)) - grid).max() < 1e-3
    assert seq.motion.amplitude.max() > 0.3  # the deformation is on


def test_occlusion_flags_agree_with_the_painted_occluders():
    rng_seed = 11
    texture = _smooth_noise(np.random.default_rng(0))
    kw = dict(size=(72, 96), frames=12, points=300)
    seq = make_sequence(texture, np.random.default_rng(rng_seed), occluders=(3, 3), **kw)
    bare = make_sequence(texture, np.random.default_rng(rng_seed), occluders=(0, 0), **kw)
    # the occluders change exactly the pixels of their masks (and the motion stream is untouched)
    changed = (seq.video != bare.video).any(-1)
    assert not (changed & ~seq.occluder_masks).any()
    assert changed[seq.occluder_masks].mean() > 0.95
    assert 0.02 < seq.occluder_masks.mean() < 0.6

    h, w = seq.video.shape[1:3]
    xy = seq.tracks
    outside = (xy[..., 0] < 0) | (xy[..., 0] > w - 1) | (xy[..., 1] < 0) | (xy[..., 1] > h - 1)
    assert (seq.occluded[outside]).all()
    # inside the frame, away from the occluders' edges, flags equal the mask at the nearest pixel
    kernel = np.ones((3, 3), np.uint8)
    deep = np.stack([cv2.erode(m.astype(np.uint8), kernel) for m in seq.occluder_masks]).astype(bool)
    clear = ~np.stack([cv2.dilate(m.astype(np.uint8), kernel) for m in seq.occluder_masks]).astype(bool)
    n, t = np.nonzero(~outside)
    px, py = np.round(xy[n, t, 0]).astype(int), np.round(xy[n, t, 1]).astype(int)
    in_deep, in_clear = deep[t, py, px], clear[t, py, px]
    flags = seq.occluded[n, t]
    print(f"\npoint-frames: {in_deep.sum()} under an occluder, {in_clear.sum()} clear, {outside.sum()} outside")
    assert in_deep.sum() > 30 and in_clear.sum() > 1000 and outside.sum() > 10
    assert flags[in_deep].all() and not flags[in_clear].any()
    # each query frame is the point's first visible frame
    q = seq.query_frames
    assert not seq.occluded[np.arange(len(q)), q].any()
    assert all(seq.occluded[i, : q[i]].all() for i in range(len(q)))
    assert (q > 0).any()


def test_generate_is_deterministic_in_the_seed():
    kw = dict(count=2, size=(48, 64), frames=5, points=10)
    a, b = generate(sample_clip_path(), seed=3, **kw), generate(sample_clip_path(), seed=3, **kw)
    c = generate(sample_clip_path(), seed=4, **kw)
    for x, y in zip(a, b, strict=True):
        assert x.name == y.name
        for field in ("video", "tracks", "occluded", "query_frames", "occluder_masks"):
            assert np.array_equal(getattr(x, field), getattr(y, field)), field
    assert not np.array_equal(a[0].video, c[0].video)
    assert a[0].video.shape == (5, 48, 64, 3) and a[0].tracks.shape == (10, 5, 2)


@pytest.fixture(scope="module")
def translation_seq():
    tex = prepare_texture(read_frames(sample_clip_path(), max_frames=1)[0], (96, 128))
    return make_sequence(tex, np.random.default_rng(0), size=(96, 128), points=50, occluders=(0, 0),
                         motion=_translation(10, (-150.0, -80.0), (1.3, -0.7)))


def test_lk_tracks_a_translation_to_subpixel(translation_seq):
    seq = translation_seq
    h, w = seq.video.shape[1:3]
    queries = seq.queries.copy()
    queries[1::2, 0] = 6  # half the points queried later: tracked backward too
    queries[1::2, 1:] = seq.tracks[1::2, 6]
    tracks, occluded = track_lk(seq.video, queries)
    # every frame's truth is u + start + t * step: recomputed here, not taken from the generator
    truth = seq.texture_points[:, None] + np.array([-150.0, -80.0]) + np.arange(10)[:, None] * [1.3, -0.7]
    assert np.abs(truth - seq.tracks).max() < 1e-9
    assert np.array_equal(tracks[np.arange(len(queries)), queries[:, 0].astype(int)], queries[:, 1:].astype(np.float32))
    err = np.linalg.norm(tracks - truth, axis=-1)
    margin = 10  # LK's 21 px window is clipped nearer the border
    inner = ((truth[..., 0] >= margin) & (truth[..., 0] <= w - 1 - margin) & (truth[..., 1] >= margin)
             & (truth[..., 1] <= h - 1 - margin)).all(1)
    print(f"\nLK on translation: {inner.sum()} inner points, error median {np.median(err[inner]):.3f} "
          f"max {err[inner].max():.3f} px; all visible points median {np.median(err[~seq.occluded]):.3f}")
    assert inner.sum() >= 15
    assert err[inner].max() < 0.5 and not occluded[inner].any()
    m = score(seq, *lk_predictor()(seq.video, seq.queries))
    print("LK scores:", m)
    assert m["average_jaccard"] > 0.9 and m["average_pts_within_thresh"] > 0.95


def test_lk_marks_a_covered_point_occluded_and_reacquires_it(translation_seq):
    seq = translation_seq
    video = seq.video.copy()
    h, w = video.shape[1:3]
    centre = np.abs(seq.tracks[:, 0] - [w / 2, h / 2]).sum(1)
    i = int(np.argmin(centre + 1e3 * seq.occluded.any(1)))  # a point near the middle all along
    for t in (3, 4, 5):  # a flat grey square, wider than LK's window, over the point
        x, y = np.round(seq.tracks[i, t]).astype(int)
        video[t, max(y - 16, 0) : y + 17, max(x - 16, 0) : x + 17] = 128
    tracks, occluded = track_lk(video, seq.queries[i : i + 1])
    assert occluded[0, 3:6].all() and not occluded[0, 1:3].any() and not occluded[0, 6:].any()
    assert np.allclose(tracks[0, 3:6], tracks[0, 2])  # held at the last accepted position
    assert np.linalg.norm(tracks[0, 6:] - seq.tracks[i, 6:], axis=-1).max() < 0.5


def test_scores_of_perfect_wrong_and_offset_predictions_on_a_non_square_raster():
    """At 64 x 128 (H x W) a 6 px x-offset and a 3 px y-offset are both 12 px on the 256 raster:
    within 16 only, so position accuracy 1/5 and Average Jaccard 1/5 (hand-derived)."""
    seq = make_sequence(_smooth_noise(np.random.default_rng(2)), np.random.default_rng(2), size=(64, 128),
                        frames=8, points=40, occluders=(1, 2))
    assert seq.occluded.any() and not seq.occluded.all()

    def const(tracks, occluded):
        return lambda video, queries: (tracks, occluded)

    predictors = {
        "perfect": const(seq.tracks, seq.occluded),
        "wrong": const(seq.tracks + 40.0, ~seq.occluded),
        "x_off": const(seq.tracks + [6.0, 0.0], seq.occluded),
        "y_off": const(seq.tracks + [0.0, 3.0], seq.occluded),
    }
    got = evaluate(predictors, [seq])
    print("\n", got)
    assert got["perfect"] == dict.fromkeys(SUMMARY + WITHIN, 1.0)
    assert got["wrong"] == dict.fromkeys(SUMMARY + WITHIN, 0.0)
    for name in ("x_off", "y_off"):
        assert [got[name][key] for key in WITHIN] == [0.0, 0.0, 0.0, 0.0, 1.0]  # 12 px: within 16 only
        assert got[name]["occlusion_accuracy"] == 1.0
        assert got[name]["average_pts_within_thresh"] == pytest.approx(0.2)
        assert got[name]["average_jaccard"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="tracks"):
        score(seq, seq.tracks[:, :3], seq.occluded)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("realtex") / "tiny.pth"
    torch.save({"model": CoTracker3(SMALL).state_dict(), "config": SMALL.to_dict()}, path)
    return path


def _cli(*args) -> subprocess.CompletedProcess:
    return run_command("benchmarks", "realtex", *args)


def test_cli_writes_scores_deterministically(tmp_path, tiny_ckpt, capsys, monkeypatch):
    tiny = ["--videos", sample_clip_path(), "--size", "64", "64", "--sequences", "2", "--frames", "8",
            "--points", "8", "--iters", "1", "--image-size", "64", "64", "--threads", "1"]
    runs = []
    for k in range(2):
        r = _cli(*tiny, "--checkpoint", tiny_ckpt, "--seed", "7", "--out", tmp_path / f"r{k}.json")
        assert r.returncode == 0, r.stderr
        runs.append((tmp_path / f"r{k}.json").read_text())
    print("\n" + r.stdout)
    assert runs[0] == runs[1]
    result = json.loads(runs[0])
    assert set(result) == {"_settings", "_per_sequence", "rt_edge", "lk"}
    for name in ("rt_edge", "lk"):
        assert set(result[name]) == set(SUMMARY + WITHIN)
        assert all(0.0 <= v <= 1.0 for v in result[name].values()), result[name]
        rows = result["_per_sequence"][name]
        assert len(rows) == 2  # the summary is the mean of the per-sequence scores
        assert all(result[name][k] == pytest.approx(np.mean([r[k] for r in rows])) for k in result[name])
    assert "rt_edge" in r.stdout and "lk" in r.stdout and "within k px" in r.stdout

    monkeypatch.setattr(default_model, "WEIGHTS", tmp_path / "absent.pth")  # in process: LK only
    assert benchmarks_main(["realtex", *map(str, tiny), "--breakdown", "--out", str(tmp_path / "lk_only.json")]) == 0
    printed = capsys.readouterr().out
    lk_only = json.loads((tmp_path / "lk_only.json").read_text())
    assert "rt_edge" not in lk_only and "no --checkpoint" in printed
    assert set(lk_only["_breakdown"]) == {"lk"} and set(lk_only["_breakdown"]["lk"]) == set(KINDS)
    assert lk_only["_breakdown"]["lk"]["all"]["share"] == 1.0 and "re-appeared" in printed
    assert any("no --checkpoint" in note for note in lk_only["_settings"]["notes"])

    r = _cli("--videos", tmp_path / "missing", "--out", tmp_path / "x.json")
    assert r.returncode == 2 and "benchmarks: error:" in r.stderr and "Traceback" not in r.stderr


def test_lk_and_generator_do_not_import_torch():
    code = "import sys, rt_edge.evaluation.lk, benchmarks.realtex; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
