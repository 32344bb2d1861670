"""Rewrite an exported float32 ONNX graph to compute in float16, keeping float32 inputs and outputs.

Used by `python -m export onnx --fp16`: half the file size and fp16 kernels on runtimes that have
them (onnxruntime's CUDA provider, TensorRT), while callers keep feeding and reading float32.
The rewrite is done on the graph rather than by tracing a `.half()` model because the CPU tracer
cannot run every op in half precision.

What changes: float initialisers and Constant/ConstantOfShape values become float16, Cast nodes
that produced float32 produce float16, each float32 graph input gets a Cast to float16 and each
float32 output a Cast back. Inputs that an op requires in float32 (Resize scales) stay float32.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FP16_MAX = float(np.finfo(np.float16).max)

# (op_type, input index) that the ONNX spec types as float32 only.
_KEEP_FLOAT32_INPUTS = {("Resize", 2)}


def _half(t: onnx.TensorProto) -> onnx.TensorProto:
    a = numpy_helper.to_array(t)
    finite = a[np.isfinite(a)]
    if finite.size and np.abs(finite).max() > FP16_MAX:
        raise ValueError(f"tensor {t.name!r} has values up to {np.abs(finite).max():.3g}, outside float16's "
                         f"range (+-{FP16_MAX:.0f}); export without --fp16")
    return numpy_helper.from_array(a.astype(np.float16), t.name)


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16-compute copy of `model` with the same float32 input/output signature."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    keep32 = {n.input[i] for n in g.node for op, i in _KEEP_FLOAT32_INPUTS if n.op_type == op and len(n.input) > i}

    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT and t.name not in keep32:
            g.initializer[i].CopyFrom(_half(t))
    for n in g.node:
        if n.op_type == "Cast":
            for a in n.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT and not set(n.output) & keep32:
                    a.i = TensorProto.FLOAT16
        elif n.op_type in ("Constant", "ConstantOfShape") and not set(n.output) & keep32:
            for a in n.attribute:
                if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                    a.t.CopyFrom(_half(a.t))

    casts_in, casts_out = [], []
    for inp in g.input:
        if inp.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = inp.name + "_fp16"
        for n in g.node:
            n.input[:] = [half if x == inp.name else x for x in n.input]
        casts_in.append(helper.make_node("Cast", [inp.name], [half], to=TensorProto.FLOAT16, name=half + "_cast"))
    for out in g.output:
        if out.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = out.name + "_fp16"
        for n in g.node:
            n.output[:] = [half if x == out.name else x for x in n.output]
            n.input[:] = [half if x == out.name else x for x in n.input]
        casts_out.append(helper.make_node("Cast", [half], [out.name], to=TensorProto.FLOAT, name=out.name + "_cast"))
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]  # stale element types; re-inferred below
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)
