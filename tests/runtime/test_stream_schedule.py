"""The stream schedule: the model's frame_step against window_step, and OnlineTracker's per-frame semantics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rt_edge import OnlineTracker
from rt_edge.backends import load_executor
from rt_edge.session import configure_stream
from rt_edge.model import CoTracker3

from ..conftest import SMALL, lively_small_model

H, W = 32, 48


@pytest.fixture(scope="module")
def model() -> CoTracker3:
    return lively_small_model(vis_conf_bias=0.2)


def _window(model, S: int, N: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    video = torch.rand(1, S, 3, H, W, generator=g) * 255
    pyramid = model.pyramid(model.encode(video))
    xy = torch.rand(1, N, 2, generator=g) * torch.tensor([W - 1.0, H - 1.0])
    qfeat = model.query_features([lvl[:, :1] for lvl in pyramid], torch.zeros(1, N, dtype=torch.long), xy)
    coords = xy[:, None] + torch.randn(1, S, N, 2, generator=g)
    vis, conf = torch.randn(1, S, N, generator=g), torch.randn(1, S, N, generator=g)
    return pyramid, coords, vis, conf, qfeat


@torch.no_grad()
@pytest.mark.parametrize("R", [1, 3])
def test_one_frame_step_is_the_last_rows_of_a_window_step(model, R):
    """With one iteration, refining the newest R frames gives exactly window_step's last R rows when every
    other frame's embedding is taken at its position (the trimmed last transformer block included)."""
    S, N = SMALL.window_len, 5
    pyramid, coords, vis, conf, qfeat = _window(model, S, N)
    c_w, v_w, f_w = model.window_step(pyramid, coords, vis, conf, qfeat, 1)
    past = model.corr_embedding([lvl[:, :-1] for lvl in pyramid], coords[:, :-1] / SMALL.stride, qfeat)
    c, v, f, hist = model.frame_step([lvl[:, -R:] for lvl in pyramid], past, coords, vis, conf, qfeat,
                                     torch.zeros(1, N, dtype=torch.bool), 1)
    assert c[0].shape == (1, R, N, 2) and v[0].shape == (1, R, N) and hist.shape == past.shape
    torch.testing.assert_close(c[0], c_w[0][:, -R:], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(v[0], v_w[0][:, -R:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(f[0], f_w[0][:, -R:], rtol=1e-5, atol=1e-5)
    assert (c[0] - coords[:, -R:]).abs().amin(dim=(0, 2, 3)).min() > 1e-3, "the step must move every zone frame"
    # history: rolled by one, the zone's embeddings at their refined positions last
    torch.testing.assert_close(hist[:, :S - 1 - R], past[:, 1:S - R])
    final = model.corr_embedding([lvl[:, -R:] for lvl in pyramid], c[-1] / SMALL.stride, qfeat)
    torch.testing.assert_close(hist[:, S - 1 - R:], final)


@torch.no_grad()
def test_fresh_points_see_a_history_at_rest(model):
    """A point without history takes its newest-frame embedding in every earlier row; others keep theirs."""
    S, N = SMALL.window_len, 4
    pyramid, coords, vis, conf, qfeat = _window(model, S, N, seed=1)
    fresh = torch.tensor([[True, False, True, False]])
    past = torch.randn(1, S - 1, N, SMALL.corr_levels * SMALL.corr_dim)
    c, _, _, hist = model.frame_step([lvl[:, -1:] for lvl in pyramid], past, coords, vis, conf, qfeat, fresh, 2)
    torch.testing.assert_close(hist[:, :, 1], torch.cat([past[:, 1:, 1], hist[:, -1:, 1]], 1))
    for j in (0, 2):
        assert torch.equal(hist[:, :, j], hist[:, -1:, j].expand(1, S - 1, -1))
    assert not torch.equal(hist[:, 0, 1], hist[:, -1, 1])


def _former_with_row_override(former, tokens, last, old, inputs=None):
    """UpdateFormer's forward written out block by block, untrimmed until the end: with `inputs` (every time
    block's input from an earlier call), the first `old` rows of each time block's input are replaced by that
    call's. Returns the last `last` rows' updates and this call's time-block inputs."""
    x = former.input_transform(tokens)
    B, N, T, D = x.shape
    V = former.virual_tracks.shape[1]
    x = torch.cat([x, former.virual_tracks.expand(B, V, T, D)], dim=1)
    seen, j = [], 0
    for i, block in enumerate(former.time_blocks):
        if inputs is not None:
            x = torch.cat([inputs[i][:, :, :old], x[:, :, old:]], dim=2)
        seen.append(x)
        x = block(x.reshape(B * (N + V), T, D)).reshape(B, N + V, T, D)
        if former.space_every and i % former.space_every == 0:
            s = x.transpose(1, 2).reshape(B * T, N + V, D)
            virtual = former.space_virtual_blocks[j](former.space_virtual2point_blocks[j](s[:, N:], s[:, :N]))
            points = former.space_point2virtual_blocks[j](s[:, :N], virtual)
            x = torch.cat([points, virtual], dim=1).reshape(B, T, N + V, D).transpose(1, 2)
            j += 1
    x = x[:, :N, -last:]
    return torch.cat([former.flow_head(x), former.vis_conf_head(x)], dim=-1), seen


@torch.no_grad()
def test_later_passes_take_the_older_rows_from_the_first_pass():
    """UpdateFormer.run over the newest rows with an earlier run's keys and values equals the whole window
    with every time block's older rows held at the earlier run's (float64, two time blocks, so the older rows
    do go stale), and not the whole window recomputed."""
    from dataclasses import replace

    torch.manual_seed(0)
    cfg = replace(SMALL, time_depth=2, space_depth=2)
    former = CoTracker3(cfg).updateformer.double().eval()
    for head in (former.flow_head, former.vis_conf_head):
        head.weight.normal_(0, 0.5)
    S, N, R, rows = cfg.window_len, 5, 2, 3
    first = torch.randn(1, N, S, cfg.input_dim, dtype=torch.float64)
    second = torch.cat([first[:, :, :S - rows], torch.randn(1, N, rows, cfg.input_dim, dtype=torch.float64)], 2)
    out1, kv = former.run(first, last=R, keep=True)
    assert len(kv) == cfg.time_depth and kv[0][0].shape[2] == S
    want1, inputs = _former_with_row_override(former, first, R, 0)
    torch.testing.assert_close(out1, want1)
    out2, _ = former.run(second[:, :, -rows:], last=R, earlier=kv)
    want2, _ = _former_with_row_override(former, second, R, S - rows, inputs)
    torch.testing.assert_close(out2, want2)
    full = former(second, last=R)
    assert (out2 - full).abs().max() > 1e-6, "the older rows' second block input is stale: results must differ"


@torch.no_grad()
def test_reuse_is_exact_with_one_time_block(model):
    """With one time block the older rows' keys and values never change between passes, so reusing them
    must reproduce the whole-window passes (R + 1 rows recomputed: the frame before the zone sees new motion)."""
    from dataclasses import replace

    S, N, R = SMALL.window_len, 5, 2
    pyramid, coords, vis, conf, qfeat = _window(model, S, N, seed=2)
    past = model.corr_embedding([lvl[:, :-1] for lvl in pyramid], coords[:, :-1] / SMALL.stride, qfeat)
    zone, fresh = [lvl[:, -R:] for lvl in pyramid], torch.zeros(1, N, dtype=torch.bool)
    outs = {}
    for reuse in (False, True):
        model.cfg = replace(SMALL, stream_reuse=reuse)
        try:
            outs[reuse] = model.frame_step(zone, past, coords, vis, conf, qfeat, fresh, 3)
        finally:
            model.cfg = SMALL
    for a, b in zip(outs[False][:3], outs[True][:3]):
        for x, y in zip(a, b):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(outs[False][3], outs[True][3], rtol=1e-5, atol=1e-4)
    assert (outs[True][0][-1] - outs[True][0][0]).abs().max() > 1e-3, "later passes must move the zone"


def _video(T: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (T, H, W, 3), dtype=np.uint8)


def _stream(model, **kw) -> OnlineTracker:
    return OnlineTracker.load(model, image_size=(H, W), iters=1, context_points=False, schedule="stream", **kw)


class _Spy:
    """An executor that records what the session hands frame_step."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def frame_step(self, frame, history, cols, coords, vis, conf, qf):
        self.calls.append((cols.copy(), coords.copy()))
        return self.inner.frame_step(frame, history, cols, coords, vis, conf, qf)


def test_push_returns_its_own_frame_and_flush_nothing(model):
    tr = _stream(model)
    ids = tr.add_queries(np.array([[5.0, 6.0], [20.0, 10.0]]), frame=0)
    video = _video(20)
    for t, f in enumerate(video):
        out = tr.push(f)
        np.testing.assert_array_equal(out.frames, [t])
        np.testing.assert_array_equal(out.ids, ids)
        assert np.isfinite(out.xy).all()
    assert len(tr.flush()) == 0


@pytest.mark.parametrize("R", [1, 3])
def test_matches_a_plain_loop_over_frame_step(model, R):
    """The session's bookkeeping against a direct loop over the model pieces (last-position start), refining
    the newest R frames per push."""
    S = SMALL.window_len
    video = _video(S + 6, seed=3)
    xy = np.array([[5.0, 6.0], [30.0, 20.0], [12.0, 25.0]], np.float32)
    ex = load_executor(model, "torch", image_size=(H, W), iters=1)
    configure_stream(ex, iters=2, refine=R)
    tr = OnlineTracker(ex, context_points=False, schedule="stream", stream_init="last")
    tr.add_queries(xy, frame=0)
    got = np.concatenate([tr.push(f).xy for f in video])
    with torch.no_grad():
        frames = [ex.encode(f.astype(np.float32)) for f in video]
        qf = ex.query_features(frames[0], xy)
        N = len(xy)
        coords, vis, conf = np.repeat(xy[None], S, 0), np.zeros((S, N), np.float32), np.zeros((S, N), np.float32)
        past = torch.zeros(1, S - 1, N, SMALL.corr_levels * SMALL.corr_dim)
        want = []
        for t in range(len(frames)):
            zone = [frames[max(0, u)] for u in range(t - R + 1, t + 1)]
            levels = [torch.stack([fr[lvl] for fr in zone])[None] for lvl in range(SMALL.corr_levels)]
            c, v, f, hist = model.frame_step(levels, past, torch.from_numpy(coords)[None],
                                             torch.from_numpy(vis)[None], torch.from_numpy(conf)[None], qf[None],
                                             torch.full((1, N), t == 0), 2)
            c, v, f = c[-1][0].numpy(), v[-1][0].numpy(), f[-1][0].numpy()  # (R, N, ...)
            want.append(c[-1])
            coords[-R:], vis[-R:], conf[-R:] = c, v, f
            if t == 0:
                coords[:], vis[:], conf[:] = c[-1], v[-1], f[-1]
            coords = np.concatenate([coords[1:], coords[-1:]])
            vis = np.concatenate([vis[1:], vis[-1:]])
            conf = np.concatenate([conf[1:], conf[-1:]])
            past = hist
    np.testing.assert_allclose(got, np.stack(want), atol=1e-4)
    if R > 1:  # refining earlier frames must change what later pushes return
        configure_stream(ex, refine=1)
        one = OnlineTracker(ex, context_points=False, schedule="stream", stream_init="last")
        one.add_queries(xy, frame=0)
        assert np.abs(np.concatenate([one.push(f).xy for f in video]) - got).max() > 1e-3


def test_added_point_reported_from_its_frame_starting_at_its_query(model):
    spy = _Spy(load_executor(model, "torch", image_size=(H, W), iters=1))
    tr = OnlineTracker(spy, context_points=False, schedule="stream")
    first = tr.add_queries(np.array([[5.0, 6.0]]), frame=0)
    video = _video(14, seed=4)
    for f in video[:6]:
        tr.push(f)
    late = tr.add_queries(np.array([[30.0, 20.0]]))  # on frame 6
    out = tr.push(video[6])
    np.testing.assert_array_equal(out.ids, [first[0], late[0]])
    assert np.isfinite(out.xy).all()
    cols, coords = spy.calls[-1]
    assert cols[1] == -1 and cols[0] == 0  # the new point has no history, the old one keeps its column
    np.testing.assert_allclose(coords[:, 1], np.broadcast_to([30.0, 20.0], coords[:, 1].shape))
    # a point queried for a later frame is NaN until then and tracked from it
    future = tr.add_queries(np.array([[10.0, 10.0]]), frame=9)
    for t in range(7, 12):
        out = tr.push(video[t])
        col = list(out.ids).index(future[0])
        assert np.isnan(out.xy[0, col]).all() == (t < 9)
    tr.remove_queries(first)
    for t in range(12, 14):
        out = tr.push(video[t])
        assert first[0] not in out.ids


def test_bad_frame_changes_nothing(model):
    video = _video(10, seed=5)
    a, b = _stream(model), _stream(model)
    for tr in (a, b):
        tr.add_queries(np.array([[5.0, 6.0], [20.0, 10.0]]), frame=0)
    for t, f in enumerate(video):
        if t == 4:
            with pytest.raises(ValueError):
                a.push(f[:-2])  # wrong size
            with pytest.raises(ValueError):
                a.push(f.astype(np.float32))
        np.testing.assert_array_equal(a.push(f).xy, b.push(f).xy)


def test_schedule_arguments(model):
    with pytest.raises(ValueError, match="schedule must be one of"):
        OnlineTracker.load(model, image_size=(H, W), schedule="fast")
    with pytest.raises(ValueError, match="contradicts"):
        OnlineTracker.load(model, image_size=(H, W), schedule="stream", low_latency=True)
    assert OnlineTracker.load(model, image_size=(H, W), low_latency=True).schedule == "window-per-frame"
    with pytest.raises(ValueError, match="stream_iters"):
        OnlineTracker.load(model, image_size=(H, W), schedule="stream", stream_iters=0)
    two = _stream(model, stream_iters=2)
    one = _stream(model, stream_iters=1)
    video = _video(3, seed=6)
    for tr in (one, two):
        tr.add_queries(np.array([[5.0, 6.0]]), frame=0)
    outs = [[tr.push(f).xy for f in video] for tr in (one, two)]
    assert np.abs(outs[0][-1] - outs[1][-1]).max() > 1e-4, "stream_iters must change the refinement"


def test_configure_stream_refuses_bad_settings(model):
    ex = load_executor(model, "torch", image_size=(H, W), iters=1)
    for kw, match in (({"refine": 0}, "stream_refine must be a positive int"),
                      ({"refine": SMALL.window_len}, "below the window length"),
                      ({"iters": 1.5}, "stream_iters must be a positive int"),
                      ({"iters": True}, "stream_iters must be a positive int")):
        with pytest.raises(ValueError, match=match):
            configure_stream(ex, **kw)
    assert (ex.stream_iters, ex.stream_refine) == (SMALL.stream_iters, SMALL.stream_refine)  # nothing changed
    configure_stream(ex, refine=SMALL.window_len - 1)  # the whole window but its oldest frame
    out = _stream(model, stream_refine=SMALL.window_len - 1)
    out.add_queries(np.array([[5.0, 6.0]]), frame=0)
    assert all(np.isfinite(out.push(f).xy).all() for f in _video(SMALL.window_len + 2))


def test_stream_has_its_own_visibility_threshold(model):
    """The stream schedule's default threshold is its own; an explicit one wins in every schedule."""
    from rt_edge.session import VISIBILITY_THRESHOLDS

    assert VISIBILITY_THRESHOLDS["stream"] != VISIBILITY_THRESHOLDS["published"]
    video = _video(6, seed=6)
    runs = {}
    for th in (None, 0.0, 1.0):
        tr = _stream(model, visibility_threshold=th)
        assert tr.visibility_threshold == (VISIBILITY_THRESHOLDS["stream"] if th is None else th)
        tr.add_queries(np.array([[5.0, 6.0], [20.0, 10.0]]), frame=0)
        runs[th] = [tr.push(f) for f in video]
    for default, none, every in zip(runs[None], runs[1.0], runs[0.0]):
        p = default.visibility * default.confidence
        np.testing.assert_array_equal(default.visible, p > VISIBILITY_THRESHOLDS["stream"])
        assert not none.visible.any() and every.visible.all()
