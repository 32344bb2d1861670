"""meta.json of an exported model directory: what was exported, and checks before running it.

Torch-free: the onnxruntime and TensorRT executors read it on the robot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import ModelConfig

META_FILE = "meta.json"
FORMAT = "rt-edge-onnx/1"
GRAPHS = ("encoder", "query", "window_step")
STREAM_GRAPH = "frame_step"  # the stream schedule's graph; exports before it lack it (and meta lists it then)
INT8_GRAPHS = ("encoder", "window_step", STREAM_GRAPH)  # what `python -m export quantize` can make INT8

# The graphs' input and output names: an interface between the exporter, the calibration tools and the executors.
STEP_OUTPUTS = ("coords_out", "vis_out", "conf_out")  # window_step and frame_step: (S or R, N, 2), (., N), (., N)
HISTORY_OUTPUT = "past_corr_out"  # frame_step: the next correlation history (S-1, N, L*corr_dim)


def fmap_names(levels: int) -> list[str]:
    """One frame's pyramid, fmap_l (1, C, h_l, w_l): the encoder's outputs, the query graph's inputs."""
    return [f"fmap_{i}" for i in range(levels)]


def fmaps_names(levels: int) -> list[str]:
    """F frames' pyramids stacked, fmaps_l (F, C, h_l, w_l): the first inputs of window_step and frame_step."""
    return [f"fmaps_{i}" for i in range(levels)]


def graph_io(graph: str, levels: int) -> tuple[list[str], list[str]]:
    """-> (input names, output names) of one exported graph, in their positional order."""
    state = ["coords", "vis", "conf", "query_feats"]
    table = {
        "encoder": (["image"], fmap_names(levels)),
        "query": (fmap_names(levels) + ["xy"], ["query_feats"]),
        "window_step": (fmaps_names(levels) + state + ["active"], list(STEP_OUTPUTS)),
        STREAM_GRAPH: (fmaps_names(levels) + ["past_corr"] + state + ["fresh"], [*STEP_OUTPUTS, HISTORY_OUTPUT]),
    }
    if graph not in table:
        raise ValueError(f"unknown graph {graph!r}; expected one of {', '.join(table)}")
    return table[graph]


def read_meta(model_dir: str | Path) -> dict[str, Any]:
    """Load and check DIR/meta.json; ValueError / FileNotFoundError naming what is wrong."""
    d = Path(model_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"exported model directory not found: {d}")
    path = d / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{d} has no {META_FILE}: not an rt-edge export (python -m export onnx ...)")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    for key in ("config", "image_size", "iters", "max_points", "graphs"):
        if key not in meta:
            raise ValueError(f"{path} lacks {key!r}")
    cfg = ModelConfig.from_dict(meta["config"])
    H, W = meta["image_size"]
    enc_in = meta["graphs"]["encoder"]["inputs"]["image"]
    if list(enc_in[-2:]) != [H, W]:
        raise ValueError(f"{path}: image_size {H}x{W} differs from the encoder graph's input {enc_in}")
    if meta["window_len"] != cfg.window_len:
        raise ValueError(f"{path}: window_len {meta['window_len']} differs from the config's {cfg.window_len}")
    for g in GRAPHS + ((STREAM_GRAPH,) if STREAM_GRAPH in meta["graphs"] else ()):
        f = d / meta["graphs"][g]["file"]
        if not f.is_file():
            raise FileNotFoundError(f"{d}: graph file {f.name} listed in {META_FILE} is missing")
    return meta
