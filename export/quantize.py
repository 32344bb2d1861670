"""`python -m export quantize`: an INT8 copy of an ONNX export for onnxruntime on the CPU.

Two onnxruntime quantizations, one per kind of graph, chosen by what they cost in accuracy here:
  encoder:                  static QDQ: int8 weights per output channel, uint8 activations whose ranges are
                            calibrated on frames as the runtime feeds them (`calibration.encoder_batch`:
                            resized by the runtime's own `resize_aligned`), taken from a folder of images /
                            videos or a cache of `python -m export calib`;
  window_step, frame_step:  dynamic int8 MatMul (the linear layers of corr_mlp and the update transformer):
                            weights int8, each activation quantized from its own range at run time, so
                            nothing depends on how well calibration frames cover the points' tokens. The
                            flow head (the last linear layer, which writes the coordinate and visibility
                            updates) stays float32, as does all coordinate arithmetic (sampling, the
                            correlations, the positional encodings are not MatMuls of weights).
  query:                    float32 (it only samples features; nothing to gain).

Weights use 7 of their 8 bits by default (onnxruntime's reduce_range). On x86 CPUs with AVX2 but no VNNI, the
uint8 x int8 kernels add pairs of products in int16, which saturates with full-range weights: measured on an AMD
EPYC (AVX2 only), one frame_step call of the test model was 1.7 px off float32 with 8-bit weights and 0.08 px with
7-bit ones, against 0.06 px for 8-bit weights on a CPU with VNNI. With 7 bits no sum can saturate, so the same
file gives the same integers on every CPU; `full_range_weights=True` (`--full-range-weights`) keeps all 8 bits
for exports that only run on VNNI or ARM CPUs.

window_step and frame_step get their tanh-GELUs fused (`ort_fuse`): the INT8 export is for onnxruntime
only (meta "runtime"). Graphs not named keep their float32 file. meta.json gets "precision": {graph: description} for every graph
and "quantized_from" (the source's sha256 per graph), so what runs in INT8 is never implicit.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from rt_edge.backends.onnx_meta import INT8_GRAPHS, META_FILE, read_meta
from rt_edge.video import VIDEO_EXTENSIONS

from .calibration import (calibration_batches, calibration_sources, encoder_batch, frame_budget,
                          is_calibration_cache, read_calibration, sha256_file)
from .ort_fuse import fuse_tanh_gelu
from .pack import pack_models, unpacked_model

DEFAULT_INT8 = INT8_GRAPHS
KEEP_FLOAT = ("flow_head",)  # node-name parts of MatMuls left in float32 (the coordinate/visibility head)


def _clips(paths: Sequence[Path]) -> list[Path]:
    """Video files as given, folders as `calibration_sources` reads them."""
    out = []
    for p in paths:
        if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
            out.append(p)
        elif p.is_file():
            raise ValueError(f"calibration source {p} is neither a video ({' '.join(VIDEO_EXTENSIONS)}) nor a folder")
        else:
            out += calibration_sources(p)
    return out


def encoder_feeds(calib: Sequence[str | Path], image_hw: tuple[int, int], max_frames: int
                  ) -> list[dict[str, np.ndarray]]:
    """Encoder feeds {"image": (1, 3, H, W)} from one `export calib` cache, or from video files and folders of
    images / videos (at most max_frames, shared evenly between the clips)."""
    paths = [Path(c) for c in calib]
    if len(paths) == 1 and is_calibration_cache(paths[0]):
        manifest = read_calibration(paths[0])
        if list(manifest["image_size"]) != list(image_hw):
            raise ValueError(f"the calibration cache {paths[0]} is for {manifest['image_size'][0]}x"
                             f"{manifest['image_size'][1]} images, this export runs at {image_hw[0]}x{image_hw[1]}")
        if "encoder" not in manifest["graphs"]:
            raise ValueError(f"the calibration cache {paths[0]} has no encoder batches")
        return list(calibration_batches(paths[0], "encoder", manifest))[:max_frames]
    from rt_edge.video import open_source

    sources = _clips(paths)
    lengths = []
    for path in sources:
        with open_source(path) as src:
            lengths.append(src.num_frames)
    feeds = []
    for path, take in zip(sources, frame_budget(lengths, max_frames), strict=True):
        with open_source(path) as src:
            for i, frame in enumerate(src):
                if i >= take:
                    break
                feeds.append({"image": encoder_batch(frame, image_hw)})
    return feeds


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of feeds (imported lazily, so no base class)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # not needed by MinMax, present for the protocol
        pass


def _unshare_weights(model: onnx.ModelProto) -> None:
    """Give every MatMul its own copy of a weight it shares with others (window_step's unrolled iterations
    share one transformer): onnxruntime's quantizer converts a shared weight for its first consumer only.
    Packing stores the identical int8 copies once again."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity" and n.input[0] in inits}
    seen: set[str] = set()
    for node in g.node:
        if node.op_type != "MatMul":
            continue
        for i, name in enumerate(node.input):
            name = alias.get(name, name)  # the exporter passes a reused weight through Identity nodes
            if name not in inits:
                continue
            if name in seen:
                copy = onnx.TensorProto()
                copy.CopyFrom(inits[name])
                copy.name = f"{name}__{node.name or len(seen)}"
                g.initializer.append(copy)
                node.input[i] = copy.name
            seen.add(name)


def _drop_unused(model: onnx.ModelProto) -> None:
    """Remove nodes and initializers nothing reads any more (the float weights the quantizer replaced)."""
    g = model.graph
    needed = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
    del g.node[:]
    g.node.extend(reversed(keep))
    unused = [t for t in g.initializer if t.name not in needed]
    for t in unused:
        g.initializer.remove(t)


