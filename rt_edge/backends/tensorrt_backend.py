"""TensorRT executor of the plans built by `python -m export trt` (no torch needed).

Feature pyramids stay on the GPU: each frame's levels live in device buffers, a window is
assembled with device-to-device copies, and only coords/vis/conf (S x N values) and query
points cross to the host. The stream schedule's correlation history stays on the GPU too while
the set of points is unchanged; when points come or go it is gathered once on the host. One CUDA stream; cuda-python for memory and streams.

Written against the public TensorRT 10 and cuda-python 12/13 APIs. It has not run on
hardware: TensorRT cannot be installed on the development, CI or lent GPU machines.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config import ModelConfig
from .base import HostQueries
from .onnx_meta import HISTORY_OUTPUT, STEP_OUTPUTS, fmap_names, fmaps_names, read_meta
from .trt_meta import ENGINE_FILES, check_engine_compatible, plugin_library, read_engine_meta


def _check(result):
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"CUDA call failed: {err}")
    return rest[0] if len(rest) == 1 else rest


class DeviceArray:
    """A device allocation with a numpy-like shape and dtype."""

    def __init__(self, cudart, shape, dtype=np.float32):
        self.cudart, self.shape, self.dtype = cudart, tuple(int(s) for s in shape), np.dtype(dtype)
        self.nbytes = int(np.prod(self.shape)) * self.dtype.itemsize
        self.ptr = _check(cudart.cudaMalloc(max(self.nbytes, 1)))

    def __del__(self):
        try:
            self.cudart.cudaFree(self.ptr)
        except Exception:
            pass


class TrtExecutor(HostQueries):
    name = "tensorrt"

    def __init__(self, model_dir: str | Path):
        try:
            import tensorrt as trt
            from cuda.bindings import runtime as cudart
        except ImportError:
            raise ValueError("the tensorrt backend needs TensorRT 10 and cuda-python on a CUDA device") from None
        self.trt, self.cudart = trt, cudart
        self.dir = Path(model_dir)
        meta = read_meta(self.dir)
        self.cfg = ModelConfig.from_dict(meta["config"])
        self.image_size = tuple(meta["image_size"])
        self.iters = int(meta["iters"])
        em = read_engine_meta(self.dir)
        props = _check(cudart.cudaGetDeviceProperties(0))
        check_engine_compatible(em, trt.__version__, props.name.decode().strip("\x00"), (props.major, props.minor))
        self.max_points = int(em["points_profile"][2])
        plugin = plugin_library(meta, em, dict(os.environ))
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        if plugin:
            runtime.get_plugin_registry().load_library(str(plugin))
        self.engines, self.contexts = {}, {}
        # None: no frame_step graph of this version (stream_refine in the meta)
        self.stream_refine = int(meta.get("stream_refine", 0)) or None
        self.stream_iters = int(meta["stream_iters"]) if self.stream_refine and "frame_step" in meta["graphs"] else None
        for graph, fname in ENGINE_FILES.items():
            if graph not in meta["graphs"]:
                continue
            engine = runtime.deserialize_cuda_engine((self.dir / fname).read_bytes())
            if engine is None:
                raise ValueError(f"TensorRT could not load {fname}")
            self.engines[graph] = engine
            self.contexts[graph] = engine.create_execution_context()
        self.stream = _check(cudart.cudaStreamCreate())
        self._window_bufs: dict[tuple, DeviceArray] = {}

    # --------------------------------------------------------------------- plumbing
    def _upload(self, a: np.ndarray) -> DeviceArray:
        a = np.ascontiguousarray(a, dtype=np.float32)
        d = DeviceArray(self.cudart, a.shape)
        _check(self.cudart.cudaMemcpyAsync(d.ptr, a.ctypes.data, a.nbytes,
                                           self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        _check(self.cudart.cudaStreamSynchronize(self.stream))  # `a` may be freed after return
        return d

    def _download(self, d: DeviceArray) -> np.ndarray:
        out = np.empty(d.shape, d.dtype)
        _check(self.cudart.cudaMemcpyAsync(out.ctypes.data, d.ptr, d.nbytes,
                                           self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        _check(self.cudart.cudaStreamSynchronize(self.stream))
        return out

    def _run(self, graph: str, inputs: dict[str, DeviceArray]) -> dict[str, DeviceArray]:
        trt, engine, ctx = self.trt, self.engines[graph], self.contexts[graph]
        for name, arr in inputs.items():
            ctx.set_input_shape(name, arr.shape)
            ctx.set_tensor_address(name, arr.ptr)
        outputs = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
                outputs[name] = DeviceArray(self.cudart, tuple(ctx.get_tensor_shape(name)))
                ctx.set_tensor_address(name, outputs[name].ptr)
        if not ctx.execute_async_v3(self.stream):
            raise RuntimeError(f"TensorRT execution of {graph} failed")
        return outputs

    def _copy(self, dst: DeviceArray, offset: int, src: DeviceArray) -> None:
        _check(self.cudart.cudaMemcpyAsync(dst.ptr + offset, src.ptr, src.nbytes,
                                           self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice, self.stream))

    def _stacked_fmaps(self, graph: str, frames) -> dict[str, DeviceArray]:
        """fmaps_l (F, C, h_l, w_l) inputs from F device pyramids, copied on the device into buffers kept per graph."""
        inputs = {}
        for lvl, name in enumerate(fmaps_names(self.cfg.corr_levels)):
            shape = (len(frames), *frames[0][lvl].shape)
            buf = self._window_bufs.get((graph, lvl, shape))
            if buf is None:
                buf = self._window_bufs[(graph, lvl, shape)] = DeviceArray(self.cudart, shape)
            for s, f in enumerate(frames):
                self._copy(buf, s * f[lvl].nbytes, f[lvl])
            inputs[name] = buf
        return inputs

    # --------------------------------------------------------------------- executor interface
    def encode(self, image: np.ndarray) -> list[DeviceArray]:
        out = self._run("encoder", {"image": self._upload(image.transpose(2, 0, 1)[None])})
        return [out[n] for n in fmap_names(self.cfg.corr_levels)]

    def query_features(self, frame: list[DeviceArray], xy: np.ndarray) -> np.ndarray:
        inputs = dict(zip(fmap_names(self.cfg.corr_levels), frame))
        inputs["xy"] = self._upload(np.asarray(xy, np.float32).reshape(-1, 2))
        return self._download(self._run("query", inputs)["query_feats"])

    def window_step(self, frames, coords, vis, conf, query_feats, active):
        S, N = coords.shape[:2]
        if N > self.max_points:
            raise ValueError(f"{N} points exceed the plans' profile maximum {self.max_points}")
        inputs = self._stacked_fmaps("window_step", frames)
        for name, a in (("coords", coords), ("vis", vis), ("conf", conf), ("query_feats", query_feats),
                        ("active", np.asarray(active, np.float32))):
            inputs[name] = self._upload(a)
        out = self._run("window_step", inputs)
        return tuple(self._download(out[n]) for n in STEP_OUTPUTS)

    def frame_step(self, frames, history, cols, coords, vis, conf, query_feats):
        S, N = coords.shape[:2]
        if N > self.max_points:
            raise ValueError(f"{N} points exceed the plans' profile maximum {self.max_points}")
        cols = np.asarray(cols, np.int64)
        if isinstance(history, DeviceArray) and np.array_equal(cols, np.arange(history.shape[1])):
            past = history  # the usual push: the points are those of the last one
        else:
            past = self._upload(self.past_corr(None if history is None else self._download(history), cols))
        inputs = self._stacked_fmaps("frame_step", frames)  # the R zone frames
        inputs["past_corr"] = past
        for name, a in (("coords", coords), ("vis", vis), ("conf", conf), ("query_feats", query_feats),
                        ("fresh", (cols < 0).astype(np.float32))):
            inputs[name] = self._upload(a)
        out = self._run("frame_step", inputs)
        return (*(self._download(out[n]) for n in STEP_OUTPUTS), out[HISTORY_OUTPUT])
