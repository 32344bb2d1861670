"""`export onnx --pack`: the same graphs in a few MB, for shipping inside the package.

Two lossless steps over an export directory:
  - float32 weights that float16 holds exactly (all of them for weights trained and saved in fp16, as the
    package's default model is) are stored as float16 and cast back to float32 by a Cast node; onnxruntime folds
    the cast when it loads the graph, so the arithmetic is unchanged;
  - every weight is written once into one shared file, WEIGHTS_FILE, that all graphs reference as ONNX external
    data (window_step and frame_step hold the same transformer).
meta.json records {"packed": {"weights": WEIGHTS_FILE, "fp16_exact": count, ...}}.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from rt_edge.backends.onnx_meta import META_FILE, read_meta

WEIGHTS_FILE = "weights.bin"
MIN_EXTERNAL_BYTES = 1024  # smaller tensors stay inside their graph


def _fp16_exact(graph: onnx.GraphProto) -> int:
    """Replace float32 initializers that float16 represents exactly by float16 ones plus a Cast; -> count."""
    count = 0
    inits = list(graph.initializer)
    new_nodes = []
    for t in inits:
        if t.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t)
        if a.size * 4 < MIN_EXTERNAL_BYTES:
            continue
        with np.errstate(over="ignore"):
            h = a.astype(np.float16)
        if not np.array_equal(h.astype(np.float32), a, equal_nan=True):
            continue
        half = numpy_helper.from_array(h, t.name + "__fp16")
        graph.initializer.remove(t)
        graph.initializer.append(half)
        new_nodes.append(helper.make_node("Cast", [half.name], [t.name], to=TensorProto.FLOAT,
                                          name=t.name + "__cast"))
        count += 1
    for i, n in enumerate(new_nodes):  # before every consumer: a graph's nodes must be in topological order
        graph.node.insert(i, n)
    return count


def _externalise(model: onnx.ModelProto, blob, offsets: dict[str, tuple[int, int]]) -> None:
    """Point the model's large initializers at the shared weights file, appending bytes not seen before."""
    for t in model.graph.initializer:
        if not t.HasField("raw_data"):
            raw = numpy_helper.from_array(numpy_helper.to_array(t), t.name).raw_data
        else:
            raw = t.raw_data
        if len(raw) < MIN_EXTERNAL_BYTES:
            continue
        key = hashlib.sha256(raw).hexdigest() + str(t.data_type)
        if key not in offsets:
            pos = blob.tell()
            pad = (-pos) % 64  # aligned, so the runtime may map it
            blob.write(b"\0" * pad)
            offsets[key] = (pos + pad, len(raw))
            blob.write(raw)
        off, length = offsets[key]
        dims, dtype, name = list(t.dims), t.data_type, t.name
        t.Clear()
        t.name, t.data_type = name, dtype
        t.dims.extend(dims)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", WEIGHTS_FILE), ("offset", str(off)), ("length", str(length))):
            e = t.external_data.add()
            e.key, e.value = k, v


def unpacked_model(path: str | Path) -> onnx.ModelProto:
    """One graph of an export as plain float32 ONNX with its weights inside: a packed graph's float16-exact
    weights and their Cast nodes folded back (exactly), external data loaded. What tools that look for
    weights as initializers of their consumers (onnxruntime's quantizer) need."""
    model = onnx.load(str(path))  # external data is read from the graph's directory
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    casts = [n for n in g.node if n.op_type == "Cast" and n.input[0] in inits
             and inits[n.input[0]].data_type == TensorProto.FLOAT16]
    for n in casts:
        half = inits[n.input[0]]
        g.initializer.remove(half)
        g.initializer.append(numpy_helper.from_array(numpy_helper.to_array(half).astype(np.float32), n.output[0]))
        g.node.remove(n)
    return model


def pack_models(models: dict[str, onnx.ModelProto], out_dir: Path, files: dict[str, str]) -> dict:
    """Write each model (weights inside) to out_dir / files[name], its weights in the shared WEIGHTS_FILE,
    float16 where exact; -> the meta's "packed" record."""
    offsets: dict[str, tuple[int, int]] = {}
    exact = 0
    with open(out_dir / WEIGHTS_FILE, "wb") as blob:
        for model in models.values():
            exact += _fp16_exact(model.graph)
            _externalise(model, blob, offsets)
    for name, model in models.items():
        onnx.save(model, str(out_dir / files[name]))
    return {"weights": WEIGHTS_FILE, "fp16_exact": exact, "shared_tensors": len(offsets),
            "weights_mb": round((out_dir / WEIGHTS_FILE).stat().st_size / 2**20, 2)}


def pack_export(model_dir: str | Path) -> dict:
    """Rewrite an export directory in place as described in the module docstring; returns the meta."""
    d = Path(model_dir)
    meta = read_meta(d)
    if meta.get("packed"):
        raise ValueError(f"{d} is packed already")
    if meta.get("fp16") or meta.get("corr4d_plugin"):
        raise ValueError(f"{d}: --pack is for plain float32 exports (this one has fp16={meta.get('fp16')}, "
                         f"corr4d_plugin={meta.get('corr4d_plugin')})")
    models = {name: onnx.load(str(d / g["file"])) for name, g in meta["graphs"].items()}
    meta["packed"] = pack_models(models, d, {name: g["file"] for name, g in meta["graphs"].items()})
    (d / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta
