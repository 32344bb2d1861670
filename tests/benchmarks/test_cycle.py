"""benchmarks.cycle (forward-backward cycle error) against hand-derived cases, and its CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from benchmarks.__main__ import main
from benchmarks.cycle import cycle_errors, grid_queries, summarize
import rt_edge.default_model as default_model
from rt_edge.evaluation.lk import lk_predictor, track_lk
from rt_edge.model import CoTracker3
from rt_edge.video import read_frames, sample_clip_path

from ..conftest import REPO, SMALL, run_command

STEP = np.array([1.3, -0.7])  # px per frame: texture content at u shows at u + t * STEP in frame t
T = 8
HW = (96, 96)


def _translation_clip(seed: int = 0) -> np.ndarray:
    """T frames (T, 96, 96, 3) uint8 of a smooth random texture moved by t * STEP."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (*HW, 3)).astype(np.float32), (0, 0), 3.0)
    tex = ((noise - noise.min()) / (noise.max() - noise.min()) * 255).astype(np.uint8)
    frames = [cv2.warpAffine(tex, np.array([[1, 0, t * STEP[0]], [0, 1, t * STEP[1]]]), HW[::-1],
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101) for t in range(T)]
    return np.stack(frames)


def _oracle(clip: np.ndarray, bias_px_per_frame: float = 0.0):
    """A predictor that knows the clip's motion: exact tracks on the clip or on its time reversal
    (anything else raises), plus `bias_px_per_frame` * (frames since the query) in x."""
    offsets = np.arange(T)[:, None] * STEP  # (T, 2) motion of the clip's content

    def predict(video, queries):
        if np.array_equal(video, clip):
            off = offsets
        elif np.array_equal(video, clip[::-1]):
            off = offsets[::-1]
        else:
            raise AssertionError("predictor got a video that is neither the clip nor its reversal")
        t0 = queries[:, 0].astype(int)
        steps = np.arange(T)[None, :] - t0[:, None]  # (N, T)
        tracks = queries[:, None, 1:] + off[None] - off[t0][:, None] + np.stack(
            [bias_px_per_frame * steps, np.zeros_like(steps, float)], -1)
        occluded = np.zeros(tracks.shape[:2], bool)
        occluded[0, 3] = True  # point 0 is declared lost once
        return tracks, occluded

    return predict


def test_perfect_predictor_closes_the_cycle():
    clip = _translation_clip()
    q = grid_queries(HW, 4, 20)
    r = cycle_errors(_oracle(clip), clip, q)
    assert r["errors"].shape == (16,)
    assert r["errors"].max() < 1e-5
    np.testing.assert_allclose(r["end"], q[:, 1:] + (T - 1) * STEP, atol=1e-9)  # the forward leg's end
    assert r["visible_throughout"].tolist() == [False] + [True] * 15
    assert r["end_inside"].all()


def test_biased_predictor_error_adds_up_over_both_legs():
    """Bias b px/frame in x: forward ends at q + (T-1) STEP + (b (T-1), 0); the backward leg starts there in
    the reversed clip (content moves by -STEP per frame) and adds its own b (T-1): it returns to
    q + (2 b (T-1), 0), so the cycle error is 2 b (T-1) = 28 px for b = 2, T = 8 (not b (T-1): the legs
    are chained; the oracle raises if the backward video is not the exact reversal)."""
    clip = _translation_clip()
    q = grid_queries(HW, 3, 30)  # far enough from the border that every end stays inside
    r = cycle_errors(_oracle(clip, bias_px_per_frame=2.0), clip, q)
    assert r["end_inside"].all()
    np.testing.assert_allclose(r["end"], q[:, 1:] + (T - 1) * STEP + [2 * (T - 1), 0], atol=1e-9)
    np.testing.assert_allclose(r["returned"], q[:, 1:] + [4 * (T - 1), 0], atol=1e-9)
    np.testing.assert_allclose(r["errors"], 4 * (T - 1), atol=1e-9)


def test_backward_leg_starts_inside_the_frame():
    """A forward leg that carries points past the border (bias 12 px/frame: x ends 84 px right of the query)
    hands the backward leg queries clamped to the frame; `end` keeps the true end, `end_inside` flags it."""
    clip = _translation_clip()
    q = grid_queries(HW, 3, 20)
    seen = []
    oracle = _oracle(clip, bias_px_per_frame=12.0)

    def predict(video, queries):
        seen.append(queries.copy())
        return oracle(video, queries)

    r = cycle_errors(predict, clip, q)
    end = q[:, 1:] + (T - 1) * STEP + [12 * (T - 1), 0]
    np.testing.assert_allclose(r["end"], end, atol=1e-9)
    assert not r["end_inside"].any()  # every x ends beyond 95
    np.testing.assert_allclose(seen[1][:, 1:], np.clip(end, 0, [HW[1] - 1, HW[0] - 1]), atol=1e-9)
    np.testing.assert_allclose(r["returned"], seen[1][:, 1:] - (T - 1) * STEP + [12 * (T - 1), 0], atol=1e-9)


