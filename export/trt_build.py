"""`python -m export trt`: TensorRT 10 engines from an ONNX export.

The pure decisions (optimisation-profile shapes, per-graph precision flags, engine metadata and
the check that refuses a plan built elsewhere) are plain functions, tested without TensorRT.
`build_engines` is the only part that needs the `tensorrt` package; it is written against the
public TensorRT 10 Python API and has not run on hardware here (TensorRT is not installable
on the development and CI machines).

INT8 (--int8-calib) is per graph, by default the encoder only:
  encoder      convolutions over an image, most of the per-frame cost, outputs L2-normalised
               features: what INT8 tensor cores speed up and entropy calibration handles well.
  query        bilinear sampling only: nothing for INT8 to speed up, and its output is a
               correlation operand.
  window_step  carries pixel coordinates (0..W) next to sub-pixel deltas, Fourier encodings and
               attention, iterated `iters` times and fed back into the next window: TensorRT's
               symmetric per-tensor INT8 scale over +-512 px is a 4 px step, and the error
               compounds along the track. It stays FP16 (with --fp16) or FP32 unless
               --int8-graphs names it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rt_edge.backends.onnx_meta import GRAPHS, STREAM_GRAPH, read_meta
from rt_edge.backends.trt_meta import ENGINE_FILES, engine_metadata, write_engine_meta

from .calibration import calibration_sources, check_graph_names, is_calibration_cache, make_calibrator, open_or_collect

DEFAULT_INT8_GRAPHS = ("encoder",)


class TensorRTUnavailable(RuntimeError):
    """The tensorrt Python package (TensorRT 10) is not installed on this machine."""


def profile_shapes(meta: dict, points: tuple[int, int, int]) -> dict[str, dict[str, tuple[list, list, list]]]:
    """(min, opt, max) shapes per graph input; only the "points" axis varies."""
    lo, opt, hi = points
    if not 1 <= lo <= opt <= hi:
        raise ValueError(f"--points must satisfy 1 <= MIN <= OPT <= MAX, got {lo} {opt} {hi}")
    if hi > meta["max_points"]:
        raise ValueError(f"--points MAX {hi} exceeds the export's max_points {meta['max_points']}; re-export")
    out = {}
    for graph, g in meta["graphs"].items():
        shapes = {}
        for name, dims in g["inputs"].items():
            shapes[name] = tuple([n if d == "points" else int(d) for d in dims] for n in (lo, opt, hi))
        out[graph] = shapes
    return out


def precision_flags(fp16: bool, int8: bool, fp8: bool, caps: dict[str, Any]) -> list[str]:
    """Builder flags for the requested precisions, refusing what the device cannot run.

    caps: {"fast_fp16": bool, "fast_int8": bool, "compute_capability": (major, minor)}.
    """
    flags = []
    if fp16:
        if not caps.get("fast_fp16"):
            raise ValueError("--fp16: this device has no fast FP16 path")
        flags.append("FP16")
    if int8:
        if not caps.get("fast_int8"):
            raise ValueError("--int8-calib: this device has no fast INT8 path")
        flags.append("INT8")
    if fp8:
        if tuple(caps.get("compute_capability", (0, 0))) < (8, 9):
            raise ValueError(f"--fp8 needs compute capability >= 8.9, this device has {caps.get('compute_capability')}")
        flags.append("FP8")
    return flags


def graph_flags(fp16: bool, int8_graphs: tuple[str, ...], fp8: bool, caps: dict[str, Any]) -> dict[str, list[str]]:
    """Builder flags per graph: INT8 only for int8_graphs (the others keep FP16/FP8 as requested)."""
    return {g: precision_flags(fp16, g in int8_graphs, fp8, caps) for g in GRAPHS + (STREAM_GRAPH,)}


def precision_label(flags: dict[str, list[str]]) -> str:
    """engine.json's precision: "FP16" when all graphs agree, else "encoder=FP16+INT8, query=FP16, ..."."""
    labels = {g: "+".join(f) or "FP32" for g, f in flags.items()}
    if len(set(labels.values())) == 1:
        return next(iter(labels.values()))
    return ", ".join(f"{g}={label}" for g, label in labels.items())


def _import_trt():
    try:
        import tensorrt as trt
    except ImportError:
        raise TensorRTUnavailable("TensorRT is not installed: `python -m export trt` needs the tensorrt Python "
                                  "package (TensorRT 10) on the target device") from None
    if int(trt.__version__.split(".")[0]) < 10:
        raise TensorRTUnavailable(f"TensorRT {trt.__version__} found; TensorRT 10 or newer is required")
    return trt


