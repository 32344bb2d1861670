"""Input validation of CoTracker3.track and the shape / schedule contract of its outputs."""

from __future__ import annotations

import math

import pytest
import torch

from rt_edge.model import CoTracker3, WindowPrediction, window_starts


@pytest.fixture(scope="module")
def model() -> CoTracker3:
    torch.manual_seed(0)
    return CoTracker3().eval()


def _video(T=3, H=32, W=32, B=1, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, T, 3, H, W, generator=g) * 255).to(dtype)


def _queries(rows, B=1):
    return torch.tensor([rows] * B, dtype=torch.float32)


QUERIES = [[0.0, 5.0, 6.0], [1.0, 20.0, 10.0]]


def _raises(model, video, queries, *expected, **kw):
    with torch.no_grad(), pytest.raises(ValueError) as err:
        model.track(video, queries, **{"iters": 1, **kw})
    msg = str(err.value)
    for e in expected:
        assert e in msg, f"{e!r} not in {msg!r}"
    return msg


# --------------------------------------------------------------------------- bad inputs
def test_baseline_inputs_are_accepted(model):
    # the bad-input tests below change one thing each from this valid call
    with torch.no_grad():
        coords, vis, conf = model.track(_video(), _queries(QUERIES), iters=1)
    assert coords.shape == (1, 3, 2, 2)


@pytest.mark.parametrize("H, W, bad", [(30, 32, "30"), (32, 46, "46"), (34, 30, "34")])
def test_size_not_multiple_of_stride(model, H, W, bad):
    msg = _raises(model, _video(H=H, W=W), _queries(QUERIES), bad)
    assert "4" in msg  # names the stride too


@pytest.mark.parametrize(
    "queries, bad",
    [
        (torch.zeros(1, 2, 2), "(1, 2, 2)"),  # rows of 2 instead of 3
        (torch.zeros(2, 3), "(2, 3)"),  # no batch dim
        (torch.zeros(1, 2, 4), "(1, 2, 4)"),
        (torch.zeros(2, 2, 3), "(2, 2, 3)"),  # batch 2 for a batch-1 video
    ],
)
def test_queries_of_wrong_shape(model, queries, bad):
    _raises(model, _video(), queries, bad)


def test_queries_not_a_tensor(model):
    _raises(model, _video(), QUERIES, "list")


def test_empty_queries(model):
    _raises(model, _video(), torch.zeros(1, 0, 3), "N=0")


@pytest.mark.parametrize("t, bad", [(3.0, "3"), (7.0, "7"), (-1.0, "-1"), (2.5, "2.5")])
def test_query_frame_outside_video(model, t, bad):
    msg = _raises(model, _video(T=3), _queries([[0.0, 5.0, 6.0], [t, 1.0, 2.0]]), bad)
    assert "0..2" in msg  # the valid range


@pytest.mark.parametrize("col", [0, 1, 2])
def test_nan_coordinates(model, col):
    q = _queries(QUERIES)
    q[0, 1, col] = math.nan
    _raises(model, _video(), q, "NaN")


def test_inf_coordinates(model):
    q = _queries(QUERIES)
    q[0, 0, 1] = math.inf
    _raises(model, _video(), q, "inf")


@pytest.mark.parametrize("mode", ["bogus", "Online", ""])
def test_bad_mode(model, mode):
    _raises(model, _video(), _queries(QUERIES), repr(mode), mode=mode)


@pytest.mark.parametrize("iters, bad", [(0, "0"), (-2, "-2"), (1.0, "1.0")])
def test_bad_iters(model, iters, bad):
    _raises(model, _video(), _queries(QUERIES), bad, iters=iters)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
def test_non_float_video(model, dtype):
    _raises(model, _video(dtype=dtype), _queries(QUERIES), str(dtype).removeprefix("torch."))


@pytest.mark.parametrize("shape", [(3, 3, 32, 32), (1, 3, 1, 32, 32), (1, 3, 4, 32, 32)])
def test_video_of_wrong_shape(model, shape):
    _raises(model, torch.zeros(shape), _queries(QUERIES), str(shape))


# --------------------------------------------------------------------------- outputs
@pytest.fixture(scope="module")
def small_case():
    video = _video(T=5, H=32, W=48, seed=1)
    queries = _queries([[0.0, 4.0, 4.0], [2.0, 30.0, 12.0], [4.0, 40.0, 28.0]])
    return video, queries


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_output_shapes_and_ranges(model, small_case, mode):
    video, queries = small_case
    with torch.no_grad():
        coords, vis, conf = model.track(video, queries, iters=1, mode=mode)
    assert coords.shape == (1, 5, 3, 2)
    assert vis.shape == (1, 5, 3) and conf.shape == (1, 5, 3)
    for x in (coords, vis, conf):
        assert x.dtype == torch.float32
        assert torch.isfinite(x).all()
    assert ((vis >= 0) & (vis <= 1)).all()
    assert ((conf >= 0) & (conf <= 1)).all()


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_return_all_iters_offline_and_short_online(model, small_case, mode):
    video, queries = small_case
    with torch.no_grad():
        coords, vis, conf, windows = model.track(video, queries, iters=2, mode=mode, return_all_iters=True)
    assert len(windows) == 1 and isinstance(windows[0], WindowPrediction)
    w = windows[0]
    assert w.start == 0
    assert len(w.coords) == len(w.vis) == len(w.conf) == 2
    assert w.coords[-1].shape == (1, 5, 3, 2) and w.vis[-1].shape == (1, 5, 3)
    assert torch.equal(coords, w.coords[-1])
    # windows carry logits, the returned vis/conf are their sigmoid
    torch.testing.assert_close(vis, torch.sigmoid(w.vis[-1]), rtol=0, atol=1e-6)
    torch.testing.assert_close(conf, torch.sigmoid(w.conf[-1]), rtol=0, atol=1e-6)


