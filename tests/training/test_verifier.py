"""training.corruptions and training.verifier: corruption shapes and magnitudes, the verifier's forward,
target and loss, learning to prefer the clean track, select() and majority vote, the CLI, frozen encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rt_edge.model import CoTracker3
from training import checkpoints
from training.__main__ import main
from training.corruptions import CLEAN, KINDS, CorruptionConfig, corrupt, log_uniform, make_candidates
from training.synthetic import generate
from training.verifier import (
    Verifier,
    VerifierConfig,
    VerifierTrainConfig,
    from_tracker,
    load_verifier,
    majority_occluded,
    save_verifier,
    scores,
    select,
    target_distribution,
    train_verifier,
    training_example,
    verifier_loss,
)

from ..conftest import SMALL

SIZE, FRAMES = (64, 64), 12


# ---------------------------------------------------------------- corruptions


def _scene(T=40, N=30, seed=0):
    """N ground-truth tracks (N, T, 2) moving along random straight lines, random occlusion flags."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(0, 200, (N, 1, 2))
    velocity = rng.uniform(-3, 3, (N, 1, 2))
    tracks = start + velocity * np.arange(T)[None, :, None]
    return tracks, rng.random((N, T)) < 0.2


def _changed_run(changed: np.ndarray, query_t: int) -> np.ndarray:
    """Frames where `changed`; asserts they form one run reaching a clip end, away from the query frame."""
    idx = np.flatnonzero(changed)
    assert len(idx) > 0 and np.all(np.diff(idx) == 1), idx
    T = len(changed)
    assert query_t not in idx
    assert (idx[0] > query_t and idx[-1] == T - 1) or (idx[-1] < query_t and idx[0] == 0), (idx, query_t)
    return idx if idx[0] > query_t else idx[::-1]  # ordered away from the query


@pytest.mark.parametrize("kind", ["drift", "jump", "frozen", "lost", "switch", "occlusion"])
def test_each_corruption_has_its_shape_and_size(kind):
    tracks, occ = _scene()
    n, q = 3, 17
    for trial in range(20):
        rng = np.random.default_rng([trial, 1])
        a = 12.5
        xy, flags = corrupt(rng, kind, tracks[n], occ[n], q, a, np.delete(tracks, n, 0), np.delete(occ, n, 0))
        offset = xy - tracks[n]
        moved = np.linalg.norm(offset, axis=-1) > 1e-9
        if kind == "occlusion":
            assert not moved.any()  # positions untouched
            flipped = flags != occ[n]
            idx = np.flatnonzero(flipped)
            assert len(idx) > 0 and np.all(np.diff(idx) == 1) and q not in idx
            continue
        np.testing.assert_array_equal(flags[~moved], occ[n][~moved])
        seg = _changed_run(moved, q)
        if kind == "lost":  # frozen as below, and flagged occluded over the whole run
            assert flags[seg].all() and not occ[n][seg].all()  # flags changed, not already set
        if kind == "drift":  # grows linearly to `a` at the far end, one direction
            np.testing.assert_allclose(np.linalg.norm(offset[seg], axis=-1), a * np.arange(1, len(seg) + 1) / len(seg))
            unit = offset[seg] / np.linalg.norm(offset[seg], axis=-1, keepdims=True)
            np.testing.assert_allclose(unit, np.broadcast_to(unit[0], unit.shape), atol=1e-12)
        elif kind == "jump":
            np.testing.assert_allclose(offset[seg], np.broadcast_to(offset[seg[0]], offset[seg].shape))
            assert np.linalg.norm(offset[seg[0]]) == pytest.approx(a)
        if kind in ("frozen", "lost"):  # stuck at the last good frame, the neighbour of the run on the query side
            good = seg[0] - 1 if seg[0] > q else seg[0] + 1
            np.testing.assert_array_equal(xy[seg], np.broadcast_to(tracks[n, good], xy[seg].shape))
        elif kind == "switch":  # another point's positions and flags, the one whose distance at onset is nearest a
            others = [k for k in range(len(tracks)) if k != n]
            match = [k for k in others if np.array_equal(xy[seg], tracks[k, seg])]
            assert len(match) == 1
            np.testing.assert_array_equal(flags[seg], occ[match[0], seg])
            dist = {k: np.hypot(*(tracks[k, seg[0]] - tracks[n, seg[0]])) for k in others}
            assert abs(dist[match[0]] - a) == pytest.approx(min(abs(d - a) for d in dist.values()))


