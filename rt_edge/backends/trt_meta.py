"""Metadata written beside TensorRT plans, and the check that refuses a plan built elsewhere.

A serialized TensorRT engine is only valid for the TensorRT version and GPU model it was built
with; loading it anywhere else fails late and obscurely, so the runtime checks first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ENGINE_FILES = {"encoder": "encoder.plan", "query": "query.plan", "window_step": "window_step.plan",
                "frame_step": "frame_step.plan"}  # frame_step: only exports made with the stream schedule
ENGINE_META = "engine.json"


def engine_metadata(trt_version: str, device_name: str, compute_capability, precision: str,
                    points: tuple[int, int, int], checkpoint_sha256: str | None) -> dict[str, Any]:
    return {"tensorrt_version": trt_version, "device_name": device_name,
            "compute_capability": list(compute_capability), "precision": precision,
            "points_profile": list(points), "checkpoint_sha256": checkpoint_sha256}


PLUGIN_ENV = "RT_EDGE_TRT_PLUGIN"


def plugin_library(export_meta: dict[str, Any], engine_meta: dict[str, Any], env: dict[str, str]) -> str | None:
    """The TensorRT plugin library to load before deserialising: $RT_EDGE_TRT_PLUGIN, else the one the plans
    were built with (engine.json "plugin"). ValueError when the export has rt_edge::Corr4D nodes and none is known."""
    path = env.get(PLUGIN_ENV) or engine_meta.get("plugin")
    if export_meta.get("corr4d_plugin") and not path:
        raise ValueError(f"this export has rt_edge::Corr4D nodes: set {PLUGIN_ENV} to the built "
                         "librt_edge_corr4d_plugin.so (or build the plans with `export trt --plugin LIB`)")
    return path or None


def write_engine_meta(out_dir: str | Path, meta: dict[str, Any]) -> Path:
    path = Path(out_dir) / ENGINE_META
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def read_engine_meta(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / ENGINE_META
    if not path.is_file():
        raise FileNotFoundError(f"{model_dir} has no {ENGINE_META}: build the plans with `python -m export trt`")
    return json.loads(path.read_text())


def check_engine_compatible(meta: dict[str, Any], trt_version: str, device_name: str, compute_capability) -> None:
    """ValueError naming the mismatch when a plan was built for another TensorRT or GPU."""
    if meta["tensorrt_version"] != trt_version:
        raise ValueError(f"these plans were built with TensorRT {meta['tensorrt_version']}, this machine has "
                         f"{trt_version}: rebuild with `python -m export trt` here")
    if list(meta["compute_capability"]) != list(compute_capability) or meta["device_name"] != device_name:
        raise ValueError(f"these plans were built for {meta['device_name']} (sm_{''.join(map(str, meta['compute_capability']))}), "
                         f"this GPU is {device_name} (sm_{''.join(map(str, compute_capability))}): rebuild here")
