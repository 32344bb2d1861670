"""Checks on exported graphs: onnx.checker with full shape inference, and an op inventory."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


import onnx
from onnx import numpy_helper

from rt_edge.backends.onnx_meta import read_meta


def check_graph(path: str | Path) -> dict:
    """Run the full ONNX checker (with shape inference); -> op counts, node count, parameter size."""
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    ops = Counter(n.op_type for n in inferred.graph.node)
    size = sum(numpy_helper.to_array(t).nbytes for t in inferred.graph.initializer)
    f64 = [t.name for t in inferred.graph.initializer if t.data_type == onnx.TensorProto.DOUBLE]
    return {"ops": dict(ops), "nodes": len(inferred.graph.node), "params_mb": size / 2**20, "float64": f64,
            "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))}


def check_export(model_dir: str | Path) -> dict[str, dict]:
    meta = read_meta(model_dir)
    return {name: check_graph(Path(model_dir) / g["file"]) for name, g in meta["graphs"].items()}



