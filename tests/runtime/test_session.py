"""OnlineTracker: the frame-at-a-time runtime.

Acceptance: with the published layout's seed-0 weights it replays the reference's online
fixture (../shared/conformance/fixture_bear_seed0.npz) to the issue's tolerances. The other
tests use a small random-weight model (window 8, step 4) and compare the runtime with
`model.track(..., mode="online")`, check the emission schedule, the caller-pixel mapping,
query management, context points and input validation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rt_edge
import rt_edge.default_model as default_model
from rt_edge import ContextConfig, OnlineTracker, Tracks
from rt_edge.model import CoTracker3

from ..conftest import SMALL, lively_small_model

COORD_TOL, PROB_TOL = 2e-3, 1e-4  # the tolerances, never to be loosened

S, STEP = SMALL.window_len, SMALL.window_step  # 8, 4


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(one_torch_thread):
    yield


def _small_model(heads: str = "lively") -> CoTracker3:
    """The small model. heads: "lively" (output heads large enough that tracks move several
    pixels, so a runtime that returned the queries would fail), "zero" (no updates at all)."""
    if heads != "zero":
        return lively_small_model()
    torch.manual_seed(0)
    model = CoTracker3(SMALL).eval()
    with torch.no_grad():
        for head in (model.updateformer.flow_head, model.updateformer.vis_conf_head):
            head.weight.zero_()
            head.bias.zero_()
    return model


@pytest.fixture(scope="module")
def model() -> CoTracker3:
    return _small_model()


def _video(T: int, H: int, W: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (T, H, W, 3), dtype=np.uint8)


def _track(model, video: np.ndarray, queries: np.ndarray, iters: int):
    """model.track online on uint8 (T, H, W, 3) frames; queries (N, 3) rows (t, x, y)."""
    v = torch.from_numpy(video).permute(0, 3, 1, 2).float()[None]
    with torch.no_grad():
        c, vis, conf = model.track(v, torch.from_numpy(queries.astype(np.float32))[None], iters=iters, mode="online")
    return c[0].numpy(), vis[0].numpy(), conf[0].numpy()


def _add_grouped(tracker: OnlineTracker, queries: np.ndarray) -> np.ndarray:
    """Add (N, 3) rows (t, x, y) grouped by frame; returns the id of each row."""
    ids = np.full(len(queries), -1, np.int64)
    t_all = queries[:, 0].astype(int)
    for t in np.unique(t_all):
        sel = np.flatnonzero(t_all == t)
        ids[sel] = tracker.add_queries(queries[sel, 1:], frame=int(t))
    assert len(set(ids.tolist())) == len(ids) and (ids >= 0).all()
    return ids


def _run(tracker: OnlineTracker, video: np.ndarray) -> tuple[Tracks, list[Tracks]]:
    parts = [tracker.push(f) for f in video]
    parts.append(tracker.flush())
    return Tracks.concat(parts), parts


def _columns(tracks: Tracks, ids: np.ndarray) -> np.ndarray:
    col = {int(i): j for j, i in enumerate(tracks.ids)}
    return np.array([col[int(i)] for i in ids])


def _defined(q_t: np.ndarray, T: int) -> np.ndarray:
    return np.arange(T)[:, None] >= np.asarray(q_t, int)[None, :]


def _check_tracks_consistent(tr: Tracks, threshold: float = 0.6) -> None:
    F_, K = len(tr.frames), len(tr.ids)
    assert tr.xy.shape == (F_, K, 2) and tr.visible.shape == tr.visibility.shape == tr.confidence.shape == (F_, K)
    assert tr.visible.dtype == bool
    np.testing.assert_array_equal(tr.visible, tr.visibility * tr.confidence > threshold)


# --------------------------------------------------------------------------- 1. acceptance
def test_replays_reference_online_fixture(seeded_weights, fixture_npz):
    fx = fixture_npz
    meta = json.loads(str(fx["meta"]))
    frames, queries = fx["frames"], fx["queries"][0]
    T, H, W = frames.shape[:3]
    assert (H, W) == (meta["H"], meta["W"]) == (192, 256)

    tracker = OnlineTracker.load(seeded_weights("online", meta["seed"]), image_size=(H, W),
                                 context_points=False, iters=meta["iters"])
    assert tracker.window_len == 16 and tracker.step == 8
    ids = _add_grouped(tracker, queries)
    out, parts = _run(tracker, frames)

    np.testing.assert_array_equal(out.frames, np.arange(T))
    assert sorted(out.ids.tolist()) == sorted(ids.tolist())
    cols = _columns(out, ids)
    xy, vis, conf = out.xy[:, cols], out.visibility[:, cols], out.confidence[:, cols]
    mask = _defined(queries[:, 0], T)
    assert (~mask).any() and mask.any()
    assert np.isnan(xy[~mask]).all(), "xy must be NaN before each query frame"
    assert np.isfinite(xy[mask]).all()
    coord_err = np.abs(xy - fx["online_coords"])[mask].max()
    vis_err = np.abs(vis - fx["online_vis"])[mask].max()
    conf_err = np.abs(conf - fx["online_conf"])[mask].max()
    print(f"online runtime vs reference: coords {coord_err:.2e} px, vis {vis_err:.2e}, conf {conf_err:.2e}")
    assert coord_err <= COORD_TOL
    assert vis_err <= PROB_TOL
    assert conf_err <= PROB_TOL
    _check_tracks_consistent(out)
    assert not out.visible[:, cols][~mask].any()
    # the schedule of the published model: windows complete at frames 15, 23, 31, 39
    assert [len(p) for p in parts[:-1]] == [8 if t in (15, 23, 31, 39) else 0 for t in range(T)]
    assert parts[-1].frames.tolist() == list(range(32, 40))
    # the reference's tracks really move: a runtime that returned the queries would fail
    assert np.abs(fx["online_coords"] - queries[None, :, 1:])[mask].max() > 10 * COORD_TOL


# --------------------------------------------------------------------------- 2. equals model.track
QUERIES_21 = np.array(
    [[0, 5.0, 6.0], [0, 47.0, 31.0], [3, 20.5, 10.25], [3, 0.0, 0.0], [12, 40.0, 25.0], [12, 11.0, 3.5],
     [20, 10.0, 30.0]], np.float32,
)


@pytest.mark.parametrize("iters", [1, 2])
def test_matches_model_track_online(model, iters):
    video = _video(21, 32, 48)
    c_ref, v_ref, f_ref = _track(model, video, QUERIES_21, iters)
    # the tracks really move, so returning the query positions would fail
    assert np.abs(c_ref - QUERIES_21[None, :, 1:]).max() > 1.0

    tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=iters)
    ids = _add_grouped(tracker, QUERIES_21)
    out, _ = _run(tracker, video)
    np.testing.assert_array_equal(out.frames, np.arange(21))
    cols = _columns(out, ids)
    mask = _defined(QUERIES_21[:, 0], 21)
    xy = out.xy[:, cols]
    assert np.isnan(xy[~mask]).all() and np.isfinite(xy[mask]).all()
    assert np.abs(xy - c_ref)[mask].max() <= 1e-4
    assert np.abs(out.visibility[:, cols] - v_ref)[mask].max() <= 1e-5
    assert np.abs(out.confidence[:, cols] - f_ref)[mask].max() <= 1e-5
    assert (out.visibility[:, cols][~mask] == 0).all() and (out.confidence[:, cols][~mask] == 0).all()
    _check_tracks_consistent(out)


def test_resizes_and_maps_back_like_the_reference_predictor(model):
    """Frames of another size: same as model.track on the corner-aligned bilinear resize with
    queries scaled by (model - 1) / (caller - 1), mapped back by the inverse scale."""
    video = _video(13, 40, 60, seed=3)
    q = np.array([[0, 0.0, 0.0], [0, 59.0, 39.0], [2, 30.5, 17.25], [9, 12.0, 33.0]], np.float32)
    scale = np.array([47 / 59, 31 / 39], np.float32)
    small = F.interpolate(torch.from_numpy(video).permute(0, 3, 1, 2).float(), size=(32, 48), mode="bilinear",
                          align_corners=True)
    q_model = q.copy()
    q_model[:, 1:] *= scale
    with torch.no_grad():
        c_ref, v_ref, _ = model.track(small[None], torch.from_numpy(q_model)[None], iters=1, mode="online")
    c_ref = c_ref[0].numpy() / scale

    tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1)
    ids = _add_grouped(tracker, q)
    out, _ = _run(tracker, video)
    cols = _columns(out, ids)
    mask = _defined(q[:, 0], 13)
    assert np.abs(out.xy[:, cols] - c_ref)[mask].max() <= 1e-3
    assert np.abs(out.visibility[:, cols] - v_ref[0].numpy())[mask].max() <= 1e-4


# --------------------------------------------------------------------------- 3. emission schedule
def test_published_emission_schedule(model):
    T = 23
    video = _video(T, 40, 60, seed=1)
    tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1)
    ids = tracker.add_queries([[10.0, 10.0], [50.0, 30.0]])
    seen = []
    for t, frame in enumerate(video):
        out = tracker.push(frame)
        assert tracker.frames_seen == t + 1
        if t >= S - 1 and (t - (S - 1)) % STEP == 0:  # a window ends here: its first STEP frames are final
            first = t - (S - 1)
            np.testing.assert_array_equal(out.frames, np.arange(first, first + STEP))
        else:
            assert len(out) == 0, f"push of frame {t} returned frames {out.frames} though no window completed"
        np.testing.assert_array_equal(out.ids, ids)
        _check_tracks_consistent(out)
        seen += out.frames.tolist()
    assert seen[:4] == [0, 1, 2, 3] and seen[-1] == 15
    rest = tracker.flush()
    np.testing.assert_array_equal(rest.frames, np.arange(16, T))
    assert np.isfinite(rest.xy).all()
    seen += rest.frames.tolist()
    assert seen == list(range(T))

    # flush reset the stream: no points, the next push is frame 0 again
    assert tracker.frames_seen == 0 and tracker.state_size()["points"] == 0
    assert len(tracker.flush()) == 0


def test_flush_of_fresh_and_short_streams(model):
    tracker = OnlineTracker.load(model, image_size=(32, 32), context_points=False, iters=1)
    empty = tracker.flush()
    assert isinstance(empty, Tracks) and len(empty) == 0 and empty.xy.shape[0] == 0

    # shorter than one window: nothing until flush, which returns every frame (padded window)
    video = _video(5, 32, 32, seed=2)
    q = np.array([[0, 3.0, 4.0], [2, 20.0, 9.0]], np.float32)
    ids = _add_grouped(tracker, q)
    parts = [tracker.push(f) for f in video]
    assert all(len(p) == 0 for p in parts)
    out = tracker.flush()
    np.testing.assert_array_equal(out.frames, np.arange(5))
    c_ref, _, _ = _track(model, video, q, 1)
    cols = _columns(out, ids)
    mask = _defined(q[:, 0], 5)
    assert np.abs(out.xy[:, cols] - c_ref)[mask].max() <= 1e-4


# --------------------------------------------------------------------------- 4. low latency
# --------------------------------------------------------------------------- 4. low latency
def _low_latency_reference(model: CoTracker3, video: np.ndarray, queries: np.ndarray, iters: int):
    """Low-latency mode from the model's pieces: (T, N, 2) coords, vis and conf probabilities."""
    T, N = len(video), len(queries)
    q_t = torch.from_numpy(queries[:, 0].astype(np.int64))
    q_xy = torch.from_numpy(queries[:, 1:].astype(np.float32))
    with torch.no_grad():
        pyr = model.pyramid(model.encode(torch.from_numpy(video).permute(0, 3, 1, 2).float()[None]))
        qfeat = model.query_features(pyr, q_t[None], q_xy[None])
        out_c, out_v, out_f = torch.zeros(T, N, 2), torch.zeros(T, N), torch.zeros(T, N)
        prev = None
        for t in range(T):
            start = max(0, t - S + 1)
            idx = torch.arange(start, start + S).clamp(max=t)
            coords = q_xy[None].expand(S, N, 2).clone()
            vis, conf = torch.zeros(S, N), torch.zeros(S, N)
            if prev is not None:
                p_start, p_c, p_v, p_f = prev
                rows = torch.arange(start, start + S).clamp(max=t - 1) - p_start
                carry = q_t < t
                coords[:, carry] = p_c[rows][:, carry]
                vis[:, carry], conf[:, carry] = p_v[rows][:, carry], p_f[rows][:, carry]
            active = (q_t <= t).float()[:, None, None, None, None]
            c, v, f = model.window_step([lvl[:, idx] for lvl in pyr], coords[None], vis[None], conf[None],
                                        qfeat * active[None], iters)
            prev = (start, c[-1][0], v[-1][0], f[-1][0])
            out_c[t], out_v[t], out_f[t] = c[-1][0, t - start], v[-1][0, t - start], f[-1][0, t - start]
    return out_c.numpy(), torch.sigmoid(out_v).numpy(), torch.sigmoid(out_f).numpy()


