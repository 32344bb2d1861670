"""Export the encoder, query, window-step and frame-step graphs of a checkpoint to ONNX, with meta.json."""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

import rt_edge
from rt_edge.backends import check_image_size
from rt_edge.backends.onnx_meta import FORMAT, HISTORY_OUTPUT, META_FILE, STEP_OUTPUTS, graph_io
from rt_edge.model import CoTracker3, load_checkpoint

from .calibration import sha256_file
from .corr4d_onnx import corr4d_as_custom_node
from .fp16 import to_float16
from .graphs import EncoderGraph, FrameStepGraph, QueryGraph, WindowStepGraph


def _export(module: torch.nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, str]], opset: int) -> None:
    with warnings.catch_warnings():  # the tracer's notes on Python-side shape logic are expected here
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=opset, dynamo=False, do_constant_folding=True)


def _shapes(args: tuple, names: list[str], dynamic: dict[str, dict[int, str]]) -> dict[str, list]:
    return {n: [dynamic.get(n, {}).get(i, d) for i, d in enumerate(a.shape)] for n, a in zip(names, args)}


def export_onnx(checkpoint: Any, out_dir: str | os.PathLike, image_size=None, iters: int = 6,
                max_points: int = 1024, opset: int = 17, fp16: bool = False, corr4d_plugin: bool = False,
                stream_iters: int | None = None, stream_refine: int | None = None) -> dict:
    """Write DIR/encoder.onnx, DIR/query.onnx, DIR/window_step.onnx, DIR/frame_step.onnx (the stream
    schedule: cfg.stream_iters iterations over the newest cfg.stream_refine frames) and DIR/meta.json; returns the meta.

    stream_iters, stream_refine: frame_step's iterations and refined frames (None: the model config's).
    fp16: the graphs compute in float16 (inputs and outputs stay float32); see export.fp16.
    corr4d_plugin: window_step's correlations become rt_edge::Corr4D nodes for the TensorRT plugin (see
    export.corr4d_onnx); such graphs do not run on onnxruntime.
    """
    if opset < 16:
        raise ValueError(f"opset must be >= 16 (GridSample), got {opset}")
    if iters < 1 or max_points < 1:
        raise ValueError(f"iters and max_points must be positive, got {iters}, {max_points}")
    model = checkpoint if isinstance(checkpoint, CoTracker3) else load_checkpoint(checkpoint)
    model = model.eval().float()
    cfg = model.cfg.replace(**{k: v for k, v in (("stream_iters", stream_iters), ("stream_refine", stream_refine))
                               if v is not None})  # validated by ModelConfig
    H, W = check_image_size(image_size, cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    L, S, k, C, R = cfg.corr_levels, cfg.window_len, cfg.corr_window, cfg.latent_dim, cfg.stream_refine
    N = 5  # example count for tracing; the points axis is dynamic
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, H, W, generator=g) * 255
    with torch.no_grad():
        fmaps = EncoderGraph(model)(image)
    xy = torch.rand(N, 2, generator=g) * torch.tensor([W - 1.0, H - 1.0])
    win_fmaps = tuple(f[None].expand(S, *f.shape).contiguous() for f in fmaps)
    qf = torch.randn(N, L, k, k, C, generator=g)
    coords = xy[None].expand(S, N, 2).contiguous()
    zeros = torch.zeros(S, N)
    points = {name: {0: "points"} for name in ("xy", "query_feats", "active", "fresh")}
    points.update({name: {1: "points"} for name in ("coords", "vis", "conf", "past_corr", *STEP_OUTPUTS,
                                                     HISTORY_OUTPUT)})
    modules = {
        "encoder": (EncoderGraph(model), (image,)),
        "query": (QueryGraph(model), (*fmaps, xy)),
        "window_step": (WindowStepGraph(model, iters), (*win_fmaps, coords, zeros, zeros, qf, torch.ones(N))),
        "frame_step": (
            FrameStepGraph(model, cfg.stream_iters),
            (*(f[-R:] for f in win_fmaps), torch.randn(S - 1, N, L * cfg.corr_dim, generator=g), coords, zeros,
             zeros, qf, (torch.arange(N) % 2).float()),
        ),
    }
    graphs = {}
    for name, (module, args) in modules.items():
        ins, outs = graph_io(name, L)
        graphs[name] = (module, args, ins, outs, {n: points[n] for n in ins + outs if n in points})
    meta_graphs = {}
    for name, (module, args, ins, outs, dyn) in graphs.items():
        path = out / f"{name}.onnx"
        with corr4d_as_custom_node(opset) if corr4d_plugin else contextlib.nullcontext():
            _export(module, args, path, ins, outs, dyn, opset)
        if fp16:
            onnx.save(to_float16(onnx.load(str(path))), str(path))
        with torch.no_grad():
            results = module(*args)
        results = results if isinstance(results, tuple) else (results,)
        meta_graphs[name] = {"file": path.name, "inputs": _shapes(args, ins, dyn),
                             "outputs": _shapes(results, outs, dyn)}
    src_hash = sha256_file(checkpoint) if isinstance(checkpoint, (str, os.PathLike)) else None
    meta = {
        "format": FORMAT, "rt_edge_version": rt_edge.__version__, "torch_version": torch.__version__,
        "config": cfg.to_dict(), "image_size": [H, W], "window_len": S, "window_step": cfg.window_step,
        "iters": iters, "stream_iters": cfg.stream_iters,
        "stream_refine": R, "opset": opset, "max_points": max_points, "fp16": fp16, "corr4d_plugin": corr4d_plugin,
        "checkpoint_sha256": src_hash, "graphs": meta_graphs,
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta
