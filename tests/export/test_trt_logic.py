"""The TensorRT path's pure logic and its guard rails, checked without TensorRT (not installable here)."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import rt_edge
from export.trt_audit import audit_graph
from export.trt_build import precision_flags, profile_shapes
from rt_edge.backends.trt_meta import check_engine_compatible, engine_metadata

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None

META = {
    "max_points": 512,
    "graphs": {
        "encoder": {"inputs": {"image": [1, 3, 384, 512]}},
        "query": {"inputs": {"fmap_0": [128, 96, 128], "xy": ["points", 2]}},
        "window_step": {"inputs": {"coords": [16, "points", 2], "query_feats": ["points", 4, 7, 7, 128]}},
    },
}


def test_profile_varies_only_the_points_axis():
    p = profile_shapes(META, (1, 100, 512))
    assert p["encoder"]["image"] == ([1, 3, 384, 512],) * 3
    assert p["window_step"]["coords"] == ([16, 1, 2], [16, 100, 2], [16, 512, 2])
    assert p["query"]["xy"] == ([1, 2], [100, 2], [512, 2])
    with pytest.raises(ValueError, match="exceeds the export's max_points 512"):
        profile_shapes(META, (1, 100, 1024))
    with pytest.raises(ValueError, match="MIN <= OPT <= MAX"):
        profile_shapes(META, (10, 5, 100))


def test_precision_flags_refuse_what_the_device_lacks():
    orin = {"fast_fp16": True, "fast_int8": True, "compute_capability": (8, 7)}
    assert precision_flags(True, False, False, orin) == ["FP16"]
    assert precision_flags(True, True, False, orin) == ["FP16", "INT8"]
    with pytest.raises(ValueError, match="compute capability >= 8.9"):
        precision_flags(False, False, True, orin)
    assert precision_flags(True, False, True, {**orin, "compute_capability": (9, 0)}) == ["FP16", "FP8"]
    with pytest.raises(ValueError, match="no fast FP16"):
        precision_flags(True, False, False, {"fast_fp16": False})


def test_plans_from_another_gpu_or_tensorrt_are_refused():
    meta = engine_metadata("10.3.0", "Orin", (8, 7), "FP16", (1, 256, 1024), "abc")
    check_engine_compatible(meta, "10.3.0", "Orin", (8, 7))  # same machine: accepted
    with pytest.raises(ValueError, match="TensorRT 10.3.0, this machine has 10.8.0"):
        check_engine_compatible(meta, "10.8.0", "Orin", (8, 7))
    with pytest.raises(ValueError, match="built for Orin \\(sm_87\\), this GPU is NVIDIA H100 \\(sm_90\\)"):
        check_engine_compatible(meta, "10.3.0", "NVIDIA H100", (9, 0))


def _tiny_graph(tmp_path, op="Relu", domain="", init=None, dim="points"):
    init = np.ones(2, np.float32) if init is None else init
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [dim, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [dim, 2])
    nodes = [helper.make_node("Add", ["x", "w"], ["h"]), helper.make_node(op, ["h"], ["y"], domain=domain)]
    graph = helper.make_graph(nodes, "g", [x], [y], [numpy_helper.from_array(init, "w")])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


def test_audit_finds_what_tensorrt_would_reject(tmp_path):
    assert audit_graph(_tiny_graph(tmp_path)) == []
    assert any("Unique" in p for p in audit_graph(_tiny_graph(tmp_path, op="Unique")))
    assert any("some.vendor::Fancy" in p for p in audit_graph(_tiny_graph(tmp_path, op="Fancy", domain="some.vendor")))
    assert audit_graph(_tiny_graph(tmp_path, op="Corr4D", domain="rt_edge")) == []  # the plugin's op
    big = _tiny_graph(tmp_path, init=np.full(2, 1e6, np.float32))
    assert any("float16 range" in p for p in audit_graph(big, fp16=True))
    assert audit_graph(_tiny_graph(tmp_path, init=np.full(2, 1e6, np.float32))) == []  # fine in fp32
    assert any("dynamic axis 'frames'" in p for p in audit_graph(_tiny_graph(tmp_path, dim="frames")))


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed: the missing-TensorRT message cannot be shown")
def test_tensorrt_backend_without_tensorrt_says_so(tmp_path):
    with pytest.raises(ValueError, match="needs TensorRT 10"):
        rt_edge.OnlineTracker.load(tmp_path, backend="tensorrt")


def test_plugin_library_comes_from_the_env_or_the_build():
    from rt_edge.backends.trt_meta import PLUGIN_ENV, plugin_library

    plain, fused = {"corr4d_plugin": False}, {"corr4d_plugin": True}
    assert plugin_library(plain, {}, {}) is None
    assert plugin_library(fused, {"plugin": "/b/lib.so"}, {}) == "/b/lib.so"
    assert plugin_library(fused, {"plugin": "/b/lib.so"}, {PLUGIN_ENV: "/e/lib.so"}) == "/e/lib.so"
    with pytest.raises(ValueError, match=PLUGIN_ENV):
        plugin_library(fused, {}, {})


def test_trt_build_of_a_plugin_export_needs_the_plugin_before_anything_else(tmp_path):
    import json

    from export.trt_build import build_engines
    from rt_edge.backends.onnx_meta import GRAPHS

    from ..conftest import SMALL

    graphs = {g: {"file": f"{g}.onnx", "inputs": {"image": [1, 3, 64, 96]}} for g in GRAPHS}
    for g in GRAPHS:
        (tmp_path / f"{g}.onnx").write_bytes(b"")
    meta = {"format": "rt-edge-onnx/1", "config": SMALL.to_dict(), "image_size": [64, 96], "iters": 1,
            "max_points": 8, "window_len": SMALL.window_len, "graphs": graphs, "corr4d_plugin": True}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="--plugin"):
        build_engines(tmp_path, fp16=True)
