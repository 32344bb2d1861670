"""`export.ort_fuse`: the exported tanh-GELUs become onnxruntime FastGelu nodes, with the same values.

Checked on hand-built graphs (the formula in float64 is the reference; operands in either order; a
near-miss constant is left alone) and on a tiny export, whose tracks through the rewritten graphs match
the original's.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("onnxruntime")

import onnxruntime as ort  # noqa: E402

from export.ort_fuse import fuse_export, fuse_tanh_gelu  # noqa: E402
from export.to_onnx import export_onnx  # noqa: E402
from export.trt_audit import audit_export  # noqa: E402
from rt_edge.backends.onnxruntime_backend import OrtExecutor  # noqa: E402
from rt_edge.session import OnlineTracker  # noqa: E402

from ..conftest import lively_small_model  # noqa: E402


def _gelu_graph(cubic: float = 0.044715, swap: bool = False) -> onnx.ModelProto:
    """y = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + cubic * x^3))) in the exporter's nine nodes, then y + 1."""
    def c(name, v):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(v, np.float32)))

    def mul(a, b, out):
        return helper.make_node("Mul", [b, a] if swap else [a, b], [out])

    nodes = [c("k3", cubic), c("k", math.sqrt(2 / math.pi)), c("one", 1.0), c("half", 0.5), c("extra", 1.0),
             helper.make_node("Mul", ["x", "x"], ["x2"]), mul("x", "x2", "x3"), mul("k3", "x3", "cx3"),
             helper.make_node("Add", ["x", "cx3"], ["inner"]), mul("k", "inner", "scaled"),
             helper.make_node("Tanh", ["scaled"], ["t"]), helper.make_node("Add", ["one", "t"], ["t1"]),
             mul("x", "t1", "xt"), mul("half", "xt", "y"), helper.make_node("Add", ["y", "extra"], ["out"])]
    g = helper.make_graph(nodes, "gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 7])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4, 7])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("swap", [False, True])
def test_the_nine_nodes_become_one_with_the_formulas_values(swap):
    model = _gelu_graph(swap=swap)
    assert fuse_tanh_gelu(model) == 1
    ops = [n.op_type for n in model.graph.node if n.op_type != "Constant"]
    assert ops == ["FastGelu", "Add"]
    x = np.random.default_rng(0).normal(0, 3, (4, 7)).astype(np.float32)
    x64 = x.astype(np.float64)
    want = 0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64**3))) + 1
    np.testing.assert_allclose(_run(model, {"x": x})[0], want, rtol=1e-5, atol=1e-5)


def test_a_different_constant_is_not_taken_for_gelu():
    model = _gelu_graph(cubic=0.04)
    before = len(model.graph.node)
    assert fuse_tanh_gelu(model) == 0 and len(model.graph.node) == before


def test_fused_export_tracks_like_the_original_and_is_marked_onnxruntime_only(tmp_path, one_torch_thread):
    plain, fused = tmp_path / "plain", tmp_path / "fused"
    for d in (plain, fused):
        export_onnx(lively_small_model(0.2), d, image_size=(64, 96), max_points=32)
    tanh_before = sum(n.op_type == "Tanh" for n in onnx.load(str(fused / "window_step.onnx")).graph.node)
    meta = fuse_export(fused)
    assert meta["runtime"] == "onnxruntime" and json.loads((fused / "meta.json").read_text())["ort_fused"] == \
        meta["ort_fused"]
    ws = onnx.load(str(fused / "window_step.onnx")).graph.node
    assert meta["ort_fused"]["window_step"] == tanh_before > 0
    assert sum(n.op_type == "FastGelu" for n in ws) == tanh_before and not any(n.op_type == "Tanh" for n in ws)
    assert meta["ort_fused"]["encoder"] == 0 and meta["ort_fused"]["frame_step"] > 0
    assert any("FastGelu" in p for p in audit_export(fused)["window_step"])  # not for TensorRT any more
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (72, 120, 3), dtype=np.uint8) for _ in range(14)]
    for schedule in ("published", "stream"):
        out = []
        for d in (plain, fused):
            tr = OnlineTracker(OrtExecutor(d, threads=1), schedule=schedule, context_points=False)
            tr.add_queries(np.array([[20.0, 30.0], [80.0, 40.0]]), frame=0)
            rows = [r.xy for r in (tr.push(f) for f in frames) if r is not None]
            tail = tr.flush()
            out.append(np.concatenate(rows + ([tail.xy] if tail is not None else [])))
        np.testing.assert_allclose(out[1], out[0], atol=1e-3)
        assert np.abs(out[0] - out[0][0]).max() > 0.1  # the tracks move: the comparison means something
