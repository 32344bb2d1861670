"""`python -m rt_edge track` on a real clip, and `track_video` for whole clips."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

import rt_edge
from rt_edge.api import track_video
from rt_edge.model import CoTracker3
from rt_edge.track_io import read_tracks
from rt_edge.video import read_frames, sample_clip_path

from ..conftest import run_command

SMALL = ["--image-size", "64", "112", "--iters", "1", "--grid", "3", "--max-frames", "20"]  # [:5]: size + iters


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, seeded_weights):
    path = tmp_path_factory.mktemp("ckpt") / "seed0_online.pth"
    torch.save({k: torch.from_numpy(v) for k, v in seeded_weights("online", 0).items()}, path)
    return path


def _cli(*args) -> subprocess.CompletedProcess:
    return run_command("rt_edge", "track", *args)


def test_track_writes_npz_csv_and_overlay(tmp_path, ckpt):
    clip = sample_clip_path()
    r = _cli(clip, "--checkpoint", ckpt, *SMALL, "--out", tmp_path / "t.npz", "--viz", tmp_path / "v.mp4")
    assert r.returncode == 0, r.stderr
    assert "frames/s" in r.stdout and "p50" in r.stdout and "p95" in r.stdout
    t = read_tracks(tmp_path / "t.npz")
    assert t["xy"].shape == (20, 9, 2) and list(t["frames"]) == list(range(20))
    assert np.isfinite(t["xy"]).all()  # grid queried on frame 0: defined everywhere
    viz = read_frames(tmp_path / "v.mp4")
    src = read_frames(clip, max_frames=20)
    assert viz.shape == src.shape  # one overlay frame per input frame, same size
    assert np.abs(viz.astype(int) - src.astype(int)).max() > 100  # something was drawn
    r = _cli(clip, "--checkpoint", ckpt, *SMALL, "--out", tmp_path / "t.csv")
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == "frame,id,x,y,visible,confidence" and len(lines) == 1 + 20 * 9
    # same tracks in both formats
    c = read_tracks(tmp_path / "t.csv")
    assert np.allclose(c["xy"], t["xy"], atol=1e-3)


def test_points_file_and_bad_inputs(tmp_path, ckpt):
    pts = tmp_path / "p.csv"
    pts.write_text("t,x,y\n0,100,100\n4,200,50\n")
    r = _cli(sample_clip_path(), "--checkpoint", ckpt, *SMALL[:5], "--max-frames", "10", "--points", pts,
             "--out", tmp_path / "p.json")
    assert r.returncode == 0, r.stderr
    t = read_tracks(tmp_path / "p.json")
    assert t["xy"].shape == (10, 2, 2)
    pts.write_text("0,100,100\n0,5000,10\n")
    for args, msg in [
        ((sample_clip_path(), "--checkpoint", ckpt, "--points", pts), "outside"),
        ((tmp_path / "missing.mp4", "--checkpoint", ckpt), "not found"),
        ((sample_clip_path(), "--checkpoint", tmp_path / "none.pth"), "not found"),
        ((sample_clip_path(), "--checkpoint", ckpt, *SMALL[:5], "--grid", "0"), "--grid must be positive, got 0"),
    ]:
        r = _cli(*args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
    garbage = tmp_path / "bad.mp4"
    garbage.write_bytes(b"\x00" * 100)
    r = _cli(garbage, "--checkpoint", ckpt)
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return CoTracker3().eval()


def test_track_video_online_matches_runtime_and_offline_shapes(small_model):
    frames = read_frames(sample_clip_path(), max_frames=12)[:, ::4, ::4].copy()  # (12, 54, 96)
    q = np.array([[0, 10.0, 10.0], [3, 50.0, 30.0]])
    kw = dict(checkpoint=small_model, image_size=(48, 96), iters=1, context_points=False)
    on = track_video(frames, q, mode="online", **kw)
    assert on.xy.shape == (12, 2, 2) and list(on.ids) == [0, 1]
    assert np.isnan(on.xy[:3, 1]).all() and np.isfinite(on.xy[3:, 1]).all()
    tracker = rt_edge.OnlineTracker.load(small_model, image_size=(48, 96), iters=1, context_points=False)
    tracker.add_queries(q[:1, 1:], frame=0)
    tracker.add_queries(q[1:, 1:], frame=3)
    ref = rt_edge.Tracks.concat([tracker.push(f) for f in frames] + [tracker.flush()])
    assert np.allclose(on.xy, ref.xy, equal_nan=True)
    off = track_video(frames, q, mode="offline", **kw)
    assert off.xy.shape == (12, 2, 2) and np.isnan(off.xy[:3, 1]).all() and np.isfinite(off.xy[3:]).all()
    back = track_video(frames, q, mode="online", backward=True, **kw)
    assert np.isfinite(back.xy).all()  # frames before the query filled from the reversed clip
    assert np.allclose(back.xy[3:], on.xy[3:])


def test_track_video_bad_input(small_model):
    frames = np.zeros((5, 48, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="query frame 7"):
        track_video(frames, [[7, 1, 1]], checkpoint=small_model)
    with pytest.raises(ValueError, match="grid_size"):
        track_video(frames, checkpoint=small_model)
    with pytest.raises(ValueError, match="mode"):
        track_video(frames, grid_size=2, mode="sideways", checkpoint=small_model)