def test_lk_cycle_on_translation_is_subpixel():
    clip = _translation_clip(1)
    r = cycle_errors(lk_predictor(), clip, grid_queries(HW, 4, 20))
    print(f"\nLK cycle on translation: median {np.median(r['errors']):.4f} max {r['errors'].max():.4f} px")
    assert np.median(r["errors"]) < 0.2
    assert r["visible_throughout"].mean() > 0.9
    # and LK's forward leg really followed the motion (so a small cycle is not a tracker standing still)
    np.testing.assert_allclose(np.median(r["end"] - grid_queries(HW, 4, 20)[:, 1:], axis=0), (T - 1) * STEP,
                               atol=0.2)


def test_summarize_matches_hand_counts():
    e = np.array([0.5, 1.0, 1.5, 3.0, 10.0])
    s = summarize(e)
    assert s == pytest.approx(dict(count=5, median=1.5, mean=3.2, under_1px=0.2, under_2px=0.6, under_4px=0.8,
                                   under_8px=0.8))
    s = summarize(e, np.array([True, True, False, True, False]))
    assert s == pytest.approx(dict(count=3, median=1.0, mean=1.5, under_1px=1 / 3, under_2px=2 / 3, under_4px=1.0,
                                   under_8px=1.0))
    empty = summarize(e, np.zeros(5, bool))
    assert empty["count"] == 0 and empty["median"] is None and empty["under_1px"] is None
    with pytest.raises(ValueError, match="mask"):
        summarize(e, np.ones(4, bool))


def test_grid_queries_and_bad_inputs():
    q = grid_queries((64, 80), 3, 10)
    np.testing.assert_array_equal(q[:, 0], 0)
    np.testing.assert_allclose(q[:3, 1], [10, 39.5, 69])  # x over [10, 79 - 10], row-major
    np.testing.assert_allclose(q[::3, 2], [10, 31.5, 53])
    with pytest.raises(ValueError, match="margin"):
        grid_queries((64, 80), 3, 32)
    clip = _translation_clip()
    with pytest.raises(ValueError, match="frame 0"):
        cycle_errors(_oracle(clip), clip, np.array([[1.0, 30.0, 30.0]]))
    with pytest.raises(ValueError, match="forward leg"):
        cycle_errors(lambda v, q: (np.zeros((len(q), T - 1, 2)), np.zeros((len(q), T - 1), bool)), clip,
                     np.array([[0.0, 30.0, 30.0]]))


TINY = ["--frames", "6", "--size", "64", "64", "--grid", "3"]


def _independent_lk_cycle() -> np.ndarray:
    """The CLI's settings recomputed by hand: sample clip, 6 frames, INTER_AREA to 64x64, 3x3 grid at 16 px."""
    frames = read_frames(sample_clip_path(), max_frames=6)
    clip = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in frames])
    xs = np.linspace(16, 47, 3)
    xy = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    fwd, _ = track_lk(clip, np.concatenate([np.zeros((9, 1)), xy], 1))
    bwd, _ = track_lk(clip[::-1].copy(), np.concatenate([np.zeros((9, 1)), fwd[:, -1]], 1))
    return np.linalg.norm(bwd[:, -1] - xy, axis=1)


def test_cli_lk_on_sample_clip(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(default_model, "WEIGHTS", tmp_path / "absent.pth")  # LK only, as without default weights
    out = tmp_path / "cycle.json"
    assert main(["cycle", "--videos", str(sample_clip_path()), *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    print(printed)
    result = json.loads(out.read_text())
    assert set(result) == {"_settings", "lk"}
    assert set(result["lk"]) == {"overall", "per_video"} and set(result["lk"]["per_video"]) == {"sample.mp4"}
    assert result["_settings"]["frames"] == 6 and result["_settings"]["size"] == [64, 64]
    overall = result["lk"]["overall"]
    assert overall["all"]["count"] == 9 and 0 <= overall["visible_share"] <= 1
    assert result["lk"]["per_video"]["sample.mp4"]["frames"] == 6
    expected = _independent_lk_cycle()
    assert overall["all"]["median"] == pytest.approx(np.median(expected), abs=1e-4)
    assert overall["all"]["under_1px"] == pytest.approx(np.mean(expected < 1))
    assert "no --checkpoint" in printed and "overall" in printed


def test_cli_missing_video_exits_2(tmp_path):
    r = run_command("benchmarks", "cycle", "--videos", str(tmp_path / "nope.mp4"),
                        "--out", str(tmp_path / "x.json"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("benchmarks: error: video not found")
    assert not (tmp_path / "x.json").exists()


def test_cli_rt_edge_path_with_tiny_checkpoint(tmp_path, capsys):
    """The rt_edge wiring (checkpoint loaded, both legs run) on a tiny random model: shapes and keys only."""
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pth"
    torch.save({"model": CoTracker3(SMALL).state_dict(), "config": SMALL.to_dict()}, ckpt)
    out = tmp_path / "cycle.json"
    assert main(["cycle", "--videos", str(sample_clip_path()), "--frames", "6", "--size", "64", "64", "--grid", "2",
                 "--checkpoint", str(ckpt), "--image-size", "64", "64", "--iters", "1", "--threads", "1",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"_settings", "rt_edge", "lk"}
    assert result["rt_edge"]["overall"]["all"]["count"] == 4
    assert result["_settings"]["rt_edge"]["checkpoint"] == str(ckpt)
    assert "rt_edge" in capsys.readouterr().out


def test_cycle_module_does_not_import_torch():
    code = "import sys, benchmarks.cycle, benchmarks.cli_cycle; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