def test_jitter_has_rms_magnitude_and_zero_mean():
    tracks, occ = _scene(T=60)
    a, pooled = 7.0, []
    for trial in range(150):
        rng = np.random.default_rng([trial, 2])
        xy, flags = corrupt(rng, "jitter", tracks[0], occ[0], 0, a)
        offset = xy - tracks[0]
        seg = _changed_run(np.linalg.norm(offset, axis=-1) > 0, 0)
        np.testing.assert_array_equal(flags, occ[0])
        pooled.append(offset[seg])
    pooled = np.concatenate(pooled)
    assert len(pooled) > 2000
    assert np.sqrt((pooled**2).sum(-1).mean()) == pytest.approx(a, rel=0.05)
    assert np.abs(pooled.mean(0)).max() < 0.05 * a


def test_magnitudes_are_log_uniform():
    rng = np.random.default_rng(3)
    v = np.array([log_uniform(rng, 1.0, 128.0) for _ in range(4000)])
    assert v.min() >= 1.0 and v.max() <= 128.0
    u = np.log(v) / np.log(128.0)  # uniform on [0, 1] if log-uniform
    np.testing.assert_allclose(np.quantile(u, [0.1, 0.25, 0.5, 0.75, 0.9]), [0.1, 0.25, 0.5, 0.75, 0.9], atol=0.03)


def test_candidates_deterministic_selectable_and_clean():
    tracks, occ = _scene(T=20, N=12)
    q = np.arange(12) % 20
    cfg = CorruptionConfig(kinds=("jump",), clean_prob=1.0, combine_prob=0.0, noise_px=0.0, magnitude=(2.0, 64.0))
    a = make_candidates(np.random.default_rng(5), tracks, occ, q, 5, cfg)
    b = make_candidates(np.random.default_rng(5), tracks, occ, q, 5, cfg)
    c = make_candidates(np.random.default_rng(6), tracks, occ, q, 5, cfg)
    np.testing.assert_array_equal(a.tracks, b.tracks)
    assert not np.array_equal(a.tracks, c.tracks)
    assert a.tracks.shape == (5, 12, 20, 2) and a.occluded.shape == (5, 12, 20) and a.kinds.shape == (5, 12)
    assert (a.clean >= 0).all()
    for n in range(12):
        for m in range(5):
            off = a.tracks[m, n].astype(np.float64) - tracks[n]
            np.testing.assert_allclose(off[q[n]], 0, atol=1e-4)  # every candidate starts at the query
            if m == a.clean[n]:
                assert a.kinds[m, n] == CLEAN
                np.testing.assert_allclose(off, 0, atol=1e-4)
            else:  # only jumps: one constant offset of 2..64 px over a run, zero elsewhere
                assert a.kinds[m, n] == KINDS.index("jump")
                moved = np.linalg.norm(off, axis=-1) > 1e-3
                seg = _changed_run(moved, q[n])
                assert 2.0 - 1e-3 <= np.linalg.norm(off[seg[0]]) <= 64.0 + 1e-3
                np.testing.assert_allclose(off[seg], np.broadcast_to(off[seg[0]], off[seg].shape), atol=1e-4)
    noisy = make_candidates(np.random.default_rng(5), tracks, occ, q, 5, CorruptionConfig(clean_prob=0.0, noise_px=0.5))
    assert (noisy.clean == -1).all() and (noisy.kinds != CLEAN).all()
    with pytest.raises(ValueError, match="kinds"):
        CorruptionConfig(kinds=("teleport",))


