"""INT8 calibration data (`python -m export calib`, `export trt --int8-calib`), checked without TensorRT.

A tiny export (the SMALL config at 64x96, window 8, step 4) and a folder with three PNGs and a short
mp4: the encoder batches are the frames resized as an independent OpenCV recomputation says, the
recorded query / window batches have the ONNX graphs' declared shapes and, fed back to onnxruntime,
give exactly the tracks the runtime returned. The TensorRT calibrator is driven through fakes of the
tensorrt and cuda-python modules (the real ones are not installable here).
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import shutil
import subprocess
import sys
import types

import cv2
import numpy as np
import onnx
import pytest
import torch

pytest.importorskip("onnxruntime")

import onnxruntime as ort  # noqa: E402

import rt_edge  # noqa: E402
from export import calibration as cal  # noqa: E402
from export.to_onnx import export_onnx  # noqa: E402
from export.trt_build import TensorRTUnavailable, build_engines, graph_flags, precision_label  # noqa: E402
from rt_edge.backends.onnx_meta import read_meta  # noqa: E402
from rt_edge.backends.onnxruntime_backend import OrtExecutor  # noqa: E402
from rt_edge.model import CoTracker3  # noqa: E402
from rt_edge.video import VideoWriter  # noqa: E402

from ..conftest import REPO, SMALL, run_command  # noqa: E402
from ..conftest import BLOCK_TORCH  # noqa: E402

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None
SIZE = (64, 96)  # export image size (H, W)
PNG_HW = (127, 191)  # (H - 1) * 2 + 1: the aligned-corner resize is exactly every other pixel
MP4_HW = (80, 100)
MP4_FRAMES = 20
BUDGET = 21  # 3 PNGs + 18 of the 20 mp4 frames
POINTS = 20


def _smooth_frame(t: int) -> np.ndarray:
    yy, xx = np.mgrid[0:MP4_HW[0], 0:MP4_HW[1]]
    chans = [128 + 100 * np.sin((xx + 2 * t) / 3.0 + c) * np.cos((yy + t) / 4.0) for c in range(3)]
    return np.stack(chans, -1).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_torch_thread):
    tmp = tmp_path_factory.mktemp("calib")
    torch.manual_seed(0)
    export_onnx(CoTracker3(SMALL), tmp / "onnx", image_size=SIZE, max_points=32)
    frames = tmp / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(frames / f"f{i:02d}.png"), rng.integers(0, 256, (*PNG_HW, 3), dtype=np.uint8))
    with VideoWriter(frames / "clip.mp4", 10.0, MP4_HW) as w:
        for t in range(MP4_FRAMES):
            w.write(_smooth_frame(t))
    (frames / "notes.txt").write_text("not a frame")
    manifest = cal.collect_calibration(tmp / "onnx", frames, tmp / "cache", max_frames=BUDGET, points=POINTS,
                                       threads=1)
    return {"tmp": tmp, "onnx": tmp / "onnx", "frames": frames, "cache": tmp / "cache", "manifest": manifest}


def _decoded_clips(frames_dir) -> list[np.ndarray]:
    """The calibration frames read independently with OpenCV: the PNG sequence, then 18 mp4 frames."""
    pngs = [cv2.cvtColor(cv2.imread(str(frames_dir / f"f{i:02d}.png")), cv2.COLOR_BGR2RGB) for i in range(3)]
    cap = cv2.VideoCapture(str(frames_dir / "clip.mp4"))
    video = []
    while len(video) < BUDGET - 3:
        ok, bgr = cap.read()
        assert ok
        video.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return [np.stack(pngs), np.stack(video)]


def _aligned_resize_cv2(frame: np.ndarray, hw) -> np.ndarray:
    """Bilinear resize with aligned corners through cv2.remap (cv2.resize uses half-pixel centres)."""
    (H0, W0), (H, W) = frame.shape[:2], hw
    mx = np.tile(np.arange(W, dtype=np.float64) * (W0 - 1) / (W - 1), (H, 1)).astype(np.float32)
    my = np.tile((np.arange(H, dtype=np.float64) * (H0 - 1) / (H - 1))[:, None], (1, W)).astype(np.float32)
    return cv2.remap(frame.astype(np.float32), mx, my, cv2.INTER_LINEAR)


def _onnx_input_shapes(path, points: int) -> dict[str, tuple[int, ...]]:
    g = onnx.load(str(path)).graph
    return {i.name: tuple(points if d.dim_param == "points" else d.dim_value for d in i.type.tensor_type.shape.dim)
            for i in g.input}


def test_budget_and_points_are_spread_as_documented():
    assert cal.frame_budget([3, 20], 21) == [3, 18]  # the short clip leaves its share to the next
    assert cal.frame_budget([None, 5, 100], 30) == [10, 5, 15]
    assert cal.frame_budget([10, 10, 10], 2) == [1, 1, 0]
    p = cal.calibration_points(20, (80, 100))
    assert p.shape == (20, 2) and len({tuple(r) for r in p}) == 20
    assert (p >= 0).all() and (p[:, 0] <= 99).all() and (p[:, 1] <= 79).all()
    # 4 points: a full 2x2 grid, corners at a margin of W/64 from the borders
    np.testing.assert_allclose(np.sort(cal.calibration_points(4, (64, 128))[:, 0]), [2, 2, 126, 126])


def test_encoder_batches_are_the_resized_frames(setup):
    m = setup["manifest"]
    assert [s["frames"] for s in m["sources"]] == [3, BUDGET - 3]  # the .txt file is ignored
    batches = [b["image"] for b in cal.calibration_batches(setup["cache"], "encoder")]
    assert len(batches) == m["graphs"]["encoder"]["batches"] == BUDGET
    assert all(b.shape == (1, 3, *SIZE) and b.dtype == np.float32 for b in batches)
    pngs, video = _decoded_clips(setup["frames"])
    for got, f in zip(batches[:3], pngs, strict=True):
        np.testing.assert_array_equal(got[0].transpose(1, 2, 0), f[::2, ::2].astype(np.float32))
    for got, f in zip(batches[3:], video, strict=True):
        np.testing.assert_allclose(got[0].transpose(1, 2, 0), _aligned_resize_cv2(f, SIZE), atol=1e-2)


def test_window_and_query_batches_reproduce_the_runtime(setup):
    m, onnx_dir = setup["manifest"], setup["onnx"]
    step, S = SMALL.window_step, SMALL.window_len
    windows = list(cal.calibration_batches(setup["cache"], "window_step"))
    queries = list(cal.calibration_batches(setup["cache"], "query"))
    declared = {g: _onnx_input_shapes(onnx_dir / f"{g}.onnx", POINTS) for g in ("query", "window_step")}
    for g, batches in (("query", queries), ("window_step", windows)):
        assert len(batches) == m["graphs"][g]["batches"]
        for b in batches:
            assert {n: a.shape for n, a in b.items()} == declared[g]
            assert all(a.dtype == np.float32 for a in b.values())

    # the runtime, run again without recording, on the same frames and points
    tracker = rt_edge.OnlineTracker(OrtExecutor(onnx_dir, threads=1), context_points=False)
    tracks = []
    for clip in _decoded_clips(setup["frames"]):
        tracker.add_queries(cal.calibration_points(POINTS, clip.shape[1:3]), frame=0)
        tracks.append(rt_edge.Tracks.concat([tracker.push(f) for f in clip] + [tracker.flush()]))

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    ws = ort.InferenceSession(str(onnx_dir / "window_step.onnx"), opts, providers=["CPUExecutionProvider"])
    qs = ort.InferenceSession(str(onnx_dir / "query.onnx"), opts, providers=["CPUExecutionProvider"])
    starts = [[0], list(range(0, BUDGET - 3 - S + 1 + step, step))]  # windows of each clip: PNGs (flush), mp4
    assert sum(map(len, starts)) == len(windows) == 5 and len(queries) == 2
    b = 0
    for clip, (tr, clip_starts) in enumerate(zip(tracks, starts, strict=True)):
        T = len(tr.frames)
        H0, W0 = (PNG_HW, MP4_HW)[clip]
        scale = np.array([(SIZE[1] - 1) / (W0 - 1), (SIZE[0] - 1) / (H0 - 1)])
        for k, s in enumerate(clip_starts):
            coords, vis, conf = ws.run(None, windows[b])
            last = clip_starts[k + 1] - 1 if k + 1 < len(clip_starts) else T - 1
            rows = np.arange(s, last + 1)
            np.testing.assert_allclose(tr.xy[rows], coords[rows - s] / scale, atol=1e-4)
            np.testing.assert_allclose(tr.visibility[rows], 1 / (1 + np.exp(-vis[rows - s])), atol=1e-6)
            if k == 0:  # the clip's query batch samples the support features its windows used
                (qf,) = qs.run(None, queries[clip])
                np.testing.assert_allclose(qf, windows[b]["query_feats"], atol=1e-6)
                np.testing.assert_allclose(queries[clip]["xy"], cal.calibration_points(POINTS, (H0, W0)) * scale,
                                           atol=1e-4)
            b += 1


def test_cache_round_trips_and_recollection_leaves_nothing_stale(setup, tmp_path):
    m = cal.read_calibration(setup["cache"])
    assert m == json.loads(json.dumps(setup["manifest"]))
    assert m["onnx_sha256"] == cal.onnx_hashes(setup["onnx"])
    first = list(cal.calibration_batches(setup["cache"], "window_step"))
    again = list(cal.calibration_batches(setup["cache"], "window_step", m))
    for a, b in zip(first, again, strict=True):
        assert a.keys() == b.keys() and all(np.array_equal(a[n], b[n]) for n in a)
    # stored once: 3 PNG + 18 mp4 frames (+0: padding repeats a frame); one support block per clip
    assert np.load(setup["cache"] / "pyramid.fmap_0.npy").shape[0] == BUDGET
    assert np.load(setup["cache"] / "query_feats.npy").shape[0] == 2

    out = tmp_path / "cache"
    cal.collect_calibration(setup["onnx"], setup["frames"], out, max_frames=5, points=POINTS, threads=1)
    (out / "encoder.abc.trtcalib").write_bytes(b"scales")
    m2 = cal.collect_calibration(setup["onnx"], setup["frames"], out, max_frames=4, graphs=["encoder"])
    assert sorted(p.name for p in out.iterdir()) == ["calib.json", "encoder.image.npy"]
    assert m2["points"] == 32 and list(m2["graphs"]) == ["encoder"]  # default points: min(256, max_points)
    assert len(list(cal.calibration_batches(out, "encoder"))) == 4
    with pytest.raises(ValueError, match="no window_step batches"):
        next(cal.calibration_batches(out, "window_step"))


def test_bad_directories_and_mismatched_caches_say_what_is_wrong(setup, tmp_path):
    with pytest.raises(FileNotFoundError, match="calibration directory not found: .*missing"):
        cal.collect_calibration(setup["onnx"], tmp_path / "missing", tmp_path / "c1")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no calibration frames in .*empty: expected images"):
        cal.collect_calibration(setup["onnx"], empty, tmp_path / "c2")
    with pytest.raises(ValueError, match="must be a directory .* got the file"):
        cal.calibration_sources(empty / "readme.txt")
    with pytest.raises(ValueError, match="is not an empty directory or an earlier cache"):
        cal.collect_calibration(setup["onnx"], setup["frames"], empty)
    with pytest.raises(ValueError, match=r"calibration points must be an int in 1\.\.32"):
        cal.collect_calibration(setup["onnx"], setup["frames"], tmp_path / "c3", points=33)
    with pytest.raises(ValueError, match="--graphs must name some of"):
        cal.collect_calibration(setup["onnx"], setup["frames"], tmp_path / "c4", graphs=["decoder"])
    with pytest.raises(FileNotFoundError, match="not a calibration cache"):
        cal.read_calibration(empty)
    half = tmp_path / "half"
    shutil.copytree(setup["onnx"], half)
    (half / "meta.json").write_text(json.dumps({**json.loads((half / "meta.json").read_text()), "fp16": True}))
    with pytest.raises(ValueError, match="is an --fp16 export: record calibration inputs with the fp32 export"):
        cal.collect_calibration(half, setup["frames"], tmp_path / "c5")
    assert cal.collect_calibration(half, setup["frames"], tmp_path / "c6", max_frames=2, graphs=["encoder"])

    meta = read_meta(setup["onnx"])
    m, hashes = setup["manifest"], cal.onnx_hashes(setup["onnx"])
    cal.check_calibration(m, meta, hashes, ("encoder", "query", "window_step"), POINTS)  # matches: accepted
    cal.check_calibration(m, meta, hashes, ("encoder",), 32)  # encoder batches do not depend on points
    with pytest.raises(ValueError, match="holds 20 points per batch but the profile's OPT is 32"):
        cal.check_calibration(m, meta, hashes, ("window_step",), 32)
    with pytest.raises(ValueError, match="recorded with other ONNX graphs"):
        cal.check_calibration(m, meta, {**hashes, "encoder": "0" * 64}, ("query",), POINTS)
    with pytest.raises(ValueError, match="for 64x96 images, this export runs at 192x256"):
        cal.check_calibration(m, {**meta, "image_size": [192, 256]}, hashes, ("encoder",), POINTS)


def test_per_graph_precision_defaults_to_int8_on_the_encoder_only():
    orin = {"fast_fp16": True, "fast_int8": True, "compute_capability": (8, 7)}
    flags = graph_flags(True, ("encoder",), False, orin)
    assert flags == {"encoder": ["FP16", "INT8"], "query": ["FP16"], "window_step": ["FP16"], "frame_step": ["FP16"]}
    assert precision_label(flags) == "encoder=FP16+INT8, query=FP16, window_step=FP16, frame_step=FP16"
    assert precision_label(graph_flags(True, (), False, orin)) == "FP16"
    assert precision_label(graph_flags(False, (), False, orin)) == "FP32"
    with pytest.raises(ValueError, match="no fast INT8"):
        graph_flags(True, ("encoder",), False, {**orin, "fast_int8": False})


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed: its absence cannot be shown")
def test_build_checks_the_cache_before_needing_tensorrt(setup):
    with pytest.raises(ValueError, match="holds 20 points per batch but the profile's OPT is 32"):
        build_engines(setup["onnx"], int8_calib=str(setup["cache"]), int8_graphs=("window_step",), points=(1, 32, 32))
    with pytest.raises(ValueError, match="--int8-graphs must name some of"):
        build_engines(setup["onnx"], int8_calib=str(setup["cache"]), int8_graphs=("decoder",))
    with pytest.raises(TensorRTUnavailable):  # a matching cache gets as far as loading TensorRT
        build_engines(setup["onnx"], int8_calib=str(setup["cache"]), int8_graphs=("window_step",), points=(1, 20, 32))


class _FakeCudart:
    """cudaMalloc / cudaMemcpy / cudaFree over host numpy buffers (the calibrator's use of cuda-python)."""

    cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1)

    def __init__(self):
        self.buffers: dict[int, np.ndarray] = {}

    def cudaMalloc(self, nbytes):
        buf = np.zeros(nbytes, np.uint8)
        self.buffers[buf.ctypes.data] = buf
        return 0, buf.ctypes.data

    def cudaMemcpy(self, dst, src, nbytes, kind):
        assert kind == 1 and dst in self.buffers and nbytes <= self.buffers[dst].nbytes
        ctypes.memmove(dst, src, nbytes)
        return (0,)

    def cudaFree(self, ptr):
        self.buffers.pop(ptr, None)
        return (0,)


