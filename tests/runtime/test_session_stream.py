"""OnlineTracker on long streams: its state and the process's memory stay bounded, and every
frame comes back exactly once, in order, while queries come and go."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from rt_edge import ContextConfig, OnlineTracker
from rt_edge.model import CoTracker3

from ..conftest import REPO, SMALL

WARMUP = 1_000  # frames: query add/remove cycles until the state's maxima are reached
RSS_BOUND = 15e6  # bytes; keeping each frame's pyramid alone would grow ~11 kB/frame here


def _rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _frames(count: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """A pool of frames: a bright square moving over noise."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 120, (count, size, size, 3), dtype=np.uint8)
    for i in range(count):
        x = (2 * i) % (size - 8)
        pool[i, 10:18, x : x + 8] = 250
    return pool


def _stream(model, num_frames: int, low_latency: bool, context_points, period: int = 300,
            warmup: int = WARMUP, schedule: str = "published"):
    tracker = OnlineTracker.load(model, image_size=(32, 32), iters=1, context_points=context_points,
                                 low_latency=low_latency, schedule=schedule)
    pool = _frames(37)
    rng = np.random.default_rng(1)
    groups: list[np.ndarray] = []
    removed: set[int] = set()
    query_frame: dict[int, int] = {}
    added = 0
    next_frame = 0
    maxima: dict[str, int] = {}
    rss0 = None
    t0 = time.perf_counter()
    for t in range(num_frames):
        if t % period == 0:
            if len(groups) >= 3:
                gone = groups.pop(0)
                tracker.remove_queries(gone)
                removed.update(gone.tolist())
            # alternately queried at the next frame and at a frame still in the buffer
            frame = None if (t // period) % 2 == 0 or t == 0 else t - 3
            groups.append(tracker.add_queries(rng.uniform(0, 31, (3, 2)), frame=frame))
            query_frame.update({int(i): t if frame is None else frame for i in groups[-1]})
            added += 3
        out = tracker.push(pool[t % len(pool)])
        if schedule == "stream":
            np.testing.assert_array_equal(out.frames, [t])  # frame t comes back on its own push
        # every frame once, in order, only live user ids, values from the query frame on
        np.testing.assert_array_equal(out.frames, np.arange(next_frame, next_frame + len(out)))
        next_frame += len(out)
        assert not removed & set(out.ids.tolist())
        assert set(out.ids.tolist()) == {int(i) for g in groups for i in g}
        before = out.frames[:, None] < np.array([query_frame[int(i)] for i in out.ids], int)[None, :]
        assert np.isnan(out.xy[before]).all() and np.isfinite(out.xy[~before]).all()
        assert np.isfinite(out.visibility).all() and np.isfinite(out.confidence).all()
        size = tracker.state_size()
        if t < warmup:
            for k, v in size.items():
                maxima[k] = max(maxima.get(k, 0), v)
        else:
            if rss0 is None:
                rss0 = _rss()
            over = {k: (v, maxima[k]) for k, v in size.items() if v > maxima[k]}
            assert not over, f"frame {t}: state grew past its warm-up maxima: {over}"
    rest = tracker.flush()
    np.testing.assert_array_equal(rest.frames, np.arange(next_frame, num_frames))
    elapsed = time.perf_counter() - t0
    growth = _rss() - rss0
    print(f"{num_frames} frames (low_latency={low_latency}, context={context_points}): {elapsed:.1f} s, "
          f"{1e3 * elapsed / num_frames:.2f} ms/frame, state maxima {maxima}, RSS growth {growth / 1e6:.2f} MB")
    assert added > 3 and removed
    return maxima, growth


def _stream_fresh(num_frames: int, low_latency: bool, context: dict | None, **kw) -> dict:
    """_stream with the test's model, for a fresh interpreter (see _isolated)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    ctx = ContextConfig(**context) if context else False
    maxima, growth = _stream(CoTracker3(SMALL).eval(), num_frames, low_latency, ctx, **kw)
    maxima["history_values"] = int(maxima.get("history_values", 0))
    return {"maxima": maxima, "growth": growth}


def _isolated(**kw) -> tuple[dict, float]:
    """Stream in a fresh interpreter, so the RSS growth is the tracker's own: in the suite's process, what
    earlier tests left behind once added 44 MB during the stream (a fresh process stays within +-1 MB)."""
    code = ("import json, sys; from tests.runtime.test_session_stream import _stream_fresh; "
            "print(json.dumps(_stream_fresh(**json.loads(sys.argv[1]))))")
    r = subprocess.run([sys.executable, "-c", code, json.dumps(kw)], cwd=REPO, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    print(r.stdout)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return out["maxima"], out["growth"]


@pytest.mark.parametrize("num_frames", [10_000])
def test_long_stream_state_is_bounded(num_frames):
    maxima, growth = _isolated(num_frames=num_frames, low_latency=False, context=None)
    # the maxima are what a bounded tracker holds: a window of frames, at most 3 groups of 3
    assert maxima == {"buffered_frames": SMALL.window_len, "points": 9, "window_values": SMALL.window_len * 9 * 4,
                      "history_values": 0}
    assert growth < RSS_BOUND, f"resident memory grew by {growth / 1e6:.1f} MB"


def test_low_latency_stream_with_context_points_is_bounded():
    """Context points are re-seeded as the stream goes (the global grid every window step): the
    old ones must go. Small grids keep the per-frame window cheap."""
    maxima, growth = _isolated(num_frames=400, low_latency=True, context={"global_grid": 3, "local_grid": 2},
                               period=40, warmup=160)
    # the most at the start: 3 user points with their 2x2 local grids and the 3x3 global grid
    assert maxima["points"] == 3 + 3 * 4 + 9
    assert maxima["buffered_frames"] == SMALL.window_len
    assert growth < RSS_BOUND, f"resident memory grew by {growth / 1e6:.1f} MB"


def test_stream_schedule_over_10k_frames_is_bounded():
    """The stream schedule's history (coords/vis/conf and correlation embeddings of window_len - 1 frames)
    is the only state it adds: at most 9 points' worth, whatever the length."""
    maxima, growth = _isolated(num_frames=10_000, low_latency=False, context=None, schedule="stream")
    S, dc = SMALL.window_len, SMALL.corr_levels * SMALL.corr_dim
    assert maxima == {"buffered_frames": S, "points": 9, "window_values": 0,
                      "history_values": (S - 1) * 9 * (2 + 1 + 1 + dc)}
    assert growth < RSS_BOUND, f"resident memory grew by {growth / 1e6:.1f} MB"
