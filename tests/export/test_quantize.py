"""`python -m export quantize` / `export onnx --int8` and the lossless packing they build on.

A tiny export (the SMALL config at 64x96) is packed, unpacked and quantized. Checked: unpacking restores
the float32 graphs bit for bit; every weight MatMul except the flow head becomes MatMulInteger (the
window step's unrolled iterations included, which share their weights through Identity nodes), the
encoder's Convs get Q/DQ pairs whose activation ranges come from the calibration frames; the INT8 graphs
stay close to float32 but are not float32; meta.json says what each graph runs in; bad requests fail
with the value named.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

pytest.importorskip("onnxruntime")

import onnxruntime as ort  # noqa: E402

from export.pack import pack_export, unpacked_model  # noqa: E402
from export.quantize import encoder_feeds, quantize_export  # noqa: E402
from export.to_onnx import export_onnx  # noqa: E402
from rt_edge.backends.onnx_meta import read_meta  # noqa: E402
from rt_edge.backends.onnxruntime_backend import OrtExecutor  # noqa: E402
from rt_edge.session import OnlineTracker  # noqa: E402
from rt_edge.video import VideoWriter  # noqa: E402

from ..conftest import lively_small_model, run_command  # noqa: E402
from .test_calibration import MP4_HW as CLIP_HW  # noqa: E402
from .test_calibration import _smooth_frame as _frame  # noqa: E402

SIZE = (64, 96)
GRAPH_NAMES = ("encoder", "query", "window_step", "frame_step")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_torch_thread):
    tmp = tmp_path_factory.mktemp("quant")
    export_onnx(lively_small_model(0.2), tmp / "fp32", image_size=SIZE, max_points=64)
    export_onnx(lively_small_model(0.2), tmp / "packed", image_size=SIZE, max_points=64)
    pack_export(tmp / "packed")
    clip = tmp / "calib.mp4"
    with VideoWriter(clip, 10.0, CLIP_HW) as w:
        for t in range(24):
            w.write(_frame(t))
    quantize_export(tmp / "packed", tmp / "int8", calib=[clip], calib_frames=12, progress=False)
    return {"tmp": tmp, "fp32": tmp / "fp32", "packed": tmp / "packed", "int8": tmp / "int8", "clip": clip}


def _ops(path) -> list[onnx.NodeProto]:
    return list(onnx.load(str(path)).graph.node)


def _session(path_or_model):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    src = path_or_model.SerializeToString() if isinstance(path_or_model, onnx.ModelProto) else str(path_or_model)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def _track(model_dir, schedule: str) -> np.ndarray:
    tracker = OnlineTracker(OrtExecutor(model_dir, threads=1), schedule=schedule, context_points=False)
    tracker.add_queries(np.array([[30.0, 20.0], [60.0, 40.0], [90.0, 50.0], [15.0, 60.0]]), frame=0)
    rows = []
    for t in range(20):
        out = tracker.push(_frame(t))
        if out is not None:
            rows.append(out.xy)
    tail = tracker.flush()
    if tail is not None:
        rows.append(tail.xy)
    return np.concatenate(rows)


def test_unpacking_restores_the_float32_graphs_exactly(setup):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (1, 3, *SIZE)).astype(np.float32)
    packed = unpacked_model(setup["packed"] / "encoder.onnx")
    assert not any(n.op_type == "Cast" and n.input[0].endswith("__fp16") for n in packed.graph.node)
    a = _session(packed).run(None, {"image": image})
    b = _session(setup["fp32"] / "encoder.onnx").run(None, {"image": image})
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_every_weight_matmul_but_the_flow_head_is_int8(setup):
    float_model = unpacked_model(setup["fp32"] / "window_step.onnx")
    meta = read_meta(setup["fp32"])
    iters = meta["iters"]
    for graph, runs in (("window_step", iters), ("frame_step", meta["stream_iters"])):
        nodes = _ops(setup["int8"] / f"{graph}.onnx")
        heads = [n for n in nodes if n.op_type == "MatMul" and "flow_head" in n.name]
        assert len(heads) == runs  # one float head per unrolled iteration
        integer = [n for n in nodes if n.op_type == "MatMulInteger"]
        # the transformer's per unrolled iteration (corr_mlp also runs once more in frame_step, at the end)
        assert integer and len([n for n in integer if "corr_mlp" not in n.name]) % runs == 0
        assert not any("flow_head" in n.name for n in integer)
    # every float32 MatMul reading a weight (directly or through the exporter's Identity) was converted
    inits = {t.name for t in float_model.graph.initializer}
    alias = {n.output[0] for n in float_model.graph.node if n.op_type == "Identity" and n.input[0] in inits}
    weight_matmuls = [n for n in float_model.graph.node if n.op_type == "MatMul"
                      and any(i in inits or i in alias for i in n.input)]
    nodes = _ops(setup["int8"] / "window_step.onnx")
    assert len([n for n in nodes if n.op_type == "MatMulInteger"]) == len(weight_matmuls) - iters
    enc = _ops(setup["int8"] / "encoder.onnx")
    convs = [n for n in enc if n.op_type == "Conv"]
    assert convs and sum(n.op_type == "QuantizeLinear" for n in enc) >= len(convs) // 2


def test_meta_records_each_graphs_precision_and_source(setup):
    meta = json.loads((setup["int8"] / "meta.json").read_text())
    assert set(meta["precision"]) == set(GRAPH_NAMES)
    assert meta["precision"]["query"] == "float32"
    assert meta["precision"]["encoder"].startswith("int8") and "12 calibration frames" in meta["precision"]["encoder"]
    assert meta["precision"]["window_step"].startswith("int8") and "tanh-GELUs as FastGelu" in \
        meta["precision"]["window_step"]
    assert meta["runtime"] == "onnxruntime"
    src = json.loads((setup["packed"] / "meta.json").read_text())
    assert set(meta["quantized_from"]) == set(src["graphs"])
    assert meta["packed"]["weights"] == "weights.bin" and (setup["int8"] / "weights.bin").is_file()


def test_int8_tracks_stay_close_to_float32_and_differ_from_it(setup):
    a = _track(setup["fp32"], "published")
    b = _track(setup["int8"], "published")
    assert a.shape == b.shape
    err = np.abs(a - b).max()
    assert 0 < err < 1.0, err  # caller pixels on a 100-px-wide clip


class _FrameStepShadow:
    """Acts as `primary`; runs `shadow`'s frame_step on the same inputs of every call and keeps the largest
    coordinate gap (model pixels): the int8 graph's own error, without the closed loop's drift."""

    def __init__(self, primary, shadow):
        self.primary, self.shadow, self.gaps = primary, shadow, []

    def __getattr__(self, name):
        return getattr(self.primary, name)

    def frame_step(self, *args):
        out = self.primary.frame_step(*args)
        self.gaps.append(float(np.abs(out[0] - self.shadow.frame_step(*args)[0]).max()))
        return out


def test_int8_frame_step_stays_close_to_float32_on_the_same_inputs(setup):
    """Closed loop, this lively random model turns the int8 error into a steady drift in the stream schedule
    (the newest frame starts from the last two int8 frames' velocity: measured 2.3 px after 20 frames with
    R=1, K=3), so each int8 frame_step call is compared on the float32 run's own inputs instead."""
    spy = _FrameStepShadow(OrtExecutor(setup["fp32"], threads=1), OrtExecutor(setup["int8"], threads=1))
    tracker = OnlineTracker(spy, schedule="stream", context_points=False)
    tracker.add_queries(np.array([[30.0, 20.0], [60.0, 40.0], [90.0, 50.0], [15.0, 60.0]]), frame=0)
    for t in range(20):
        tracker.push(_frame(t))
    assert len(spy.gaps) == 20
    assert 0 < max(spy.gaps) < 0.2, spy.gaps  # measured 0.08 (7-bit weights; 1.7 with 8 on AVX2 without VNNI)


