"""Pseudo-label fine-tuning: SIFT queries, teachers, label selection, the label cache, the frozen head, the CLI."""

from __future__ import annotations

import json
import statistics

import cv2
import numpy as np
import pytest
import torch

from rt_edge.model import CoTracker3, load_checkpoint
from rt_edge.video import VideoWriter, read_frames
from training import checkpoints
from training.__main__ import main as training_main
from training.clip_augment import TRANSFORMS
from training.pseudo_labels import (
    ClipSpec,
    build_cache,
    cached_clips,
    combine,
    list_videos,
    load_labelled,
    majority_occluded,
    run_teachers,
    select,
)
from training.pseudo_trainer import FROZEN_PREFIX, PseudoConfig, train_pseudo
from training.sift_queries import sample_keyframes, sift_queries
from training.teachers import load_teacher, load_teachers, parse_spec, register_teacher, unregister_teacher

from ..conftest import SHARED, SMALL, require

SIZE, FRAMES, POINTS = (64, 64), 16, 16  # clips of 2 SMALL windows (8 frames), 2 SIFT points per keyframe


def _texture(rng: np.random.Generator, hw=(64, 64), sigma=2.0) -> np.ndarray:
    """Blurred noise, rescaled to 0..255: many SIFT blobs and good LK texture."""
    f = cv2.GaussianBlur(rng.uniform(0, 255, (*hw, 3)).astype(np.float32), (0, 0), sigma)
    return cv2.normalize(f, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def _chi_square(counts: np.ndarray, p: np.ndarray) -> float:
    expected = counts.sum() * p
    return float(((counts - expected) ** 2 / expected).sum())


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two short real clips (from ../shared/videos) at 72x96, and the root they live in."""
    root = tmp_path_factory.mktemp("videos")
    for name in ("bear", "teddy"):
        frames = read_frames(require(SHARED / "videos" / f"{name}.mp4"), max_frames=20)
        with VideoWriter(root / f"{name}.mp4", 10, (72, 96)) as w:
            for f in frames:
                w.write(cv2.resize(f, (96, 72), interpolation=cv2.INTER_AREA))
    return root


@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    checkpoints.save(path, CoTracker3(SMALL), None, 0)
    return path


# ---------------------------------------------------------------- SIFT queries


def test_keyframes_follow_the_documented_bias_toward_the_start():
    T, seeds = 12, 600
    p = np.array([(T - t) ** 2 for t in range(T)], np.float64)
    p /= p.sum()
    draws = np.concatenate([sample_keyframes(np.random.default_rng(s), T, 8) for s in range(seeds)])
    counts = np.bincount(draws, minlength=T)
    assert _chi_square(counts, p) < 31.26  # chi-square, 11 dof, p = 0.001
    assert _chi_square(counts, np.full(T, 1 / T)) > 100  # and clearly not uniform
    assert (draws < T // 2).mean() > 0.8  # 86 % expected in the first half
    uniform = np.concatenate([sample_keyframes(np.random.default_rng(s), T, 8, power=0) for s in range(seeds)])
    assert _chi_square(np.bincount(uniform, minlength=T), np.full(T, 1 / T)) < 31.26


def test_sift_queries_start_on_biased_keyframes_at_sift_points():
    T = 8
    rng = np.random.default_rng(0)
    video = np.stack([_texture(rng) for _ in range(T)])
    p = np.array([(T - t) ** 2 for t in range(T)], np.float64)
    p /= p.sum()
    per_draw = 2
    frames = []
    for s in range(150):
        q, reason = sift_queries(video, np.random.default_rng(s), points=8 * per_draw, keyframes=8)
        assert reason is None and q.shape == (8 * per_draw, 3)
        frames.append(q[:, 0].astype(int))
    counts = np.bincount(np.concatenate(frames), minlength=T) // per_draw  # keyframe draws
    assert counts.sum() == 150 * 8
    assert _chi_square(counts, p) < 24.32  # 7 dof, p = 0.001
    # every query sits on a SIFT keypoint of its frame (OpenCV run here independently)
    for t in np.unique(q[:, 0]).astype(int):
        kps = {k.pt for k in cv2.SIFT_create().detect(cv2.cvtColor(video[t], cv2.COLOR_RGB2GRAY), None)}
        assert all((float(x), float(y)) in kps for x, y in q[q[:, 0] == t, 1:])


def test_skip_rule_needs_enough_distinct_keypoints_on_every_keyframe():
    frame = _texture(np.random.default_rng(1))
    kps = cv2.SIFT_create().detect(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), None)
    best: dict = {}
    for k in kps:
        best[k.pt] = max(best.get(k.pt, -1.0), k.response)
    c = len(best)
    video = frame[None]  # one frame: every keyframe draw lands on it, so it must supply all points
    q, reason = sift_queries(video, np.random.default_rng(0), points=c, keyframes=4)
    assert reason is None and len(q) == c and len({tuple(r) for r in q[:, 1:]}) == c  # distinct locations
    q, reason = sift_queries(video, np.random.default_rng(0), points=c + 1, keyframes=4)
    assert q is None and f"found {c} distinct keypoints on frame 0, {c + 1} needed" in reason
    top = sorted(best, key=lambda pt: -best[pt])[:5]  # the strongest responses are kept
    q, _ = sift_queries(video, np.random.default_rng(0), points=5, keyframes=1)
    assert {tuple(map(float, r)) for r in q[:, 1:]} == {tuple(map(float, pt)) for pt in top}
    flat = np.full((6, 64, 64, 3), 128, np.uint8)
    q, reason = sift_queries(flat, np.random.default_rng(0), points=16, keyframes=8)
    assert q is None and "found 0 distinct keypoints" in reason


# ---------------------------------------------------------------- teachers


def test_teacher_specs_parse():
    assert parse_spec("ckpt:runs/a.pth:offline:iters=2,size=64x96") == (
        "ckpt", "runs/a.pth", {"mode": "offline", "iters": 2, "size": (64, 96)})
    assert parse_spec("ckpt:a.pth") == ("ckpt", "a.pth", {})
    assert parse_spec("onnx:exp/dir:backward=0") == ("onnx", "exp/dir", {"backward": False})
    assert parse_spec("lk") == ("lk", None, {})
    assert parse_spec("lk:win=9,levels=2,fb=0.5") == ("lk", None, {"win": 9, "levels": 2, "fb": 0.5})
    for bad, words in [("tapir", "unknown teacher"), ("lk:win=x", "not a valid int"), ("ckpt:", "needs a path"),
                       ("ckpt:a.pth:sideways", "unexpected field"), ("lk:bogus=1", "unknown option"),
                       ("ckpt:a.pth:size=64", "HxW"), ("onnx:d:online", "unexpected field")]:
        with pytest.raises(ValueError, match=words):
            parse_spec(bad)
    with pytest.raises(FileNotFoundError):
        load_teacher("onnx:/nonexistent/export")
    with pytest.raises(FileNotFoundError):
        load_teacher("ckpt:/nonexistent.pth")


def test_registered_teachers_run_and_bad_outputs_fail_early():
    def still(video, queries):
        return np.repeat(queries[:, None, 1:], len(video), axis=1), np.zeros((len(queries), len(video)), bool)

    with pytest.raises(ValueError, match="not be one of"):
        register_teacher("lk", still)
    register_teacher("still_test", still)
    register_teacher("broken_test", lambda v, q: (np.zeros((len(q), 2)), np.zeros((len(q), len(v)), bool)))
    try:
        video, q = np.zeros((5, 32, 32, 3), np.uint8), np.array([[1, 3.0, 4.0], [0, 10.0, 12.0]])
        tracks, occ = load_teacher("still_test")(video, q)
        assert tracks.shape == (2, 5, 2) and tracks.dtype == np.float32 and not occ.any()
        assert np.array_equal(tracks[1, 4], [10.0, 12.0])
        with pytest.raises(ValueError, match="broken_test.*expected"):
            load_teacher("broken_test")(video, q)
    finally:
        unregister_teacher("still_test")
        unregister_teacher("broken_test")
    with pytest.raises(ValueError, match="unknown teacher"):
        parse_spec("still_test")


def test_lk_and_checkpoint_teachers_run_on_a_tiny_clip(small_ckpt, one_torch_thread):
    rng = np.random.default_rng(3)
    big = _texture(rng, (96, 96), sigma=2.5)
    T, d = 8, np.array([1.0, 2.0])  # the crop window moves by -d px per frame, so the content moves by +d
    video = np.stack([big[16 - int(d[1] * t): 16 - int(d[1] * t) + 64, 16 - int(d[0] * t): 16 - int(d[0] * t) + 64]
                      for t in range(T)])
    q = np.array([[0, 30.0, 30.0], [0, 20.0, 40.0], [3, 32.0, 28.0]])
    tracks, occ = load_teacher("lk:win=15")(video, q)
    expected = q[:, None, 1:] + (np.arange(T)[None, :, None] - q[:, :1, None]) * d  # content shifts by +d per frame
    assert np.abs(tracks - expected).max() < 0.5 and not occ.any()
    ckpt = load_teacher(f"ckpt:{small_ckpt}:size=64x64,iters=1")
    tracks, occ = ckpt(video, q)
    assert tracks.shape == (3, T, 2) and occ.shape == (3, T) and np.isfinite(tracks).all()
    fwd_only = load_teacher(f"ckpt:{small_ckpt}:size=64x64,iters=1,backward=0")
    tracks, occ = fwd_only(video, q)
    assert np.array_equal(tracks[2, :3], np.repeat(q[2:, 1:], 3, axis=0)) and occ[2, :3].all()  # before its query
    offline = load_teacher(f"ckpt:{small_ckpt}:offline:size=64x64,iters=1")
    assert offline(video, q)[0].shape == (3, T, 2)


# ---------------------------------------------------------------- selection


@pytest.mark.parametrize("M", [3, 4])
def test_mean_median_and_majority_vote_match_a_plain_recomputation(M):
    rng = np.random.default_rng(M)
    N, T = 5, 6
    cand = rng.normal(50, 20, (M, N, T, 2)).astype(np.float32)
    occ = rng.random((M, N, T)) < 0.5
    for how, ref in (("mean", statistics.fmean), ("median", statistics.median)):
        tracks, flags = combine(cand, occ, how)
        for n in range(N):
            for t in range(T):
                for c in range(2):
                    assert tracks[n, t, c] == pytest.approx(ref([float(cand[m, n, t, c]) for m in range(M)]), abs=1e-4)
                seen = sum(not occ[m, n, t] for m in range(M))
                assert flags[n, t] == (not seen > M / 2)  # visible only with a strict majority; ties occluded
    assert np.array_equal(majority_occluded(occ), combine(cand, occ, "median")[1])
    chosen = set()
    for s in range(40):
        tracks, flags, m = select("random", cand, occ, np.random.default_rng(s))
        assert np.array_equal(tracks, cand[m]) and np.array_equal(flags, occ[m])
        chosen.add(m)
    assert chosen == set(range(M))
    with pytest.raises(ValueError, match="--verifier"):
        select("verifier", cand, occ, None)


# ---------------------------------------------------------------- cache


def test_cache_is_built_once_and_reloads_identically(videos, tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    for p in videos.iterdir():
        (root / p.name).write_bytes(p.read_bytes())
    with VideoWriter(root / "flat.mp4", 10, (72, 96)) as w:  # no texture: SIFT skips it
        for _ in range(20):
            w.write(np.full((72, 96, 3), 90, np.uint8))
    specs = ["lk", "lk:win=9,levels=2"]
    spec = ClipSpec(frames=FRAMES, size=SIZE, points=POINTS)
    vids = list_videos(root)
    cache = tmp_path / "cache"
    stats = build_cache(cache, vids, load_teachers(specs), specs, spec, seed=0, clips_per_video=2)
    assert stats["labelled"] == 4 and stats["reused"] == 0 and len(stats["skipped"]) == 2
    assert all("flat.mp4" in r and "found 0 distinct keypoints" in r for r in stats["skipped"])
    files = cached_clips(cache, vids, 2)
    assert [f.name for f in files] == ["bear.mp4.c000.npz", "bear.mp4.c001.npz", "teddy.mp4.c000.npz",
                                       "teddy.mp4.c001.npz"]
    raw = {f: f.read_bytes() for f in files}
    teachers = load_teachers(specs)
    for f in files:
        item = load_labelled(f)
        assert item["frames"].shape == (FRAMES, *SIZE, 3) and item["queries"].shape == (POINTS, 3)
        assert item["teachers"] == specs and item["video"] == f.name.split(".c0")[0]
        cand, occ = run_teachers(teachers, item["frames"], item["queries"])  # recomputed now, from the stored clip
        assert np.array_equal(cand, item["candidates"]) and np.array_equal(occ, item["occluded"])
        again = load_labelled(f)
        assert all(np.array_equal(again[k], item[k]) for k in ("frames", "queries", "candidates", "occluded"))

    def no_teachers():
        raise AssertionError("the cache should be reused, not relabelled")

    stats = build_cache(cache, vids, no_teachers, specs, spec, seed=0, clips_per_video=2)
    assert stats == {"labelled": 0, "reused": 4, "skipped": stats["skipped"]} and len(stats["skipped"]) == 2
    assert all(f.read_bytes() == raw[f] for f in files)
    with pytest.raises(ValueError, match="teachers"):
        build_cache(cache, vids, no_teachers, ["lk"], spec, seed=0, clips_per_video=2)


# ---------------------------------------------------------------- training


def test_frozen_head_is_bit_identical_while_the_rest_learns(videos, small_ckpt, tmp_path, one_torch_thread):
    calls = {"a": 0, "b": 0}
    lk = load_teacher("lk")

    def counting(name):
        def run(video, queries):
            calls[name] += 1
            return lk(video, queries)
        return run

    register_teacher("count_a", counting("a"))
    register_teacher("count_b", counting("b"))
    try:
        last = train_pseudo(PseudoConfig(
            videos=str(videos), teachers=["count_a", "count_b"], init=str(small_ckpt), selection="random", steps=3,
            size=SIZE, clip_frames=FRAMES, points=POINTS, iters=2, lr=1e-3, out=str(tmp_path / "run"), device="cpu",
            progress=False))
    finally:
        unregister_teacher("count_a")
        unregister_teacher("count_b")
    before, after = load_checkpoint(small_ckpt).state_dict(), load_checkpoint(last).state_dict()
    head = [k for k in before if k.startswith(FROZEN_PREFIX)]
    assert head == ["updateformer.vis_conf_head.weight", "updateformer.vis_conf_head.bias"]
    assert all(torch.equal(before[k], after[k]) for k in head)
    assert not torch.equal(before["updateformer.flow_head.weight"], after["updateformer.flow_head.weight"])
    changed = [k for k in before if k not in head and before[k].is_floating_point() and not torch.equal(before[k],
                                                                                                         after[k])]
    assert len(changed) > 0.8 * (len(before) - len(head))
    state = checkpoints.load(last)
    n_params = len(list(CoTracker3(SMALL).parameters()))
    assert len(state["optimizer"]["param_groups"][0]["params"]) == n_params - 2  # the head is not in the optimizer
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and all(np.isfinite(r["track"]) for r in rows)
    assert calls["a"] + calls["b"] == 3  # random selection: only the batch's teacher runs
    assert calls["a"] == sum(r["teacher"] == "count_a" for r in rows)
    assert rows[0]["lr"] == pytest.approx(1e-3) and rows[2]["lr"] == pytest.approx(1e-3 * 0.25)  # cosine, no warm-up


def test_cli_end_to_end_with_cache(videos, small_ckpt, tmp_path, capsys, one_torch_thread):
    out, cache = tmp_path / "run", tmp_path / "cache"
    argv = ["pseudo", "--videos", str(videos), "--teachers", "lk", f"ckpt:{small_ckpt}:size=64x64,iters=1",
            "--init", str(small_ckpt), "--selection", "median", "--cache", str(cache), "--clips-per-video", "1",
            "--steps", "2", "--size", *map(str, SIZE), "--clip-frames", str(FRAMES), "--points", str(POINTS),
            "--iters", "1", "--augment", "--out", str(out), "--device", "cpu", "--quiet"]
    assert training_main(argv) == 0
    assert "last checkpoint:" in capsys.readouterr().out
    model = load_checkpoint(out / "last.pth")
    assert model.cfg == SMALL
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(np.isfinite(r["track"]) for r in rows)
    assert all(len(r["transforms"]) == 1 and set(r["transforms"][0]) <= set(TRANSFORMS) for r in rows)
    assert len(list(cache.glob("*.npz"))) == 2
    config = json.loads((out / "config.json").read_text())
    assert config["label_cache"]["clips"] == 2 and config["frozen"] == [f"{FROZEN_PREFIX}weight", f"{FROZEN_PREFIX}bias"]
    assert training_main([*argv[:-5], "--out", str(tmp_path / "bad"), "--clip-frames", "12", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == "training: error: --clip-frames 12 must be a multiple of the online " \
                                              "window length 8"
    assert training_main(["pseudo", "--videos", str(tmp_path / "none"), "--teachers", "lk", "--init",
                          str(small_ckpt)]) == 2
    assert capsys.readouterr().err.strip() == f"training: error: --videos {tmp_path / 'none'} is not a directory"


@pytest.mark.slow
def test_torchrun_shards_cache_labelling_and_ends_with_identical_weights(videos, small_ckpt, tmp_path):
    """Two gloo ranks: each labels only its own videos (rank r: videos r::2), then both train in step."""
    import os
    import subprocess
    import sys

    from ..conftest import REPO

    plugin = tmp_path / "rank_teacher.py"  # a registered teacher that records which rank ran it
    plugin.write_text(
        "import os\nfrom pathlib import Path\nfrom rt_edge.evaluation.lk import lk_predictor\n"
        "from training.teachers import register_teacher\n_lk = lk_predictor()\n"
        "def _run(video, queries):\n"
        f"    with open(Path({str(tmp_path)!r}) / ('calls_rank' + os.environ['RANK']), 'a') as f:\n"
        "        f.write('x')\n"
        "    return _lk(video, queries)\n"
        "register_teacher('rank_lk', _run)\n")
    out, cache = tmp_path / "ddp", tmp_path / "cache"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "training",
           "pseudo", "--import", "rank_teacher", "--videos", str(videos), "--teachers", "rank_lk", "--init",
           str(small_ckpt), "--cache", str(cache), "--clips-per-video", "1", "--steps", "2", "--size", *map(str, SIZE),
           "--clip-frames", str(FRAMES), "--points", str(POINTS), "--iters", "1", "--device", "cpu", "--out", str(out),
           "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{REPO}{os.pathsep}{tmp_path}"}
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [(tmp_path / f"calls_rank{i}").read_text() for i in (0, 1)] == ["x", "x"]  # one video each
    assert len(list(cache.glob("*.npz"))) == 2
    digests = [(out / f"weights_rank{i}.sha256").read_text() for i in (0, 1)]
    assert digests[0] == digests[1]
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