def test_entropy_calibrator_feeds_the_cached_batches_in_order(setup, monkeypatch, tmp_path):
    cudart = _FakeCudart()
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cudart
    cuda = types.ModuleType("cuda")
    cuda.bindings = bindings
    monkeypatch.setitem(sys.modules, "cuda", cuda)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)

    class Base:
        def __init__(self):
            self.base_initialised = True

    trt = types.SimpleNamespace(IInt8EntropyCalibrator2=Base)
    cache = tmp_path / "cache"
    shutil.copytree(setup["cache"], cache)
    calib = cal.make_calibrator(trt, cache, "window_step")
    assert isinstance(calib, Base) and calib.base_initialised and calib.get_batch_size() == 1
    names = list(setup["manifest"]["graphs"]["window_step"]["inputs"])[::-1]  # TensorRT's order is its own
    expected = list(cal.calibration_batches(cache, "window_step"))
    for batch in expected:
        ptrs = calib.get_batch(names)
        assert len(ptrs) == len(names)
        for name, ptr in zip(names, ptrs, strict=True):
            got = cudart.buffers[ptr].view(np.float32).reshape(batch[name].shape)
            np.testing.assert_array_equal(got, batch[name])
    assert calib.get_batch(names) is None  # exhausted: calibration ends

    table = cal.scale_cache_path(cache, "window_step", cal.read_calibration(cache))
    assert calib.read_calibration_cache() is None
    calib.write_calibration_cache(memoryview(b"TRT-1000-EntropyCalibration2\n"))
    assert table.read_bytes() == b"TRT-1000-EntropyCalibration2\n"
    assert cal.make_calibrator(trt, cache, "window_step").read_calibration_cache() == table.read_bytes()


