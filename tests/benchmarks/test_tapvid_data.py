"""TAP-Vid readers (published pickle layouts), query sampling, evaluation and `python -m benchmarks tapvid`."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

import rt_edge.default_model as default_model
from benchmarks.__main__ import main as benchmarks_main
from benchmarks.tapvid_data import (
    load_examples,
    read_pickle,
    resize_video,
    sample_queries_first,
    sample_queries_strided,
)
from benchmarks.tapvid_eval import evaluate, format_table, predictor_queries
from rt_edge.model import CoTracker3

from ..conftest import SMALL, run_command

T, H, W = 8, 32, 48
COLORS = np.array([[200, 30, 90], [10, 220, 40], [90, 90, 250], [255, 255, 0],
                   [0, 128, 255], [60, 0, 0], [240, 240, 240], [5, 5, 5]], np.uint8)  # one RGB per frame


def _raw(seed: int, n: int = 5, frames: int = T) -> dict:
    """One video as the pickles hold it: constant-colour frames, points in [0.05, 0.95], ~30% occluded."""
    rng = np.random.default_rng(seed)
    video = np.broadcast_to(COLORS[np.arange(frames) % len(COLORS), None, None], (frames, H, W, 3)).copy()
    occ = rng.random((n, frames)) < 0.3
    occ[-1] = True  # a track never visible: "first" drops it
    return {"video": video, "points": rng.uniform(0.05, 0.95, (n, frames, 2)).astype(np.float32), "occluded": occ}


def _jpeg(frame: np.ndarray) -> bytes:
    """Encoded with PIL (RGB in, not OpenCV's BGR): an independent encoder."""
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _dump(path, obj, protocol=4):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


@pytest.fixture(scope="module")
def davis(tmp_path_factory):
    """A DAVIS-layout pickle (dict name -> example) of two videos, and its raw dict."""
    raw = {"bear": _raw(0), "car-roundabout": _raw(1)}
    return _dump(tmp_path_factory.mktemp("davis") / "tapvid_davis.pkl", raw), raw


# ---------------------------------------------------------------- readers
def test_davis_reader_shapes_points_and_occlusion(davis):
    path, raw = davis
    exs = list(load_examples("davis", path, "first"))
    assert [e["name"] for e in exs] == ["bear", "car-roundabout"]
    for ex in exs:
        src = raw[ex["name"]]
        keep = ~src["occluded"].all(axis=1)
        assert ex["video"].shape == (T, 256, 256, 3) and ex["video"].dtype == np.uint8
        # constant frames stay constant through any resize: frame order and RGB order kept
        np.testing.assert_array_equal(ex["video"][:, 128, 200], COLORS[:T])
        np.testing.assert_allclose(ex["target_points"][0], src["points"][keep].astype(np.float64) * 256, atol=1e-9)
        np.testing.assert_array_equal(ex["occluded"][0], src["occluded"][keep])
        assert ex["query_points"].shape == (1, keep.sum(), 3)
    # CoTracker's convention maps 1.0 to 255 instead
    ex = next(load_examples("davis", path, "first", coords="cotracker"))
    keep = ~raw["bear"]["occluded"].all(axis=1)
    np.testing.assert_allclose(ex["target_points"][0], raw["bear"]["points"][keep] * 255.0, atol=1e-4)


def test_davis_jpeg_frames_and_rgb_stacking_list(tmp_path):
    raw = _raw(2)
    enc = dict(raw, video=[_jpeg(f) for f in raw["video"]])  # frames stored as JPEG bytes
    ex = next(load_examples("davis", _dump(tmp_path / "d.pkl", {"v": enc}), "strided"))
    assert ex["video"].shape == (T, 256, 256, 3)
    assert np.abs(ex["video"][:, 100, 100].astype(int) - COLORS[:T]).max() <= 3  # JPEG of flat colour, RGB order
    stacking = [_raw(3), _raw(4), _raw(5)]  # RGB-Stacking: a list, no names
    exs = list(load_examples("rgb_stacking", _dump(tmp_path / "s.pkl", stacking, protocol=2), "first", limit=2))
    assert [e["name"] for e in exs] == ["0000", "0001"]
    keep = ~stacking[1]["occluded"].all(axis=1)
    np.testing.assert_array_equal(exs[1]["occluded"][0], stacking[1]["occluded"][keep])


def test_kinetics_shards_and_robotap_dir(tmp_path):
    kin = tmp_path / "kinetics"
    kin.mkdir()
    shards = [[_raw(10), _raw(11, frames=6)], [_raw(12)]]
    for i, shard in enumerate(shards):
        # as tapnet's generate_tapvid writes them: np.array of JPEG bytes (dtype S), points float64
        data = [dict(r, video=np.array([_jpeg(f) for f in r["video"]]), points=r["points"].astype(np.float64))
                for r in shard]
        assert data[0]["video"].dtype.kind == "S"
        _dump(kin / f"{i:04d}_of_0002.pkl", data)
    (kin / "README.txt").write_text("not a shard")
    exs = list(load_examples("kinetics", kin, "first"))
    assert [e["name"] for e in exs] == ["0000_of_0002/0000", "0000_of_0002/0001", "0001_of_0002/0000"]
    assert [len(e["video"]) for e in exs] == [8, 6, 8]
    keep = ~shards[0][1]["occluded"].all(axis=1)
    np.testing.assert_allclose(exs[1]["target_points"][0], shards[0][1]["points"][keep] * 256.0, atol=1e-4)
    assert len(list(load_examples("kinetics", kin, "first", limit=2))) == 2

    rt = tmp_path / "robotap"
    rt.mkdir()
    _dump(rt / "robotap_split0.pkl", {"a": _raw(20)})
    _dump(rt / "robotap_split1.pkl", {"b": _raw(21), "c": _raw(22)}, protocol=5)
    assert [e["name"] for e in load_examples("robotap", rt, "strided")] == ["a", "b", "c"]
    assert [e["name"] for e in load_examples("robotap", rt / "robotap_split1.pkl", "first")] == ["b", "c"]


def test_reader_errors(tmp_path, davis):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_examples("davis", tmp_path / "missing.pkl", "first")
    with pytest.raises(ValueError, match="is a directory"):
        load_examples("davis", tmp_path, "first")
    with pytest.raises(FileNotFoundError, match="robotap_split"):
        load_examples("robotap", tmp_path, "first")
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_examples("kubric", davis[0], "first")
    bad = _dump(tmp_path / "bad.pkl", {"v": dict(_raw(0), points=np.zeros((5, T + 1, 2)))})
    with pytest.raises(ValueError, match=r"'v'.*points \(N, 8, 2\)"):
        list(load_examples("davis", bad, "first"))


def test_resize_shrinks_by_area():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 512, 512, 3), dtype=np.uint8)
    out = resize_video(frames)
    block_mean = frames.astype(np.float64).reshape(2, 256, 2, 256, 2, 3).mean(axis=(2, 4))  # 2x2 box filter
    assert out.shape == (2, 256, 256, 3)
    assert np.abs(out - block_mean).max() <= 0.75