def test_duplicated_corruptions_share_the_track_before_noise():
    tracks, occ = _scene(T=20, N=40)
    q = np.arange(40) % 20
    base = dict(clean_prob=0.0, noise_px=0.0, magnitude=(2.0, 64.0))
    dup = make_candidates(np.random.default_rng(7), tracks, occ, q, 4, CorruptionConfig(dup_prob=1.0, **base))
    # every slot after the first repeats an earlier one: all four equal, flags and kinds too
    for m in range(1, 4):
        np.testing.assert_array_equal(dup.tracks[m], dup.tracks[0])
        np.testing.assert_array_equal(dup.occluded[m], dup.occluded[0])
        np.testing.assert_array_equal(dup.kinds[m], dup.kinds[0])
    indep = make_candidates(np.random.default_rng(7), tracks, occ, q, 4, CorruptionConfig(dup_prob=0.0, **base))
    same = [np.array_equal(indep.tracks[1, n], indep.tracks[0, n]) for n in range(40)]
    assert sum(same) < 10  # independent draws rarely coincide (occlusion flips leave positions alone)
    half = make_candidates(np.random.default_rng(8), tracks, occ, q, 4, CorruptionConfig(dup_prob=0.5, **base))
    copies = [any(np.array_equal(half.tracks[j, n], half.tracks[i, n]) for i in range(j))
              for n in range(40) for j in range(1, 4)]
    assert 0.3 < np.mean(copies) < 0.8  # about half of the 120 later slots are copies
    with pytest.raises(ValueError, match="dup_prob"):
        CorruptionConfig(dup_prob=1.5)


# ---------------------------------------------------------------- the model


@pytest.fixture(scope="module")
def tracker_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tracker") / "small.pth"
    checkpoints.save(path, CoTracker3(SMALL), None, 0)
    return path


def _random_inputs(B=1, N=3, M=4, T=6, size=SIZE, seed=0):
    g = torch.Generator().manual_seed(seed)
    H, W = size
    video = torch.rand(B, T, 3, H, W, generator=g) * 255
    queries = torch.cat([torch.randint(0, T, (B, N, 1), generator=g).float(),
                         torch.rand(B, N, 2, generator=g) * (W - 1)], -1)
    cand = torch.rand(B, N, M, T, 2, generator=g) * (W - 1)
    occ = torch.rand(B, N, M, T, generator=g) < 0.3
    return video, queries, cand, occ


def test_forward_shapes_softmax_and_candidate_order(tracker_ckpt, one_torch_thread):
    torch.manual_seed(1)
    v = from_tracker(tracker_ckpt, VerifierConfig(dim=32, layers=1, image_size=SIZE)).eval()
    video, q, cand, occ = _random_inputs(B=2)
    pyramid = v.features(video)
    assert len(pyramid) == 4 and not any(p.requires_grad for p in pyramid)
    logits = v(pyramid, q, cand, occ)
    assert logits.shape == (2, 3, 6, 4)
    p = torch.softmax(logits, -1)
    torch.testing.assert_close(p.sum(-1), torch.ones(2, 3, 6))
    assert p.std() > 0  # scores differ between candidates
    perm = torch.tensor([2, 0, 3, 1])  # relabelling the teachers relabels their scores, nothing else
    permuted = v(pyramid, q, cand[:, :, perm], occ[:, :, perm])
    torch.testing.assert_close(permuted, logits[..., perm], atol=1e-5, rtol=1e-5)


def test_target_and_masked_loss():
    cfg = VerifierConfig()  # tau 0.1 in units of 10 px: effective temperature 1 px
    gt = torch.tensor([[[[10.0, 20.0], [0.0, 0.0]]]])  # (1, 1, T=2, 2)
    cand = gt[:, :, None].repeat(1, 1, 3, 1, 1)
    cand[0, 0, 1, :, 0] += 1.0  # 1 px off
    cand[0, 0, 2, :, 1] += 3.0  # 3 px off
    t = target_distribution(cand, gt, cfg)
    w = np.exp(-np.array([0.0, 1.0, 3.0]))
    np.testing.assert_allclose(t[0, 0].numpy(), np.broadcast_to(w / w.sum(), (2, 3)), rtol=1e-6)
    logits = torch.randn(1, 1, 2, 3)
    visible = torch.tensor([[[True, False]]])
    lp = logits[0, 0, 0].double().log_softmax(-1).numpy()
    expected = -(t[0, 0, 0].double().numpy() * lp).sum()
    assert verifier_loss(logits, t, visible).item() == pytest.approx(expected, rel=1e-6)
    other = logits.clone()
    other[..., 1, :] = torch.tensor([9.0, -9.0, 0.0])  # an occluded frame does not count
    assert verifier_loss(other, t, visible).item() == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- training