def test_cli_calib_collects_and_trt_without_tensorrt_exits_2(setup, tmp_path):
    out = tmp_path / "cli_cache"
    argv = ["export", "calib", "--onnx-dir", str(setup["onnx"]), "--images", str(setup["frames"]), "--out", str(out),
            "--calib-frames", "6", "--points", "8"]
    code = BLOCK_TORCH + f"import runpy, sys; sys.argv = {argv!r}; runpy.run_module('export', run_name='__main__')"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]  # `python -m export calib ...` with torch blocked
    m = cal.read_calibration(out)
    assert m["points"] == 8 and m["graphs"]["encoder"]["batches"] == 6
    assert f"{m['graphs']['window_step']['batches']} window_step (8 points)" in r.stdout
    r = run_command("export", "calib", "--onnx-dir", str(setup["onnx"]), "--images",
                        str(tmp_path / "nowhere"), "--out", str(tmp_path / "c"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"export: error: calibration directory not found: {tmp_path / 'nowhere'}"]
    if HAVE_TRT:
        return
    r = run_command("export", "trt", "--onnx-dir", str(setup["onnx"]), "--int8-calib",
                        str(setup["frames"]))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "export: error: TensorRT is not installed: `python -m export trt` needs the tensorrt Python package "
        "(TensorRT 10) on the target device"]