def test_low_latency_returns_each_frame_at_once(model):
    T = 14
    video = _video(T, 32, 48, seed=4)
    q = np.array([[0, 8.0, 8.0], [0, 40.0, 20.0], [5, 20.0, 15.0]], np.float32)

    fast = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1, low_latency=True)
    ids = _add_grouped(fast, q)
    parts = []
    for t, frame in enumerate(video):
        out = fast.push(frame)
        np.testing.assert_array_equal(out.frames, [t])
        parts.append(out)
    assert len(fast.flush()) == 0  # nothing left: every frame was already returned
    low = Tracks.concat(parts)

    published = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1)
    _add_grouped(published, q)
    pub, _ = _run(published, video)

    cols = _columns(low, ids)
    mask = _defined(q[:, 0], T)
    xy_low, xy_pub = low.xy[:, cols], pub.xy[:, _columns(pub, ids)]
    assert np.isnan(xy_low[~mask]).all() and np.isfinite(xy_low[mask]).all()
    assert np.isfinite(low.visibility).all() and np.isfinite(low.confidence).all()
    assert np.abs(xy_low - xy_pub)[mask].max() > 1e-3, "low-latency is a different schedule"

    # the documented schedule, written out on the model's pieces: at frame t the window of the
    # last S frames (frame t repeated while fewer), started from the previous window's rows
    # (its last real frame repeated) for points queried before t, from the query otherwise
    c_ref, v_ref, f_ref = _low_latency_reference(model, video, q, iters=1)
    assert np.abs(xy_low - c_ref)[mask].max() <= 1e-4
    assert np.abs(low.visibility[:, cols] - v_ref)[mask].max() <= 1e-5
    assert np.abs(low.confidence[:, cols] - f_ref)[mask].max() <= 1e-5

    # frame 0 alone: one window of frame 0 repeated, as model.track on a 1-frame clip (only
    # the frame-0 points: a point queried later takes part, inactive, and changes the others)
    first = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1, low_latency=True)
    ids0 = first.add_queries(q[:2, 1:], frame=0)
    out0 = first.push(video[0])
    c0, v0, _ = _track(model, video[:1], q[:2], 1)
    assert np.abs(out0.xy[0, _columns(out0, ids0)] - c0[0]).max() <= 1e-4
    assert np.abs(out0.visibility[0, _columns(out0, ids0)] - v0[0]).max() <= 1e-5


