"""Graph rewrites for onnxruntime only: subgraphs that onnxruntime's own optimizer leaves unfused.

The tanh-approximated GELU of the transformer MLPs is exported by torch as nine elementwise nodes
    y = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x * x * x)))
that onnxruntime runs as nine passes over the (tokens, 4 * hidden) activations (about a fifth of
frame_step's time on the CPU). `fuse_tanh_gelu` replaces each by one com.microsoft FastGelu node, the
same formula in one pass. Graphs rewritten here need onnxruntime (TensorRT's parser has no FastGelu);
the INT8 export, which is onnxruntime's anyway, gets them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
from onnx import helper, numpy_helper

from rt_edge.backends.onnx_meta import META_FILE, read_meta

MS_DOMAIN = "com.microsoft"
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _constants(graph: onnx.GraphProto) -> dict[str, float]:
    """Scalar constants of the graph by tensor name (Constant nodes and initializers of one element)."""
    out = {}
    for t in graph.initializer:
        if math.prod(t.dims) == 1:
            out[t.name] = float(numpy_helper.to_array(t).reshape(()))
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            a = numpy_helper.to_array(n.attribute[0].t)
            if a.size == 1:
                out[n.output[0]] = float(a.reshape(()))
    return out


def _is(value: float | None, want: float) -> bool:
    return value is not None and abs(value - want) <= 1e-6 * max(1.0, abs(want))


def _split(node: onnx.NodeProto, consts: dict[str, float]) -> tuple[float | None, str | None]:
    """A binary node with one scalar constant input -> (constant, the other input)."""
    a, b = node.input
    if a in consts:
        return consts[a], b
    if b in consts:
        return consts[b], a
    return None, None


def fuse_tanh_gelu(model: onnx.ModelProto) -> int:
    """Replace every exported tanh-GELU of `model` by a FastGelu node, in place; -> how many."""
    g = model.graph
    consts = _constants(g)
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def prod(name: str, op: str) -> onnx.NodeProto | None:
        n = producer.get(name)
        return n if n is not None and n.op_type == op else None

    def only_consumer(name: str, op: str) -> onnx.NodeProto | None:
        c = consumers.get(name, [])
        return c[0] if len(c) == 1 and c[0].op_type == op else None

    def cube_of(name: str) -> tuple[str, list[onnx.NodeProto]] | None:
        """(x, its two Mul nodes) when `name` is x * (x * x), either operand order."""
        m1 = prod(name, "Mul")
        for x, sq in ((m1.input, reversed(m1.input)) if m1 is not None else ()):
            m0 = prod(sq, "Mul")
            if m0 is not None and list(m0.input) == [x, x]:
                return x, [m0, m1]
        return None

    fused, remove = 0, []
    for tanh in [n for n in g.node if n.op_type == "Tanh"]:
        scale = prod(tanh.input[0], "Mul")
        if scale is None:
            continue
        c, inner = _split(scale, consts)
        add = prod(inner, "Add") if _is(c, _SQRT_2_OVER_PI) else None
        if add is None:
            continue
        x = None
        for a, b in (add.input, reversed(add.input)):
            m2 = prod(b, "Mul")
            k, cube = _split(m2, consts) if m2 is not None else (None, None)
            found = cube_of(cube) if _is(k, 0.044715) else None
            if found is not None and found[0] == a:
                x, cube_nodes = a, found[1] + [m2]
        if x is None:
            continue
        plus1 = only_consumer(tanh.output[0], "Add")
        if plus1 is None or not _is(_split(plus1, consts)[0], 1.0):
            continue
        times_x = only_consumer(plus1.output[0], "Mul")
        if times_x is None or x not in times_x.input:
            continue
        half = only_consumer(times_x.output[0], "Mul")
        if half is None or not _is(_split(half, consts)[0], 0.5):
            continue
        remove += cube_nodes + [add, scale, tanh, plus1, times_x, half]
        at = list(g.node).index(half)
        g.node.insert(at, helper.make_node("FastGelu", [x], [half.output[0]], domain=MS_DOMAIN,
                                           name=f"{half.name}/FastGelu"))
        fused += 1
    for n in remove:
        g.node.remove(n)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for n in [n for n in g.node if n.op_type == "Constant" and n.output[0] not in used]:
        g.node.remove(n)  # the scalars of the replaced formula
    if fused and not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return fused


def fuse_export(model_dir: str | Path) -> dict:
    """Rewrite the graphs of a plain (unpacked) export directory in place; meta.json records
    "ort_fused": {graph: FastGelu nodes} and "runtime": "onnxruntime". -> the meta."""
    d = Path(model_dir)
    meta = read_meta(d)
    if meta.get("packed") or meta.get("corr4d_plugin"):
        raise ValueError(f"{d}: fuse before packing, and not with --corr4d-plugin (a TensorRT graph)")
    counts = {}
    for name, g in meta["graphs"].items():
        model = onnx.load(str(d / g["file"]))
        counts[name] = fuse_tanh_gelu(model)
        if counts[name]:
            onnx.save(model, str(d / g["file"]))
    meta.update(ort_fused=counts, runtime="onnxruntime")
    (d / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta
