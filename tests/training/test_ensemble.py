"""training.ensemble: several trackers on one clip, combined per frame (the verifier at inference)."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from rt_edge.model import CoTracker3
from rt_edge.track_io import read_tracks
from rt_edge.video import read_frames, sample_clip_path
from training.ensemble import track_ensemble
from training.teachers import load_teachers
from training.verifier import from_tracker, save_verifier

from ..conftest import SMALL, run_command

TEACHERS = ["lk:win=11", "lk:win=31,levels=4"]


@pytest.fixture(scope="module")
def clip():
    video = read_frames(sample_clip_path(), max_frames=8)[:, ::2, ::2].copy()  # (8, 108, 192)
    queries = np.array([[0, 40.0, 30.0], [0, 120.0, 60.0], [2, 90.0, 80.0]])
    return video, queries


def test_median_of_two_teachers_is_their_mean(clip):
    video, queries = clip
    tracks = track_ensemble(video, queries, TEACHERS, selection="median")
    outs = [t(video, queries) for t in load_teachers(TEACHERS)]
    expected = (outs[0][0] + outs[1][0]) / 2  # (N, T, 2)
    np.testing.assert_allclose(tracks.xy, expected.transpose(1, 0, 2), atol=1e-4)
    both_visible = ~outs[0][1] & ~outs[1][1]  # a strict majority of two is both
    np.testing.assert_array_equal(tracks.visible, both_visible.T)


def test_verifier_picks_one_candidate_per_frame(clip, tmp_path):
    video, queries = clip
    torch.manual_seed(0)
    ckpt = save_verifier(tmp_path / "verifier.pth", from_tracker(CoTracker3(SMALL)))
    tracks = track_ensemble(video, queries, TEACHERS, verifier=ckpt)
    cands = np.stack([t(video, queries)[0] for t in load_teachers(TEACHERS)]).transpose(0, 2, 1, 3)  # (M, T, N, 2)
    distance = np.abs(cands - tracks.xy[None]).max(-1)  # (M, T, N)
    assert (distance.min(0) < 1e-4).all()  # every (frame, point) is exactly one teacher's position


def test_cli_writes_tracks_and_overlay(tmp_path):
    r = run_command("training", "ensemble", "--teachers", *TEACHERS, "--selection", "mean",
                        "--grid", "3", "--max-frames", "6", "--out", str(tmp_path / "t.csv"), "--viz",
                        str(tmp_path / "o.mp4"))
    assert r.returncode == 0, r.stderr[-2000:]
    t = read_tracks(tmp_path / "t.csv")
    assert t["xy"].shape == (6, 9, 2) and np.isfinite(t["xy"]).all()
    assert len(read_frames(tmp_path / "o.mp4")) == 6
    r = run_command("training", "ensemble", "--teachers", "lk", "lk:win=11")
    assert r.returncode == 2 and r.stderr.strip() == "training: error: selection 'verifier' needs a verifier checkpoint"