# --------------------------------------------------------------------------- 5. bad inputs
def test_bad_frames_are_rejected_and_the_stream_goes_on(model):
    tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1, low_latency=True)
    tracker.add_queries([[5.0, 5.0]])
    good = _video(4, 40, 60, seed=5)
    assert tracker.push(good[0]).frames.tolist() == [0]
    bad = [
        (good[1].astype(np.float32), "uint8"),
        (good[1][..., 0], "(H, W, 3)"),
        (np.concatenate([good[1], good[1][..., :1]], axis=-1), "(H, W, 3)"),
        (_video(1, 32, 48)[0], "differs"),
        (good[1].tolist(), "numpy"),
    ]
    for frame, words in bad:
        with pytest.raises(ValueError) as err:
            tracker.push(frame)
        assert words in str(err.value), (words, str(err.value))
        assert tracker.frames_seen == 1
    # the next good frame is frame 1: the bad ones did not advance the numbering
    assert tracker.push(good[1]).frames.tolist() == [1]
    assert tracker.push(good[2]).frames.tolist() == [2]


def test_bad_first_frame_does_not_fix_the_stream_size(model):
    tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1, low_latency=True)
    with pytest.raises(ValueError):
        tracker.push(np.zeros((40, 60), np.uint8))
    # the rejected frame's size was not adopted: a frame of another size starts the stream
    assert tracker.push(_video(1, 32, 32)[0]).frames.tolist() == [0]


