"""onnxruntime executor of an exported model directory (no torch needed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import ModelConfig
from .base import HostQueries, stacked_fmaps
from .onnx_meta import fmap_names, read_meta


GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")  # preferred first


def device_providers(device: str, available: Sequence[str]) -> list[str]:
    """onnxruntime execution providers for a device name: "cpu", or "cuda" / "cuda:K" (TensorRT's and CUDA's
    providers where this onnxruntime has them, else the CPU with one line on stderr saying why)."""
    device = str(device)
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device != "cuda" and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:K' for onnxruntime, got {device!r}")
    gpu = [p for p in GPU_PROVIDERS if p in available]
    if not gpu:
        print(f"onnxruntime: no CUDA execution provider in this install (has {', '.join(available)}; "
              "pip install 'rt-edge[gpu]'): running on the CPU", file=sys.stderr)
        return ["CPUExecutionProvider"]
    index = device.split(":", 1)[1] if ":" in device else "0"
    return [(p, {"device_id": index}) for p in gpu] + ["CPUExecutionProvider"]


class OrtExecutor(HostQueries):
    name = "onnxruntime"

    def __init__(self, model_dir: str | Path, providers: Sequence[str] | None = None, threads: int = 0,
                 device: str = "cpu"):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ValueError("the onnxruntime backend needs onnxruntime: pip install 'rt-edge[onnx]'") from None
        self.dir = Path(model_dir)
        self.meta = read_meta(self.dir)
        self.cfg = ModelConfig.from_dict(self.meta["config"])
        self.image_size = tuple(self.meta["image_size"])
        self.iters = int(self.meta["iters"])
        self.max_points = int(self.meta["max_points"])
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        # the graphs run one after another, each session with its own pool: a pool spinning after its run
        # takes the cores from the next graph's
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = list(providers) if providers else device_providers(device, ort.get_available_providers())
        self.sessions = {
            name: ort.InferenceSession(str(self.dir / g["file"]), sess_options=opts, providers=providers)
            for name, g in self.meta["graphs"].items()
        }
        self.levels = self.cfg.corr_levels
        # None: no frame_step graph of this version (stream_refine in the meta)
        self.stream_refine = int(self.meta.get("stream_refine", 0)) or None
        self.stream_iters = int(self.meta["stream_iters"]) if self.stream_refine and "frame_step" in self.sessions \
            else None

    def _run(self, graph: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.sessions[graph].run(None, feeds)

    def encode(self, image: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        return self._run("encoder", {"image": x})

    def query_features(self, frame: list[np.ndarray], xy: np.ndarray) -> np.ndarray:
        feeds = dict(zip(fmap_names(self.levels), frame))
        feeds["xy"] = np.asarray(xy, np.float32).reshape(-1, 2)
        return self._run("query", feeds)[0]

    def window_step(self, frames, coords, vis, conf, query_feats, active):
        N = coords.shape[1]
        if N > self.max_points:
            raise ValueError(f"{N} points (user + context) exceed this export's --max-points {self.max_points}")
        feeds = stacked_fmaps(frames, self.levels)
        feeds.update(coords=coords.astype(np.float32), vis=vis.astype(np.float32), conf=conf.astype(np.float32),
                     query_feats=query_feats, active=np.asarray(active, np.float32))
        c, v, f = self._run("window_step", feeds)
        return c.astype(np.float32), v.astype(np.float32), f.astype(np.float32)

    def frame_step(self, frames, history, cols, coords, vis, conf, query_feats):
        if self.stream_iters is None:
            raise ValueError(f"{self.dir} has no frame_step.onnx of this version (exported before the stream schedule "
                             "refined several frames); re-export it with python -m export onnx")
        N = coords.shape[1]
        if N > self.max_points:
            raise ValueError(f"{N} points (user + context) exceed this export's --max-points {self.max_points}")
        feeds = stacked_fmaps(frames, self.levels)  # the R zone frames
        feeds.update(past_corr=self.past_corr(history, cols), coords=coords.astype(np.float32),
                     vis=vis.astype(np.float32), conf=conf.astype(np.float32), query_feats=query_feats,
                     fresh=(np.asarray(cols) < 0).astype(np.float32))
        c, v, f, hist = self._run("frame_step", feeds)
        return c.astype(np.float32), v.astype(np.float32), f.astype(np.float32), hist