def _clean_preference(verifier: Verifier, data, ks, seed=99) -> tuple[float, float, float]:
    """(share of (frame, corrupted candidate >= 3 px off) pairs where the clean candidate scores higher,
    mean error of the top-scored candidate, mean error of a random candidate), on visible frames."""
    wins = pairs = 0
    pick_err, rand_err = [], []
    corruption = CorruptionConfig(magnitude=(1.0, 32.0), clean_prob=1.0)
    for k in ks:
        ex = training_example(data, k, seed, 4, corruption)
        with torch.no_grad():
            p = torch.softmax(verifier(verifier.features(ex["video"]), ex["queries"], ex["candidates"],
                                       ex["occluded"]), -1)[0].numpy()  # (N, T, M)
        cand, gt = ex["candidates"][0].numpy(), ex["tracks"][0].numpy()
        vis, clean = ex["visible"][0].numpy(), ex["clean"][0].numpy()
        err = np.linalg.norm(cand.astype(np.float64) - gt[:, None], axis=-1).transpose(0, 2, 1)  # (N, T, M)
        N, T, M = err.shape
        for n in range(N):
            for t in range(T):
                if not vis[n, t]:
                    continue
                pick_err.append(err[n, t, p[n, t].argmax()])
                rand_err.append(err[n, t].mean())
                for m in range(M):
                    if m != clean[n] and err[n, t, m] >= 3.0:
                        pairs += 1
                        wins += p[n, t, clean[n]] > p[n, t, m]
    assert pairs > 100
    return wins / pairs, float(np.mean(pick_err)), float(np.mean(rand_err))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("verifier_data")
    generate(root / "train", sequences=4, frames=FRAMES, size=SIZE, seed=1, points=64, progress=False)
    generate(root / "held", sequences=2, frames=FRAMES, size=SIZE, seed=2, points=64, progress=False)
    return root


def test_training_learns_to_prefer_the_clean_track_with_a_frozen_encoder(clips, tracker_ckpt, tmp_path,
                                                                         one_torch_thread):
    from training.verifier import dataset

    cfg = VerifierTrainConfig(data=str(clips / "train"), tracker=str(tracker_ckpt), out=str(tmp_path / "run"),
                              steps=80, lr=2e-3, warmup=5, candidates=4, size=SIZE, frames=FRAMES, points=32,
                              magnitude=(1.0, 32.0), clean_prob=1.0, dim=32, layers=1, augment=False, progress=False,
                              device="cpu", log_every=40)
    torch.manual_seed(cfg.seed)  # the trainer seeds the same way: this is its starting point
    before = from_tracker(tracker_ckpt, VerifierConfig(dim=32, layers=1, image_size=SIZE)).eval()
    last = train_verifier(cfg)
    after = load_verifier(last)
    held = dataset(str(clips / "held"), SIZE, FRAMES, 32, seed=5, augment=False)
    win0, pick0, rand0 = _clean_preference(before, held, range(2))
    win1, pick1, rand1 = _clean_preference(after, held, range(2))
    assert rand0 == rand1  # same held-out candidates
    assert win1 > 0.8 and win1 > win0 + 0.3, (win0, win1)
    assert pick1 < 0.5 * rand1 and pick1 < 0.5 * pick0, (pick0, pick1, rand1)

    # the encoder never moved and was never optimised
    state = torch.load(last, map_location="cpu", weights_only=True)
    tracker = checkpoints.load(tracker_ckpt)["model"]
    fnet = {k: v for k, v in tracker.items() if k.startswith("fnet.")}
    assert fnet and all(torch.equal(state["model"][f"encoder.{k}"], v) for k, v in fnet.items())
    n_trainable = sum(1 for k in state["model"] if not k.startswith("encoder."))
    assert len(state["optimizer"]["param_groups"][0]["params"]) == n_trainable
    assert not any(p.requires_grad for p in after.encoder.parameters())
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 40, 80]