def test_bad_queries(model):
    tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1)
    frames = _video(S + 3, 40, 60, seed=6)
    with pytest.raises(ValueError, match="shape"):
        tracker.add_queries(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        tracker.add_queries(np.zeros(2))
    with pytest.raises(ValueError, match="NaN"):
        tracker.add_queries([[1.0, np.nan]])
    with pytest.raises(ValueError, match="inf"):
        tracker.add_queries([[np.inf, 1.0]])
    for frame in (1.5, "2", True):
        with pytest.raises(ValueError, match="frame"):
            tracker.add_queries([[1.0, 1.0]], frame=frame)
    with pytest.raises(ValueError, match="buffer"):
        tracker.add_queries([[1.0, 1.0]], frame=-1)
    assert tracker.state_size()["points"] == 0, "a rejected add_queries must add nothing"

    for f in frames:
        tracker.push(f)
    n = tracker.state_size()["points"]
    # inside is [0, W-1] x [0, H-1] of the caller's frame (60 x 40)
    tracker.add_queries([[0.0, 0.0], [59.0, 39.0]])
    for xy in ([[59.01, 5.0]], [[5.0, 39.5]], [[-0.1, 5.0]], [[3.0, 3.0], [60.0, 3.0]]):
        with pytest.raises(ValueError, match="outside"):
            tracker.add_queries(xy)
    # frames 0..2 have left the 8-frame buffer; 3 is the oldest held; future frames are fine
    with pytest.raises(ValueError, match="left the buffer"):
        tracker.add_queries([[1.0, 1.0]], frame=2)
    tracker.add_queries([[1.0, 1.0]], frame=3)
    tracker.add_queries([[1.0, 1.0]], frame=np.int64(40))
    assert tracker.state_size()["points"] == n + 4

    with pytest.raises(ValueError, match="unknown"):
        tracker.remove_queries([12345])
    with pytest.raises(ValueError, match="unknown"):
        tracker.remove_queries(-1)  # context ids are not the caller's to remove
    assert tracker.state_size()["points"] == n + 4


def test_queries_outside_the_first_frame_are_dropped(model):
    """Queries added before any frame are checked when the first frame fixes the size."""
    tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1, low_latency=True)
    ok, bad = tracker.add_queries([[10.0, 10.0], [70.0, 10.0]])
    frames = _video(2, 40, 60, seed=7)
    with pytest.raises(ValueError, match="outside"):
        tracker.push(frames[0])
    out = tracker.push(frames[0])
    assert out.frames.tolist() == [0]
    assert out.ids.tolist() == [ok]
    with pytest.raises(ValueError):
        tracker.remove_queries([bad])