# ---------------------------------------------------------------- restricted unpickler
class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unpickler_refuses_code_and_reads_numpy(tmp_path):
    marker = tmp_path / "ran"
    evil = _dump(tmp_path / "evil.pkl", {"v": {"video": _RunsCode(marker)}})
    with pytest.raises(ValueError, match=r"refusing to unpickle global (posix|os)\.system"):
        read_pickle(evil)
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"global builtins\.eval"):
        read_pickle(_evil_eval(tmp_path))
    data = {"u8": np.arange(24, dtype=np.uint8).reshape(2, 3, 4), "f": np.float32(2.5), "b": np.eye(3, dtype=bool),
            "s": np.array([b"\xff\xd8ab", b"\xff\xd8c"]), "o": np.array([b"x", b"yy"], dtype=object),
            "l": [1, 2.0, "three", None, (True,)], "set": {1, 2}}
    for protocol in range(6):
        got = read_pickle(_dump(tmp_path / f"p{protocol}.pkl", data, protocol=protocol))
        assert got.keys() == data.keys()
        for k, v in data.items():
            if isinstance(v, np.ndarray):
                assert got[k].dtype == v.dtype and np.array_equal(got[k], v), (protocol, k)
            else:
                assert got[k] == v, (protocol, k)
    (tmp_path / "cut.pkl").write_bytes(pickle.dumps(data)[:50])
    with pytest.raises(ValueError, match="cannot unpickle"):
        read_pickle(tmp_path / "cut.pkl")