def test_window_starts_schedule():
    assert window_starts(20, 16, 8) == [0, 8]
    assert window_starts(40, 16, 8) == [0, 8, 16, 24]
    assert window_starts(44, 16, 8) == [0, 8, 16, 24, 32]
    assert window_starts(5, 16, 8) == [0]
    assert window_starts(16, 16, 8) == [0]
    assert window_starts(17, 16, 8) == [0, 8]


@pytest.mark.parametrize("T", [17, 20, 24, 25, 40, 44, 100])
def test_window_starts_cover_every_frame(T):
    starts = window_starts(T, 16, 8)
    assert starts[0] == 0 and all(b - a == 8 for a, b in zip(starts, starts[1:]))
    assert starts[-1] + 16 >= T  # last window reaches the end
    assert starts[-1] + 8 < T  # and is not a redundant extra window


def test_online_windows_stitching(model):
    T, iters = 20, 2
    video = _video(T=T, seed=2)
    queries = _queries([[0.0, 8.0, 8.0], [5.0, 20.0, 12.0], [12.0, 16.0, 24.0]])
    with torch.no_grad():
        coords, vis, conf, windows = model.track(video, queries, iters=iters, mode="online", return_all_iters=True)
    starts = [w.start for w in windows]
    assert starts == window_starts(T, 16, 8) == [0, 8]
    for w in windows:
        assert len(w.coords) == len(w.vis) == len(w.conf) == iters
    assert windows[0].coords[-1].shape == (1, 16, 3, 2)
    last = windows[-1]
    assert last.coords[-1].shape == (1, min(16, T - last.start), 3, 2) == (1, 12, 3, 2)
    assert last.vis[-1].shape == (1, 12, 3) and last.conf[-1].shape == (1, 12, 3)

    w0, w8 = windows
    assert torch.equal(coords[:, :8], w0.coords[-1][:, :8])
    assert torch.equal(coords[:, 8:], w8.coords[-1])
    torch.testing.assert_close(vis[:, :8], torch.sigmoid(w0.vis[-1][:, :8]), rtol=0, atol=1e-6)
    torch.testing.assert_close(vis[:, 8:], torch.sigmoid(w8.vis[-1]), rtol=0, atol=1e-6)
    torch.testing.assert_close(conf[:, 8:], torch.sigmoid(w8.conf[-1]), rtol=0, atol=1e-6)
    # the overlap 8..15 really was rewritten by the second window
    assert not torch.equal(w0.coords[-1][:, 8:16], w8.coords[-1][:, :8])


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_deterministic(model, small_case, mode):
    video, queries = small_case
    with torch.no_grad():
        a = model.track(video, queries, iters=1, mode=mode)
        b = model.track(video, queries, iters=1, mode=mode)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_batch_of_identical_matches_single(model, small_case, mode):
    video, queries = small_case
    with torch.no_grad():
        single = model.track(video, queries, iters=1, mode=mode)
        batched = model.track(video.repeat(2, 1, 1, 1, 1), queries.repeat(2, 1, 1), iters=1, mode=mode)
    for s, b in zip(single, batched):
        assert b.shape[0] == 2
        for i in range(2):
            torch.testing.assert_close(b[i : i + 1], s, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_batch_elements_are_independent(model, small_case, mode):
    video, queries = small_case
    other_video = _video(T=5, H=32, W=48, seed=7)
    other_queries = _queries([[1.0, 10.0, 20.0], [3.0, 44.0, 4.0], [0.0, 24.0, 16.0]])
    with torch.no_grad():
        a = model.track(video, queries, iters=1, mode=mode)
        b = model.track(other_video, other_queries, iters=1, mode=mode)
        ab = model.track(torch.cat([video, other_video]), torch.cat([queries, other_queries]), iters=1, mode=mode)
    for x, y, xy in zip(a, b, ab):
        torch.testing.assert_close(xy[0:1], x, rtol=0, atol=1e-5)
        torch.testing.assert_close(xy[1:2], y, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- sizes, dtypes, iters
@pytest.mark.parametrize("H, W", [(24, 24), (16, 64), (64, 28)])
def test_too_small_for_the_pyramid(model, H, W):
    # the coarsest of 4 levels at stride 4 needs 32 input pixels per side
    _raises(model, _video(H=H, W=W), _queries([[0.0, 1.0, 1.0]]), "too small", "32")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_other_float_videos_follow_the_weights(model, dtype):
    with torch.no_grad():
        ref = model.track(_video(), _queries(QUERIES), iters=1)
        out = model.track(_video(dtype=dtype), _queries(QUERIES).to(dtype), iters=1)
    assert out[0].dtype == torch.float32
    tol = 1e-4 if dtype == torch.float64 else 0.5  # float16 input rounds the pixel values
    assert torch.allclose(out[0], ref[0], atol=tol)


def test_bool_iters_rejected(model):
    _raises(model, _video(), _queries(QUERIES), "True", iters=True)