def test_bad_load_arguments(model, tmp_path, monkeypatch):
    monkeypatch.setattr(default_model, "WEIGHTS", tmp_path / "absent.pth")
    monkeypatch.setattr(default_model, "ONNX_DIR", tmp_path / "absent_onnx")
    with pytest.raises(ValueError, match="checkpoint"):
        OnlineTracker.load(None)
    with pytest.raises(ValueError, match="checkpoint"):
        OnlineTracker.load(None, backend="onnxruntime")
    with pytest.raises(ValueError, match="image_size"):
        OnlineTracker.load(model, image_size=(30, 32))
    with pytest.raises(ValueError, match="image_size"):
        OnlineTracker.load(model, image_size=(16, 32))  # below stride * 2^(levels-1) = 32
    with pytest.raises(ValueError, match="backend"):
        OnlineTracker.load(model, backend="nope")
    for iters in (0, 1.5, True):
        with pytest.raises(ValueError, match="iters"):
            OnlineTracker.load(model, iters=iters)
    with pytest.raises(ValueError, match="visibility_threshold"):
        OnlineTracker.load(model, visibility_threshold=1.5)


# --------------------------------------------------------------------------- 6. caller pixels
def test_static_tracks_stay_at_the_caller_query():
    model = _small_model("zero")  # every update is zero: tracks stay at their query
    frame = _video(1, 40, 60, seed=8)[0]
    q = np.array([[0, 0.0, 0.0], [0, 59.0, 39.0], [0, 17.3, 22.9], [3, 41.5, 7.75], [11, 30.0, 20.0]], np.float32)
    for low_latency in (False, True):
        tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=2,
                                     low_latency=low_latency)
        ids = _add_grouped(tracker, q)
        out, _ = _run(tracker, np.repeat(frame[None], 14, axis=0))
        np.testing.assert_array_equal(out.frames, np.arange(14))
        cols = _columns(out, ids)
        mask = _defined(q[:, 0], 14)
        xy = out.xy[:, cols]
        assert np.isnan(xy[~mask]).all()
        err = np.abs(xy - q[None, :, 1:])[mask]
        assert err.max() <= 1e-3, err.max()
        np.testing.assert_allclose(out.visibility[:, cols][mask], 0.5, atol=1e-6)
        np.testing.assert_allclose(out.confidence[:, cols][mask], 0.5, atol=1e-6)


# --------------------------------------------------------------------------- 7. query management
def test_remove_and_add_mid_stream(model):
    T = 24
    video = _video(T, 32, 48, seed=9)
    tracker = OnlineTracker.load(model, image_size=(32, 48), context_points=False, iters=1)
    a, b, c = tracker.add_queries([[5.0, 5.0], [20.0, 20.0], [40.0, 10.0]])
    parts = []
    for t in range(10):
        parts.append(tracker.push(video[t]))
    assert tracker.state_size()["points"] == 3
    tracker.remove_queries([b])
    assert tracker.state_size()["points"] == 2
    (d,) = tracker.add_queries([[30.0, 25.0]])  # queried at the next frame pushed: 10
    assert tracker.state_size()["points"] == 3
    with pytest.raises(ValueError, match="unknown"):
        tracker.remove_queries([b])  # already gone
    later = []
    for t in range(10, T):
        later.append(tracker.push(video[t]))
    later.append(tracker.flush())

    assert all(b not in p.ids.tolist() for p in later)
    assert all(set(p.ids.tolist()) == {a, c, d} for p in later if len(p))
    out = Tracks.concat(parts + later)
    np.testing.assert_array_equal(out.frames, np.arange(T))
    col = dict(zip(out.ids.tolist(), range(len(out.ids))))
    assert set(col) == {a, b, c, d}
    # b: values in the frames returned before its removal, NaN in later chunks
    nb = sum(len(p) for p in parts)
    assert nb == 4 and np.isfinite(out.xy[:nb, col[b]]).all() and np.isnan(out.xy[nb:, col[b]]).all()
    # d: NaN before frame 10, values from 10 on
    assert np.isnan(out.xy[:10, col[d]]).all() and np.isfinite(out.xy[10:, col[d]]).all()
    assert np.abs(out.xy[10, col[d]] - [30.0, 25.0]).max() < 5.0
    assert np.isfinite(out.xy[:, [col[a], col[c]]]).all()


def test_remove_everything_keeps_the_stream_running(model):
    tracker = OnlineTracker.load(model, image_size=(32, 32), context_points=False, iters=1)
    ids = tracker.add_queries([[5.0, 5.0], [20.0, 20.0]])
    video = _video(20, 32, 32, seed=10)
    for f in video[:9]:
        tracker.push(f)
    tracker.remove_queries(ids)
    assert tracker.state_size()["points"] == 0
    frames = []
    for f in video[9:]:
        out = tracker.push(f)
        assert out.ids.size == 0 and out.xy.shape[1:] == (0, 2)
        frames += out.frames.tolist()
    frames += tracker.flush().frames.tolist()
    assert frames == list(range(4, 20))