def _evil_eval(tmp_path):
    class CallsEval:
        def __reduce__(self):
            return (eval, ("__import__('os').getcwd()",))

    return _dump(tmp_path / "eval.pkl", [CallsEval()])


# ---------------------------------------------------------------- query sampling
def _pairs(sampled: dict) -> list[tuple[int, int]]:
    """(query frame, source track) of each strided query."""
    return list(zip(sampled["query_points"][0, :, 0].astype(int).tolist(), sampled["track"][0].tolist(), strict=True))


def test_query_sampling_hand_made_pattern():
    # 5 tracks x 12 frames: always visible; visible from 3; never; only at 5 and 10; only 0..4
    vis = np.zeros((5, 12), bool)
    vis[0] = True
    vis[1, 3:] = True
    vis[3, [5, 10]] = True
    vis[4, :5] = True
    pts = np.random.default_rng(0).uniform(0, 256, (5, 12, 2))
    first = sample_queries_first(~vis, pts)
    assert first["query_points"][0, :, 0].tolist() == [0, 3, 5, 0]  # track 2 dropped
    np.testing.assert_array_equal(first["target_points"][0], pts[[0, 1, 3, 4]])
    strided = sample_queries_strided(~vis, pts)
    expected = [(0, 0), (0, 4), (5, 0), (5, 1), (5, 3), (10, 0), (10, 1), (10, 3)]  # (frame, track)
    assert _pairs(strided) == expected
    for s in (first, strided):
        t = s["query_points"][0, :, 0].astype(int)
        tgt = s["target_points"][0][np.arange(len(t)), t]  # (x, y) at the query frame
        np.testing.assert_array_equal(s["query_points"][0, :, 1:], tgt[:, ::-1])  # rows are (t, y, x)
        assert not s["occluded"][0][np.arange(len(t)), t].any()


@pytest.mark.parametrize("seed", range(5))
def test_query_sampling_matches_a_loop_recomputation(seed):
    rng = np.random.default_rng(seed)
    occ = rng.random((7, 23)) < rng.uniform(0.2, 0.9)
    pts = rng.uniform(0, 256, (7, 23, 2))
    want_first = [(next(t for t in range(23) if not occ[i, t]), i) for i in range(7) if not occ[i].all()]
    want_strided = [(t, i) for t in range(0, 23, 5) for i in range(7) if not occ[i, t]]
    first, strided = sample_queries_first(occ, pts), sample_queries_strided(occ, pts)
    got_first = first["query_points"][0, :, 0].astype(int).tolist()
    assert got_first == [t for t, _ in want_first]
    np.testing.assert_array_equal(first["occluded"][0], occ[[i for _, i in want_first]])
    assert _pairs(strided) == want_strided
    np.testing.assert_array_equal(strided["target_points"][0], pts[[i for _, i in want_strided]].reshape(-1, 23, 2))


# ---------------------------------------------------------------- evaluation
def _oracle(examples, shift=0.0):
    """Returns each example's ground truth (shifted by `shift` px in x), checking the queries it gets."""
    it = iter(examples)

    def predict(video, queries):
        ex = next(it)
        assert video is ex["video"]
        np.testing.assert_array_equal(queries, ex["query_points"][0][:, [0, 2, 1]])  # (t, y, x) -> (t, x, y)
        return ex["target_points"][0] + [shift, 0.0], ex["occluded"][0]

    return predict


@pytest.mark.parametrize("mode", ["first", "strided"])
def test_oracle_scores_one_and_shift_scores_thresholds(davis, mode):
    exs = list(load_examples("davis", davis[0], mode))
    res = evaluate(_oracle(exs), exs, mode, progress=False)
    assert [r["video"] for r in res["videos"]] == ["bear", "car-roundabout"]
    for k in ("average_jaccard", "average_pts_within_thresh", "occlusion_accuracy"):
        assert res["mean"][k] == 1.0 and all(r[k] == 1.0 for r in res["videos"])
    # 3 px off in x: outside 1 and 2 px, inside 4, 8, 16 -> 3/5 on both position metrics
    res = evaluate(_oracle(exs, shift=3.0), exs, mode, limit=1, progress=False)
    assert len(res["videos"]) == 1
    assert res["mean"]["average_pts_within_thresh"] == pytest.approx(0.6)
    assert res["mean"]["average_jaccard"] == pytest.approx(0.6)
    assert res["mean"]["occlusion_accuracy"] == 1.0
    assert "60.00" in format_table(res) and "bear" in format_table(res)