def _keep_float_nodes(model: onnx.ModelProto) -> list[str]:
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and any(k in n.name for k in KEEP_FLOAT)]


def _quantize_graph(graph: str, model: onnx.ModelProto, out_path: Path, frames: list[dict] | None,
                    full_range: bool) -> str:
    """Write the INT8 form of one graph to out_path; returns its precision description."""
    root = logging.getLogger()  # the quantizer warns per node on the root logger
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        return _quantize_quietly(graph, model, out_path, frames, full_range)
    finally:
        root.setLevel(level)


def _quantize_quietly(graph: str, model: onnx.ModelProto, out_path: Path, frames: list[dict] | None,
                      full_range: bool) -> str:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    bits = "" if full_range else " in 7 bits"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{graph}.onnx"
        if graph != "encoder":
            _unshare_weights(model)
        onnx.save(model, str(src))
        if graph == "encoder":
            quantize_static(str(src), str(out_path), _Reader(frames), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=["Conv"], calibrate_method=CalibrationMethod.MinMax,
                            reduce_range=not full_range)
            return (f"int8: Conv weights per channel{bits}, uint8 activations (static QDQ, MinMax ranges from "
                    f"{len(frames)} calibration frames)")
        keep = _keep_float_nodes(model)
        quantize_dynamic(str(src), str(out_path), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                         nodes_to_exclude=keep, reduce_range=not full_range)
    quantized = onnx.load(str(out_path))
    fused = fuse_tanh_gelu(quantized)  # after: the quantizer's shape inference does not know FastGelu
    onnx.save(quantized, str(out_path))
    n = sum(1 for node in quantized.graph.node if node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul"))
    return (f"int8: {n} MatMuls of weights dynamic (int8 weights per tensor{bits}, activations quantized per call); "
            f"float32: {len(keep)} flow-head MatMul(s), attention and all coordinate arithmetic; "
            f"{fused} tanh-GELUs as FastGelu")


def quantize_export(onnx_dir: str | Path, out_dir: str | Path, calib: Sequence[str | Path] = (),
                    graphs: Sequence[str] = DEFAULT_INT8, calib_frames: int = 64,
                    progress: bool = True, full_range_weights: bool = False) -> dict[str, Any]:
    """Write an INT8 copy of the float32 export onnx_dir into out_dir (see the module docstring); returns its meta.

    calib: calibration frames for the encoder (video files and folders of images / videos, or one `export calib`
    cache); needed only when graphs includes the encoder. calib_frames: most calibration frames.
    full_range_weights: 8-bit instead of 7-bit weights, for CPUs with VNNI or ARM only (see the module docstring).
    """
    src, out = Path(onnx_dir), Path(out_dir)
    meta = read_meta(src)
    graphs = tuple(graphs)
    bad = [g for g in graphs if g not in INT8_GRAPHS]
    if bad or not graphs:
        raise ValueError(f"graphs to quantize must be some of {', '.join(INT8_GRAPHS)}, got "
                         f"{' '.join(graphs) or 'nothing'}")
    graphs = tuple(g for g in graphs if g in meta["graphs"])
    if meta.get("fp16") or meta.get("corr4d_plugin") or meta.get("precision"):
        raise ValueError(f"{src}: quantize a plain float32 export (this one has fp16={meta.get('fp16')}, "
                         f"corr4d_plugin={meta.get('corr4d_plugin')}, precision={meta.get('precision')})")
    if isinstance(calib_frames, bool) or not isinstance(calib_frames, int) or calib_frames < 1:
        raise ValueError(f"calib_frames must be a positive int, got {calib_frames!r}")
    if out.resolve() == src.resolve():
        raise ValueError(f"--out must differ from --onnx-dir ({src}): the float32 export is the source")
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} exists and is not empty; choose another --out")
    frames = None
    if "encoder" in graphs:
        if isinstance(calib, (str, Path)):
            calib = [calib]
        if not calib:
            raise ValueError("quantizing the encoder needs calibration frames (--calib VIDEO|FOLDER|CACHE ...), or "
                             "leave it out of --graphs")
        frames = encoder_feeds(calib, tuple(meta["image_size"]), calib_frames)
        if not frames:
            raise ValueError(f"no calibration frames in {calib}")
    out.mkdir(parents=True, exist_ok=True)
    names = list(meta["graphs"])
    files = {g: meta["graphs"][g]["file"] for g in names}
    precision, models = {}, {}
    try:
        from tqdm import tqdm
    except ImportError:  # not in the onnx extra: no progress bar
        def tqdm(items, **_):
            return items
    with tempfile.TemporaryDirectory() as tmp:
        for name in tqdm(names, desc="quantize", unit="graph", disable=not progress):
            model = unpacked_model(src / files[name])
            if name in graphs:
                precision[name] = _quantize_graph(name, model, Path(tmp) / files[name], frames, full_range_weights)
                model = onnx.load(str(Path(tmp) / files[name]))
                _drop_unused(model)
            else:
                precision[name] = "float32"
            models[name] = model
        packed = pack_models(models, out, files)  # window_step and frame_step share their int8 weights again
    new = dict(meta, precision=precision, packed=packed, runtime="onnxruntime",
               quantized_from={g: sha256_file(src / files[g]) for g in names})
    if frames is not None:
        new["calibration"] = {"sources": [Path(c).name for c in calib], "frames": len(frames)}
    (out / META_FILE).write_text(json.dumps(new, indent=2) + "\n")
    return new