def _int8_weights(path) -> list[np.ndarray]:
    m = unpacked_model(path)
    return [onnx.numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8
            and t.dims and np.prod(t.dims) > 1]


def test_weights_use_7_bits_unless_asked_for_8(setup, tmp_path):
    """7-bit weights (reduce_range): no int16 pair sum of uint8 x int8 can saturate on AVX2 CPUs without VNNI."""
    for graph in ("encoder", "window_step", "frame_step"):
        w = _int8_weights(setup["int8"] / f"{graph}.onnx")
        assert w and max(int(np.abs(a).max()) for a in w) <= 64, graph
    meta = json.loads((setup["int8"] / "meta.json").read_text())
    assert all("in 7 bits" in meta["precision"][g] for g in ("encoder", "window_step", "frame_step"))
    quantize_export(setup["packed"], tmp_path / "full", graphs=["window_step"], full_range_weights=True,
                    progress=False)
    w = _int8_weights(tmp_path / "full" / "window_step.onnx")
    assert max(int(np.abs(a).max()) for a in w) == 127
    assert "7 bits" not in json.loads((tmp_path / "full" / "meta.json").read_text())["precision"]["window_step"]


def test_calibration_ranges_follow_the_frames(setup, tmp_path):
    """The encoder's activation scales come from the calibration frames: darker frames, other scales."""
    dark = tmp_path / "dark.mp4"
    with VideoWriter(dark, 10.0, CLIP_HW) as w:
        for t in range(8):
            w.write((_frame(t) // 8).astype(np.uint8))
    quantize_export(setup["fp32"], tmp_path / "dark_int8", calib=[dark], graphs=["encoder"], progress=False)

    def first_scale(d):
        m = onnx.load(str(d / "encoder.onnx"))
        q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear")
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
        return float(inits[q.input[1]])

    def expected_scale(clip, frames):  # uint8 MinMax over the first Conv's input, the image scaled to [-1, 1]
        x = np.stack([f["image"] for f in encoder_feeds([clip], SIZE, frames)]) / 255.0 * 2 - 1
        return (max(x.max(), 0.0) - min(x.min(), 0.0)) / 255

    assert first_scale(tmp_path / "dark_int8") == pytest.approx(expected_scale(dark, 64), rel=1e-5)
    assert first_scale(setup["int8"]) == pytest.approx(expected_scale(setup["clip"], 12), rel=1e-5)
    assert first_scale(tmp_path / "dark_int8") < 0.7 * first_scale(setup["int8"])
    feeds = encoder_feeds([dark], SIZE, 100)
    assert len(feeds) == 8 and feeds[0]["image"].shape == (1, 3, *SIZE)
    meta = json.loads((tmp_path / "dark_int8" / "meta.json").read_text())
    assert meta["precision"]["window_step"] == "float32" and meta["precision"]["encoder"].startswith("int8")


def test_bad_requests_name_the_value(setup, tmp_path):
    with pytest.raises(ValueError, match="needs calibration frames"):
        quantize_export(setup["fp32"], tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="some of encoder, window_step, frame_step, got query"):
        quantize_export(setup["fp32"], tmp_path / "b", graphs=["query"], progress=False)
    with pytest.raises(ValueError, match="must differ"):
        quantize_export(setup["fp32"], setup["fp32"], graphs=["window_step"], progress=False)
    with pytest.raises(ValueError, match="not empty"):
        quantize_export(setup["fp32"], setup["int8"], graphs=["window_step"], progress=False)
    with pytest.raises(ValueError, match="plain float32 export"):
        quantize_export(setup["int8"], tmp_path / "c", graphs=["window_step"], progress=False)
    with pytest.raises(ValueError, match="positive int"):
        quantize_export(setup["fp32"], tmp_path / "d", calib=[setup["clip"]], calib_frames=0, progress=False)
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(ValueError, match="neither a video"):
        quantize_export(setup["fp32"], tmp_path / "e", calib=[notes], progress=False)


def test_cli_onnx_int8_writes_the_quantized_export(setup, tmp_path):
    ckpt = tmp_path / "small.pth"
    model = lively_small_model(0.2)
    torch.save({"config": model.cfg.to_dict(), "state_dict": model.state_dict()}, ckpt)
    out = tmp_path / "cli_int8"
    r = run_command("export", "onnx", "--checkpoint", str(ckpt), "--out", str(out),
                        "--image-size", *map(str, SIZE), "--max-points", "64", "--int8", str(setup["clip"]),
                        "--calib-frames", "6")
    assert r.returncode == 0, r.stderr
    assert "encoder: int8" in r.stdout and "query: float32" in r.stdout
    meta = json.loads((out / "meta.json").read_text())
    assert "6 calibration frames" in meta["precision"]["encoder"]
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{g}.onnx" for g in GRAPH_NAMES]
                                                           + ["meta.json", "weights.bin"])
    r = run_command("export", "quantize", "--onnx-dir", str(setup["fp32"]), "--out",
                        str(tmp_path / "x"))
    assert r.returncode == 2 and "needs calibration frames" in r.stderr