def _device_caps(trt, builder) -> dict[str, Any]:
    from cuda.bindings import runtime as cudart

    err, props = cudart.cudaGetDeviceProperties(0)
    if err != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"cudaGetDeviceProperties failed: {err}")
    return {"fast_fp16": builder.platform_has_fast_fp16, "fast_int8": builder.platform_has_fast_int8,
            "compute_capability": (props.major, props.minor), "device_name": props.name.decode().strip("\x00")}


def build_engines(onnx_dir: str | Path, out_dir: str | Path | None = None, fp16: bool = False,
                  int8_calib: str | None = None, fp8: bool = False, points: tuple[int, int, int] | None = None,
                  workspace_gb: float = 4.0, timing_cache: str | None = None, plugin: str | None = None,
                  int8_graphs: tuple[str, ...] = DEFAULT_INT8_GRAPHS, calib_frames: int = 64) -> dict:
    """Build encoder.plan, query.plan, window_step.plan and (exports that have it) frame_step.plan beside
    (or away from) the ONNX files.

    int8_calib: a cache from `python -m export calib`, or a folder of images / videos collected here into
    OUT/calib (needs onnxruntime unless int8_graphs is the encoder only); INT8 for int8_graphs only.
    """
    meta = read_meta(onnx_dir)
    if meta.get("corr4d_plugin") and not plugin:
        raise ValueError("this export has rt_edge::Corr4D nodes: pass --plugin librt_edge_corr4d_plugin.so "
                         "(built by CMake with -DTensorRT_ROOT=...)")
    points = points or (1, min(256, meta["max_points"]), meta["max_points"])
    shapes = profile_shapes(meta, points)
    int8_graphs = check_graph_names(int8_graphs, "--int8-graphs") if int8_calib else ()
    out = Path(out_dir or onnx_dir)
    calib = None  # (cache dir, manifest); a cache is checked and a frames folder listed before TensorRT loads
    if int8_calib and is_calibration_cache(int8_calib):
        calib = open_or_collect(int8_calib, onnx_dir, out / "calib", int8_graphs, points[1])
    elif int8_calib:
        calibration_sources(int8_calib)
    trt = _import_trt()
    logger = trt.Logger(trt.Logger.WARNING)
    trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    if plugin:
        builder.get_plugin_registry().load_library(str(plugin))
    caps = _device_caps(trt, builder)
    flags = graph_flags(fp16, int8_graphs, fp8, caps)  # refuses INT8 before minutes of collection
    if int8_calib and calib is None:
        calib = open_or_collect(int8_calib, onnx_dir, out / "calib", int8_graphs, points[1], max_frames=calib_frames)
    out.mkdir(parents=True, exist_ok=True)
    cache_bytes = Path(timing_cache).read_bytes() if timing_cache and Path(timing_cache).is_file() else b""
    built = {}
    for graph, onnx_name in ((g, meta["graphs"][g]["file"]) for g in ENGINE_FILES if g in meta["graphs"]):
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(Path(onnx_dir) / onnx_name)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ValueError(f"TensorRT could not parse {onnx_name}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
        for flag in flags[graph]:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        cache = config.create_timing_cache(cache_bytes)
        config.set_timing_cache(cache, ignore_mismatch=False)
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in shapes[graph].items():
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
        calibrator = None  # held here through build_serialized_network (TensorRT only borrows it)
        if graph in int8_graphs:  # implicit INT8: deprecated since TensorRT 10.1, still available in 10.x
            calibrator = make_calibrator(trt, calib[0], graph, calib[1])
            config.int8_calibrator = calibrator
            config.set_calibration_profile(profile)  # calibration runs at this profile's OPT shapes
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise RuntimeError(f"TensorRT failed to build {graph}")
        path = out / ENGINE_FILES[graph]
        path.write_bytes(bytes(plan))
        cache_bytes = bytes(config.get_timing_cache().serialize())
        built[graph] = str(path)
    if timing_cache:
        Path(timing_cache).write_bytes(cache_bytes)
    precision = precision_label(flags)
    em = engine_metadata(trt.__version__, caps["device_name"], caps["compute_capability"], precision, points,
                         meta.get("checkpoint_sha256"))
    if plugin:
        em["plugin"] = str(Path(plugin).resolve())
    write_engine_meta(out, em)
    return {"engines": built, "meta": em, "profile": json.loads(json.dumps(shapes))}