# --------------------------------------------------------------------------- 8. context points
def test_context_points_are_tracked_but_never_returned(model):
    video = _video(13, 32, 48, seed=11)
    q = np.array([[0, 10.0, 10.0], [0, 30.0, 20.0], [2, 40.0, 5.0]], np.float32)
    ctx = ContextConfig()

    tracker = OnlineTracker.load(model, image_size=(32, 48), iters=1)  # context_points=True
    ids = _add_grouped(tracker, q)
    assert tracker.state_size()["points"] == 3  # local grids wait for the frame size
    parts = [tracker.push(video[0])]
    assert tracker.state_size()["points"] == 3 + 3 * ctx.local_grid**2
    parts += [tracker.push(f) for f in video[1:S]]  # the first window runs: global grid too
    assert tracker.state_size()["points"] == 3 + 3 * ctx.local_grid**2 + ctx.global_grid**2 == 220
    assert tracker.num_points == 3
    parts += [tracker.push(f) for f in video[S:]]
    parts.append(tracker.flush())
    for p in parts:
        assert set(p.ids.tolist()) == set(ids.tolist())
    out = Tracks.concat(parts)
    np.testing.assert_array_equal(out.frames, np.arange(13))

    # the context points take part: without them the tracks differ
    plain = OnlineTracker.load(model, image_size=(32, 48), iters=1, context_points=False)
    _add_grouped(plain, q)
    out_plain, _ = _run(plain, video)
    mask = _defined(q[:, 0], 13)
    diff = np.abs(out.xy[:, _columns(out, ids)] - out_plain.xy[:, _columns(out_plain, ids)])[mask]
    assert diff.max() > 1e-3

    # an empty context configuration is the same as none
    none = OnlineTracker.load(model, image_size=(32, 48), iters=1,
                              context_points=ContextConfig(global_grid=0, local_grid=0))
    _add_grouped(none, q)
    out_none, _ = _run(none, video)
    np.testing.assert_array_equal(out_none.xy, out_plain.xy)


def test_local_grids_follow_the_user_points(model):
    ctx = ContextConfig()
    tracker = OnlineTracker.load(model, image_size=(32, 32), iters=1)
    video = _video(S + 2, 32, 32, seed=12)
    tracker.push(video[0])
    ids = tracker.add_queries([[5.0, 5.0], [20.0, 25.0]])
    assert tracker.state_size()["points"] == 2 + 2 * ctx.local_grid**2
    tracker.remove_queries(ids[:1])  # its local grid goes with it
    assert tracker.state_size()["points"] == 1 + ctx.local_grid**2
    for f in video[1:]:
        out = tracker.push(f)
        assert out.ids.tolist() == [ids[1]]
    assert tracker.state_size()["points"] == 1 + ctx.local_grid**2 + ctx.global_grid**2


def test_no_local_grids_past_the_query_limit(model):
    ctx = ContextConfig()
    assert ctx.local_max_queries == 4
    tracker = OnlineTracker.load(model, image_size=(32, 32), iters=1)
    rng = np.random.default_rng(13)
    ids = tracker.add_queries(rng.uniform(0, 31, (4, 2)))
    video = _video(S + 1, 32, 32, seed=13)
    tracker.push(video[0])
    assert tracker.state_size()["points"] == 4 + 4 * ctx.local_grid**2
    ids = np.concatenate([ids, tracker.add_queries(rng.uniform(0, 31, (1, 2)))])  # the 5th drops them all
    assert tracker.state_size()["points"] == 5
    parts = [tracker.push(f) for f in video[1:]]
    assert tracker.state_size()["points"] == 5 + ctx.global_grid**2 == 30
    assert sum(len(p) for p in parts) == STEP
    for p in parts:
        assert sorted(p.ids.tolist()) == sorted(ids.tolist())


def test_package_exports():
    assert rt_edge.OnlineTracker is OnlineTracker and rt_edge.Tracks is Tracks


def test_empty_frame_rejected_and_stream_not_locked(model):
    tr = rt_edge.OnlineTracker.load(model, image_size=(32, 32), iters=1, context_points=False)
    with pytest.raises(ValueError, match="at least 2x2"):
        tr.push(np.zeros((0, 40, 3), np.uint8))
    tr.push(np.zeros((40, 40, 3), np.uint8))  # the stream's size is set by the first good frame
    assert tr.frames_seen == 1


def test_local_grids_not_rebuilt_for_queries_that_left_the_buffer(model):
    tr = rt_edge.OnlineTracker.load(model, image_size=(32, 32), iters=1)
    ids = tr.add_queries(np.full((5, 2), 10.0), frame=0)
    for _ in range(20):
        tr.push(np.zeros((32, 32, 3), np.uint8))
    tr.remove_queries(ids[:1])  # 4 user points left: grids would be due, but frame 0 is gone
    assert tr.state_size()["points"] == 4 + 25