def test_predictor_queries_are_clipped_into_the_frame():
    q = np.array([[0.0, 10.0, 256.0], [3.0, -0.4, 5.0]])  # (t, y, x): x = 256 and y < 0 occur in the data
    np.testing.assert_array_equal(predictor_queries(q, (256, 256)), [[0.0, 255.0, 10.0], [3.0, 5.0, 0.0]])


# ---------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    torch.save({"model": CoTracker3(SMALL).state_dict(), "config": SMALL.to_dict()}, path)
    return path


def _run(*args) -> subprocess.CompletedProcess:
    r = run_command(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory, davis, small_ckpt):
    """The CLI on the DAVIS-layout pickle with the tiny model: (process, JSON report)."""
    out = tmp_path_factory.mktemp("run") / "r" / "davis.json"
    r = _run("benchmarks", "tapvid", "--dataset", "davis", "--data", davis[0], "--checkpoint", small_ckpt,
             "--mode", "strided", "--iters", "1", "--image-size", "32", "32", "--threads", "1", "--out", out)
    return r, json.loads(out.read_text())


def test_cli_runs_end_to_end(davis, small_ckpt, torch_run):
    r, rep = torch_run
    assert (rep["dataset"], rep["mode"], rep["checkpoint"]) == ("davis", "strided", str(small_ckpt))
    assert "--mode strided" in rep["command"]
    assert [v["video"] for v in rep["videos"]] == ["bear", "car-roundabout"]
    for key in ("average_jaccard", "average_pts_within_thresh", "occlusion_accuracy"):
        vals = [v[key] for v in rep["videos"]]
        assert all(0.0 <= v <= 1.0 for v in vals)
        assert rep["mean"][key] == pytest.approx(np.mean(vals))
    mean_line = next(line for line in r.stdout.splitlines() if line.startswith("mean of 2"))
    np.testing.assert_allclose([float(v) for v in mean_line.split()[-3:]],
                               [100 * rep["mean"][k] for k in ("average_jaccard", "average_pts_within_thresh",
                                                               "occlusion_accuracy")], atol=0.006)
    strided_points = sum(int((~v["occluded"][:, ::5]).sum()) for v in davis[1].values())
    assert sum(v["points"] for v in rep["videos"]) == strided_points


def test_cli_errors(tmp_path, davis, small_ckpt, capsys, monkeypatch):
    monkeypatch.setattr(default_model, "WEIGHTS", tmp_path / "absent.pth")
    cases = [
        (["--data", str(davis[0])], "default weights are not installed"),
        (["--data", str(tmp_path / "none.pkl"), "--checkpoint", str(small_ckpt)], "not found"),
        (["--data", str(davis[0]), "--checkpoint", str(tmp_path / "none.pth")], "checkpoint not found"),
        (["--data", str(davis[0]), "--checkpoint", str(small_ckpt), "--backend", "onnxruntime"], "export directory"),
    ]
    for args, msg in cases:
        assert benchmarks_main(["tapvid", "--dataset", "davis", "--mode", "first", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("benchmarks: error:") and msg in err, err


def test_cli_onnxruntime_export_dir_matches_torch(tmp_path, davis, small_ckpt, torch_run):
    pytest.importorskip("onnxruntime")
    _run("export", "onnx", "--checkpoint", small_ckpt, "--out", tmp_path / "onnx", "--image-size", "32", "32",
         "--iters", "1", "--max-points", "128")
    out = tmp_path / "ort.json"
    _run("benchmarks", "tapvid", "--dataset", "davis", "--data", davis[0], "--checkpoint", tmp_path / "onnx",
         "--backend", "onnxruntime", "--mode", "strided", "--iters", "1", "--no-progress", "--out", out)
    ort, ref = json.loads(out.read_text()), torch_run[1]
    assert ort["backend"] == "onnxruntime" and [v["video"] for v in ort["videos"]] == ["bear", "car-roundabout"]
    for a, b in zip(ort["videos"], ref["videos"], strict=True):
        for k in ("average_jaccard", "average_pts_within_thresh", "occlusion_accuracy", "pts_within_16"):
            assert a[k] == pytest.approx(b[k], abs=0.02), (a["video"], k)
