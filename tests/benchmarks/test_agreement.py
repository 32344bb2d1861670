"""benchmarks agreement: checkpoints scored against teacher labels on held-out clips."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from benchmarks.__main__ import main as benchmarks_main
from benchmarks.agreement import evaluate, score_against
from rt_edge.evaluation.tapvid import SUMMARY, WITHIN
from rt_edge.model import CoTracker3
from rt_edge.video import VideoWriter, read_frames
from training import checkpoints
from training.teachers import register_teacher, unregister_teacher

from ..conftest import SHARED, SMALL, require


def _clip(offset_px: float = 3.0) -> dict:
    """A 64x64 clip of 4 frames, 2 still points; teacher 1 sits offset_px to the right of teacher 0."""
    queries = np.array([[0, 10.0, 20.0], [1, 30.0, 40.0]], np.float32)
    t0 = np.broadcast_to(queries[:, None, 1:], (2, 4, 2)).astype(np.float32)
    cand = np.stack([t0, t0 + [offset_px, 0.0]])
    occ = np.zeros((2, 2, 4), bool)
    return {"frames": np.zeros((4, 64, 64, 3), np.uint8), "queries": queries, "candidates": cand, "occluded": occ,
            "teachers": np.array(["a", "b"])}


def test_a_tracker_that_copies_teacher_a_agrees_fully_with_a_and_by_the_raster_distance_with_b():
    clip = _clip(3.0)
    m_a = score_against(clip, 0, clip["candidates"][0], clip["occluded"][0])
    assert m_a == dict.fromkeys(SUMMARY + WITHIN, 1.0)
    # 3 px on a 64 px clip is 12 px on the 256 raster: inside only the 16 px threshold of 1, 2, 4, 8, 16
    m_b = score_against(clip, 1, clip["candidates"][0], clip["occluded"][0])
    assert m_b["average_pts_within_thresh"] == pytest.approx(0.2)
    assert m_b["occlusion_accuracy"] == 1.0


def test_evaluate_averages_clips_per_teacher_and_refuses_mixed_teacher_sets():
    clips = [_clip(3.0), _clip(0.5)]  # 0.5 px -> 2 px on the raster: inside 4, 8, 16 (2 is not < 2)

    def copy_a(video, queries):
        return np.broadcast_to(queries[:, None, 1:], (len(queries), len(video), 2)), np.zeros((len(queries),
                                                                                                 len(video)), bool)

    scores = evaluate({"copy_a": copy_a}, clips)
    assert scores["copy_a"]["a"]["average_pts_within_thresh"] == pytest.approx(1.0)
    assert scores["copy_a"]["b"]["average_pts_within_thresh"] == pytest.approx((0.2 + 0.6) / 2)
    mixed = {**_clip(), "teachers": np.array(["a", "c"])}
    with pytest.raises(ValueError, match="different teachers"):
        evaluate({"copy_a": copy_a}, [clips[0], mixed])
    with pytest.raises(ValueError, match="need trackers and clips"):
        evaluate({}, clips)


@pytest.fixture
def shifted_teacher():
    def teacher(video, queries):
        T, N = len(video), len(queries)
        return (np.broadcast_to(queries[:, None, 1:], (N, T, 2)) + [2.0, 0.0]).astype(np.float32), np.zeros((N, T),
                                                                                                          bool)

    register_teacher("shift2", teacher)
    yield
    unregister_teacher("shift2")


def test_cli_labels_clips_once_and_writes_a_row_per_checkpoint_and_teacher(tmp_path, capsys, shifted_teacher,
                                                                          one_torch_thread):
    videos = tmp_path / "videos"
    videos.mkdir()
    frames = read_frames(require(SHARED / "videos" / "bear.mp4"), max_frames=20)
    with VideoWriter(videos / "bear.mp4", 10, (72, 96)) as w:
        for f in frames:
            w.write(cv2.resize(f, (96, 72), interpolation=cv2.INTER_AREA))
    torch.manual_seed(0)
    ckpt = tmp_path / "small.pth"
    checkpoints.save(ckpt, CoTracker3(SMALL), None, 0)
    cache, out = tmp_path / "cache", tmp_path / "agree.json"
    argv = ["agreement", "--videos", str(videos), "--teachers", "lk", "shift2", "--checkpoint", str(ckpt),
            "--cache", str(cache), "--out", str(out), "--size", "64", "64", "--clip-frames", "16", "--points", "16",
            "--iters", "1"]
    assert benchmarks_main(argv) == 0
    result = json.loads(out.read_text())
    assert len(list(cache.glob("*.npz"))) == 2 and len(result["_settings"]["clips"]) == 2
    assert set(result[str(ckpt)]) == {"lk", "shift2"}
    for m in result[str(ckpt)].values():
        assert all(0.0 <= v <= 1.0 for v in m.values())
    assert "against shift2" in capsys.readouterr().out
    assert benchmarks_main([*argv[:-6], "--clip-frames", "0"]) == 2
    assert "--clip-frames must be positive, got 0" in capsys.readouterr().err