# ---------------------------------------------------------------- select and the CLI


def test_select_picks_the_best_scored_candidate_and_votes_visibility(tracker_ckpt, tmp_path, one_torch_thread):
    torch.manual_seed(2)
    v = from_tracker(tracker_ckpt, VerifierConfig(dim=32, layers=1, image_size=SIZE))
    path = save_verifier(tmp_path / "v.pth", v)
    rng = np.random.default_rng(0)
    T, N, M = 6, 5, 4
    video = rng.integers(0, 256, (T, 40, 48, 3), dtype=np.uint8)  # not the verifier's size: resized inside
    queries = np.stack([rng.integers(0, T, N), rng.uniform(0, 47, N), rng.uniform(0, 39, N)], 1)
    cand = rng.uniform(0, 47, (M, N, T, 2)).astype(np.float32)
    occ = rng.random((M, N, T)) < 0.5
    occ[:2, 0, 0], occ[2:, 0, 0] = True, False  # a 2-2 tie
    tracks, occluded = select(path, video, queries, cand, occ)
    assert tracks.shape == (N, T, 2) and tracks.dtype == np.float32 and occluded.shape == (N, T)
    probs = scores(v, video, queries, cand, occ)
    np.testing.assert_allclose(scores(v, video, queries, cand, occ, chunk=2), probs, atol=1e-5)  # chunking is exact
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    t2, o2 = select(v, video, queries, cand, occ)  # a loaded Verifier works the same
    np.testing.assert_array_equal(t2, tracks)
    for n in range(N):
        for t in range(T):
            best = int(np.argmax(probs[n, t]))
            np.testing.assert_array_equal(tracks[n, t], cand[best, n, t])  # the teacher's position, unscaled
            votes = int(occ[:, n, t].sum())
            expected = votes > M / 2 or (votes == M / 2 and bool(occ[best, n, t]))
            assert occluded[n, t] == expected
    chosen = rng.integers(0, 3, (2, 2))
    flags = np.array([[[1, 0], [1, 1]], [[1, 0], [0, 0]], [[0, 1], [0, 1]]], bool)  # M=3: plain majority
    np.testing.assert_array_equal(majority_occluded(flags, chosen), flags.sum(0) >= 2)
    with pytest.raises(ValueError, match="candidates"):
        select(v, video, queries, cand[:, :, :-1], occ)
    with pytest.raises(ValueError, match="finite"):
        bad = cand.copy()
        bad[0, 0, 0, 0] = np.nan
        select(v, video, queries, bad, occ)
    with pytest.raises(ValueError, match="query frames"):
        select(v, video, np.array([[T, 1.0, 1.0]] * N), cand, occ)
    with pytest.raises(ValueError, match="not a verifier checkpoint"):
        load_verifier(tracker_ckpt)


def test_cli_end_to_end(clips, tracker_ckpt, tmp_path, capsys, one_torch_thread):
    out = tmp_path / "cli"
    args = ["verifier", "--data", str(clips / "train"), "--tracker", str(tracker_ckpt), "--steps", "2",
            "--size", "64", "64", "--frames", "8", "--points", "8", "--candidates", "3", "--dim", "32",
            "--layers", "1", "--out", str(out), "--quiet", "--log-every", "1"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(np.isfinite(r["loss"]) for r in rows)
    v = load_verifier(out / "last.pth")
    assert v.cfg.image_size == SIZE and v.cfg.dim == 32
    assert json.loads((out / "config.json").read_text())["candidates"] == 3
    capsys.readouterr()
    assert main([*args[:4], str(tmp_path / "missing.pth"), *args[5:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("training: error:") and "missing.pth" in err[0]
