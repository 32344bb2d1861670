"""INT8 calibration for `python -m export trt --int8-calib`: data collected without TensorRT, fed to it lazily.

What each graph is calibrated on (float32, exactly what the runtime feeds it):
  encoder:      the calibration frames resized to the export's image size by the runtime's own
                `resize_aligned`, as image (1, 3, H, W) in [0, 255]
  query, window_step: the feeds the onnxruntime executor gives these graphs while the real
                OnlineTracker (fp32 ONNX export, no context points) tracks a grid of `points` points
                through the same frames; recorded by wrapping the executor's sessions. Every window
                therefore holds exactly `points` points, the count TensorRT calibrates at (the opt
                shape of the build's profile).

The cache directory (`python -m export calib`, copy it to the device) stores each frame pyramid and
each query-feature block once; windows and query batches refer to them by index:
  calib.json                      manifest: format, image size, points, sha256 of the ONNX files, sources,
                                  per graph its batch count and input shapes
  encoder.image.npy               (F, 1, 3, H, W)
  pyramid.fmap_{l}.npy            (P, C, h_l, w_l)  distinct frame pyramids the query/window graphs saw
  query.frame.npy, query.xy.npy   (Bq,) pyramid index, (Bq, points, 2) model pixels
  query_feats.npy                 (Q, points, L, k, k, C) distinct support-feature blocks
  window_step.frames.npy          (Bw, S) pyramid indices; window_step.query_feats.npy (Bw,) block index
  window_step.{coords,vis,conf,active}.npy   (Bw, S, points, 2), (Bw, S, points) x2, (Bw, points)
  <graph>.<sha12>.trtcalib        TensorRT's scale table, written after a calibration, reused while the
                                  graph file (its sha256 prefix) is unchanged

`make_calibrator` is the only part that needs TensorRT and CUDA: an IInt8EntropyCalibrator2 over
these batches. Implicit (calibrator-driven) INT8 is deprecated since TensorRT 10.1 in favour of
explicit Q/DQ quantization, but it is still available in TensorRT 10; it has not run here (TensorRT
is not installable on the development, CI or lent GPU machines).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rt_edge.backends.onnx_meta import GRAPHS, fmap_names, fmaps_names, read_meta
from rt_edge.context import grid_points
from rt_edge.image import resize_aligned
from rt_edge.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, open_source

CALIB_FORMAT = "rt-edge-calib/1"
CALIB_META = "calib.json"
WINDOW_STATE = ("coords", "vis", "conf", "active")  # window_step inputs stored per batch


# ---------------------------------------------------------------------------------------------- sources
def _has_images(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir())


def calibration_sources(calib_dir: str | Path) -> list[Path]:
    """The clips in a calibration directory, in name order: the directory itself when it holds images
    (one image sequence, as `open_source(folder)` reads it), each video file, each subfolder of images."""
    d = Path(calib_dir)
    if not d.exists():
        raise FileNotFoundError(f"calibration directory not found: {d}")
    if not d.is_dir():
        raise ValueError(f"calibration frames must be a directory of images and/or videos, got the file {d}")
    entries = sorted(d.iterdir(), key=lambda p: p.name)
    clips = [d] if _has_images(d) else []
    for p in entries:
        if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS) or (p.is_dir() and _has_images(p)):
            clips.append(p)
    if not clips:
        raise ValueError(f"no calibration frames in {d}: expected images ({' '.join(IMAGE_EXTENSIONS)}), videos "
                         f"({' '.join(VIDEO_EXTENSIONS)}) or subfolders of images")
    return clips


def frame_budget(lengths: Sequence[int | None], total: int) -> list[int]:
    """Frames to take from each clip: an even share of what is left, so short clips leave their share
    to the next ones (None: unknown length, e.g. a video whose container gives no count)."""
    out, left = [], total
    for i, n in enumerate(lengths):
        share = math.ceil(left / (len(lengths) - i)) if left > 0 else 0
        take = share if n is None else min(n, share)
        out.append(take)
        left -= take
    return out


def calibration_points(count: int, frame_hw: tuple[int, int]) -> np.ndarray:
    """count points (count, 2) as (x, y) caller pixels, spread evenly over a ceil(sqrt(count))^2 grid."""
    side = math.ceil(math.sqrt(count))
    grid = grid_points(side, frame_hw)
    pick = (np.arange(count) * (side * side - 1)) // max(count - 1, 1)  # strictly increasing: no repeats
    H, W = frame_hw
    return np.clip(grid[pick], 0, [W - 1, H - 1]).astype(np.float64)


def encoder_batch(frame: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """frame (H0, W0, 3) uint8 RGB -> the encoder's input (1, 3, H, W) float32 in [0, 255], as the runtime makes it."""
    return np.ascontiguousarray(resize_aligned(frame, image_hw).transpose(2, 0, 1)[None], dtype=np.float32)


# ---------------------------------------------------------------------------------------------- recording
class _Store:
    """Content-addressed list of array tuples: the same data put twice gets the same index."""

    def __init__(self):
        self.items: list[tuple[np.ndarray, ...]] = []
        self._index: dict[bytes, int] = {}

    def put(self, arrays: Sequence[np.ndarray]) -> int:
        h = hashlib.blake2b(digest_size=20)
        for a in arrays:
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(memoryview(a).cast("B"))
        key = h.digest()
        if key not in self._index:
            self._index[key] = len(self.items)
            self.items.append(tuple(np.array(a, np.float32) for a in arrays))
        return self._index[key]


class _Recorder:
    """Receives every (graph, feeds, outputs) an onnxruntime executor runs; keeps query / window feeds."""

    def __init__(self, levels: int):
        self.levels = levels
        self.pyramids, self.blocks = _Store(), _Store()
        self.queries: list[tuple[int, np.ndarray]] = []  # (pyramid, xy (K, 2))
        self.windows: list[dict[str, Any]] = []

    def __call__(self, graph: str, feeds: dict[str, np.ndarray], outputs: list[np.ndarray]) -> None:
        L = self.levels
        if graph == "encoder":
            self.pyramids.put(outputs[:L])
        elif graph == "query":
            self.queries.append((self.pyramids.put([feeds[n] for n in fmap_names(L)]), np.array(feeds["xy"])))
        elif graph == "window_step":
            stacked = [feeds[n] for n in fmaps_names(L)]
            frames = [self.pyramids.put([f[s] for f in stacked]) for s in range(len(stacked[0]))]
            rec = {name: np.array(feeds[name], np.float32) for name in WINDOW_STATE}
            self.windows.append({"frames": frames, "query_feats": self.blocks.put([feeds["query_feats"]]), **rec})


class _RecordingSession:
    """Stands in for one onnxruntime InferenceSession: runs it, then shows feeds and outputs to a recorder."""

    def __init__(self, session, graph: str, recorder: _Recorder):
        self._session, self._graph, self._recorder = session, graph, recorder

    def run(self, output_names, input_feed, run_options=None):
        outputs = self._session.run(output_names, input_feed, run_options)
        self._recorder(self._graph, input_feed, outputs)
        return outputs

    def __getattr__(self, name):
        return getattr(self._session, name)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def onnx_hashes(onnx_dir: str | Path, meta: dict | None = None) -> dict[str, str]:
    """sha256 of each graph file of an export: a cache collected from other graphs is refused."""
    meta = meta or read_meta(onnx_dir)
    return {g: sha256_file(Path(onnx_dir) / meta["graphs"][g]["file"]) for g in GRAPHS}


def _default_points(meta: dict) -> int:
    return min(256, int(meta["max_points"]))  # the default opt of `export trt --points`


def check_graph_names(graphs: Sequence[str], what: str = "--graphs") -> tuple[str, ...]:
    """The names, deduplicated in GRAPHS order; ValueError naming an unknown one."""
    bad = [g for g in graphs if g not in GRAPHS]
    if bad or not graphs:
        raise ValueError(f"{what} must name some of {', '.join(GRAPHS)}, got {' '.join(graphs) or 'nothing'}")
    return tuple(g for g in GRAPHS if g in graphs)


def _record(onnx_dir: Path, clips: list[tuple[Path, list[np.ndarray]]], points: int, levels: int,
            providers: Sequence[str] | None, threads: int) -> _Recorder:
    """Track `points` grid points through each clip with the fp32 ONNX export, recording the graph feeds."""
    from rt_edge.backends.onnxruntime_backend import OrtExecutor
    from rt_edge.session import OnlineTracker

    ex = OrtExecutor(onnx_dir, providers=providers, threads=threads)  # what OnlineTracker.load(backend=...) makes
    if not isinstance(getattr(ex, "sessions", None), dict):
        raise RuntimeError("the onnxruntime executor no longer exposes its sessions: cannot record graph feeds")
    rec = _Recorder(levels)
    ex.sessions = {g: _RecordingSession(s, g, rec) for g, s in ex.sessions.items()}
    tracker = OnlineTracker(ex, context_points=False)
    for _, frames in clips:  # flush() ends each clip's stream and resets the tracker
        tracker.add_queries(calibration_points(points, frames[0].shape[:2]), frame=0)
        for frame in frames:
            tracker.push(frame)
        tracker.flush()
    return rec


def _read_clip(path: Path, count: int) -> list[np.ndarray]:
    frames = []
    with open_source(path) as src:
        for frame in src:
            frames.append(frame)
            if len(frames) >= count:
                break
    return frames


def collect_calibration(onnx_dir: str | Path, frames_dir: str | Path, out_dir: str | Path, max_frames: int = 64,
                        points: int | None = None, graphs: Sequence[str] = GRAPHS,
                        providers: Sequence[str] | None = None, threads: int = 0) -> dict[str, Any]:
    """Collect calibration batches for `graphs` from the images / videos in frames_dir into out_dir.

    max_frames caps the encoder frames (spread over the clips); the query and window batches are those
    that tracking these frames produces (about max_frames / window_step windows, plus one per clip).
    points: the points per window (default min(256, max_points), the build's default opt). Needs
    onnxruntime for query / window_step (providers, threads: as OrtExecutor takes them), numpy only for
    the encoder. Returns the manifest.
    """
    onnx_dir, out = Path(onnx_dir), Path(out_dir)
    meta = read_meta(onnx_dir)
    graphs = check_graph_names(graphs)
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError(f"the number of calibration frames must be a positive int, got {max_frames!r}")
    points = _default_points(meta) if points is None else points
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= meta["max_points"]:
        raise ValueError(f"calibration points must be an int in 1..{meta['max_points']} (the export's max_points), "
                         f"got {points!r}")
    record = bool({"query", "window_step"} & set(graphs))
    if record and meta.get("fp16"):
        raise ValueError(f"{onnx_dir} is an --fp16 export: record calibration inputs with the fp32 export "
                         "(python -m export onnx without --fp16) that TensorRT builds from")
    _check_out_dir(out)
    H, W = meta["image_size"]
    levels = int(meta["config"]["corr_levels"])
    sources = calibration_sources(frames_dir)
    lengths = []
    for path in sources:
        with open_source(path) as src:
            lengths.append(src.num_frames)
    clips = [(p, _read_clip(p, n)) for p, n in zip(sources, frame_budget(lengths, max_frames), strict=True) if n > 0]
    arrays: dict[str, np.ndarray] = {}
    if "encoder" in graphs:
        arrays["encoder.image"] = np.stack([encoder_batch(f, (H, W)) for _, frames in clips for f in frames])
    if record:
        rec = _record(onnx_dir, clips, points, levels, providers, threads)
        arrays.update(_recorded_arrays(rec, points, graphs, levels))
    manifest = {
        "format": CALIB_FORMAT, "image_size": [H, W], "window_len": int(meta["window_len"]), "levels": levels,
        "points": points, "onnx_sha256": onnx_hashes(onnx_dir, meta),
        "sources": [{"path": str(p), "frames": len(frames)} for p, frames in clips],
        "graphs": {},
    }
    for g in graphs:
        count = {"encoder": "encoder.image", "query": "query.xy", "window_step": "window_step.frames"}[g]
        manifest["graphs"][g] = {"batches": int(len(arrays[count])), "inputs": _input_shapes(meta, g, points)}
        if manifest["graphs"][g]["batches"] == 0:
            raise ValueError(f"no {g} calibration batches came from {frames_dir}; add frames")
    _write_cache(out, manifest, arrays)
    return manifest


def _input_shapes(meta: dict, graph: str, points: int) -> dict[str, list[int]]:
    inputs = meta["graphs"][graph]["inputs"]
    return {n: [points if d == "points" else int(d) for d in dims] for n, dims in inputs.items()}


def _recorded_arrays(rec: _Recorder, points: int, graphs: Sequence[str], levels: int) -> dict[str, np.ndarray]:
    """The recorded feeds as cache arrays; pyramids and query-feature blocks stored once each."""
    out: dict[str, np.ndarray] = {}
    query_batches: list[tuple[int, np.ndarray]] = []
    if "query" in graphs:
        # the runtime samples one point per call; the query graph is per point, so one frame's calls joined
        # along the points axis are one batch of the same graph; batches of exactly `points` (the opt shape)
        by_frame: dict[int, list[np.ndarray]] = {}
        for pyr, xy in rec.queries:
            by_frame.setdefault(pyr, []).append(xy.reshape(-1, 2))
        for pyr, parts in by_frame.items():
            xy = np.concatenate(parts)
            query_batches += [(pyr, xy[i:i + points]) for i in range(0, len(xy) - points + 1, points)]
    windows = rec.windows if "window_step" in graphs else []
    for w in windows:
        if w["coords"].shape[1] != points:
            raise RuntimeError(f"a recorded window holds {w['coords'].shape[1]} points, expected {points}")
    used = sorted({p for p, _ in query_batches} | {f for w in windows for f in w["frames"]})
    if not used:
        raise ValueError(f"tracking the calibration frames gave no {' or '.join(g for g in graphs if g != 'encoder')} "
                         f"batch of {points} points; add frames")
    remap = {p: i for i, p in enumerate(used)}
    for lvl in range(levels):
        out[f"pyramid.fmap_{lvl}"] = np.stack([rec.pyramids.items[p][lvl] for p in used])
    if "query" in graphs:
        out["query.frame"] = np.array([remap[p] for p, _ in query_batches], np.int64)
        out["query.xy"] = np.stack([xy for _, xy in query_batches]).astype(np.float32) if query_batches else \
            np.zeros((0, points, 2), np.float32)
    if "window_step" in graphs:
        blocks = sorted({w["query_feats"] for w in windows})
        bmap = {b: i for i, b in enumerate(blocks)}
        out["query_feats"] = np.stack([rec.blocks.items[b][0] for b in blocks])
        out["window_step.frames"] = np.array([[remap[f] for f in w["frames"]] for w in windows], np.int64)
        out["window_step.query_feats"] = np.array([bmap[w["query_feats"]] for w in windows], np.int64)
        for name in WINDOW_STATE:
            out[f"window_step.{name}"] = np.stack([w[name] for w in windows])
    return out


# ---------------------------------------------------------------------------------------------- cache files
def _check_out_dir(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / CALIB_META).is_file())):
        raise ValueError(f"calibration cache {out} exists and is not an empty directory or an earlier cache; "
                         "choose another --out")


def _write_cache(out: Path, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("*.npy")) + list(out.glob("*.trtcalib")) + [out / CALIB_META]:
        old.unlink(missing_ok=True)  # an earlier collection in the same place: nothing stale survives
    for name, a in arrays.items():
        np.save(out / f"{name}.npy", a)
    (out / CALIB_META).write_text(json.dumps(manifest, indent=2) + "\n")


def is_calibration_cache(path: str | Path) -> bool:
    return (Path(path) / CALIB_META).is_file()


def read_calibration(cache_dir: str | Path) -> dict[str, Any]:
    """Load and check a cache's manifest (FileNotFoundError / ValueError naming what is wrong)."""
    d = Path(cache_dir)
    path = d / CALIB_META
    if not path.is_file():
        raise FileNotFoundError(f"{d} has no {CALIB_META}: not a calibration cache (python -m export calib ...)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if manifest.get("format") != CALIB_FORMAT:
        raise ValueError(f"{path}: format {manifest.get('format')!r}, expected {CALIB_FORMAT!r}")
    for g in manifest["graphs"]:
        for name in _files_of(g, manifest["levels"]):
            if not (d / f"{name}.npy").is_file():
                raise FileNotFoundError(f"calibration cache {d} lacks {name}.npy (listed for {g})")
    return manifest


def _files_of(graph: str, levels: int) -> list[str]:
    pyr = [f"pyramid.fmap_{lvl}" for lvl in range(levels)]
    return {"encoder": ["encoder.image"], "query": pyr + ["query.frame", "query.xy"],
            "window_step": pyr + ["query_feats", "window_step.frames", "window_step.query_feats"]
            + [f"window_step.{n}" for n in WINDOW_STATE]}[graph]


def check_calibration(manifest: dict, meta: dict, hashes: dict[str, str], graphs: Sequence[str],
                      opt_points: int) -> None:
    """ValueError unless the cache calibrates `graphs` of this export at the profile's opt points count."""
    if list(manifest["image_size"]) != list(meta["image_size"]):
        raise ValueError(f"the calibration cache is for {manifest['image_size'][0]}x{manifest['image_size'][1]} "
                         f"images, this export runs at {meta['image_size'][0]}x{meta['image_size'][1]}")
    for g in graphs:
        if g not in manifest["graphs"]:
            raise ValueError(f"the calibration cache has no {g} batches; collect them with "
                             f"`python -m export calib ... --graphs {' '.join(graphs)}`")
        if g != "encoder":  # the others' inputs came from this export's graphs and are sized by points
            if any(manifest["onnx_sha256"][h] != hashes[h] for h in ("encoder", "query", g)):
                raise ValueError(f"the calibration cache's {g} inputs were recorded with other ONNX graphs; "
                                 "collect again for this export")
            if manifest["points"] != opt_points:
                raise ValueError(f"the calibration cache holds {manifest['points']} points per batch but the "
                                 f"profile's OPT is {opt_points}: TensorRT calibrates at OPT; collect with "
                                 f"--points {opt_points} or build with --points MIN {manifest['points']} MAX")


def calibration_batches(cache_dir: str | Path, graph: str, manifest: dict | None = None
                        ) -> Iterator[dict[str, np.ndarray]]:
    """The cached batches of one graph, in order, as {input name: float32 array of its input shape}."""
    d = Path(cache_dir)
    manifest = manifest or read_calibration(d)
    if graph not in manifest["graphs"]:
        raise ValueError(f"calibration cache {d} has no {graph} batches")
    L = manifest["levels"]
    load = {n: np.load(d / f"{n}.npy", mmap_mode="r") for n in _files_of(graph, L)}
    for i in range(manifest["graphs"][graph]["batches"]):
        if graph == "encoder":
            batch = {"image": load["encoder.image"][i]}
        elif graph == "query":
            p = int(load["query.frame"][i])
            batch = {n: load[f"pyramid.{n}"][p] for n in fmap_names(L)}
            batch["xy"] = load["query.xy"][i]
        else:
            frames = np.asarray(load["window_step.frames"][i])
            batch = {n: load[f"pyramid.{m}"][frames] for n, m in zip(fmaps_names(L), fmap_names(L))}
            batch.update({n: load[f"window_step.{n}"][i] for n in WINDOW_STATE})
            batch["query_feats"] = load["query_feats"][int(load["window_step.query_feats"][i])]
        yield {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in batch.items()}


def open_or_collect(calib: str | Path, onnx_dir: str | Path, collect_to: str | Path, graphs: Sequence[str],
                    opt_points: int, max_frames: int = 64) -> tuple[Path, dict]:
    """The cache to calibrate `graphs` with: `calib` itself when it is a cache, else frames collected from it
    into collect_to (onnxruntime needed for query / window_step). Checked against this export."""
    meta = read_meta(onnx_dir)
    if is_calibration_cache(calib):
        cache = Path(calib)
        manifest = read_calibration(cache)
    else:
        cache = Path(collect_to)
        manifest = collect_calibration(onnx_dir, calib, cache, max_frames=max_frames, points=opt_points,
                                       graphs=graphs)
    check_calibration(manifest, meta, onnx_hashes(onnx_dir, meta), graphs, opt_points)
    return cache, manifest


def scale_cache_path(cache_dir: str | Path, graph: str, manifest: dict) -> Path:
    """Where TensorRT's calibration table for `graph` lives: beside the data, keyed by the graph file's hash."""
    return Path(cache_dir) / f"{graph}.{manifest['onnx_sha256'][graph][:12]}.trtcalib"


# ---------------------------------------------------------------------------------------------- TensorRT
def make_calibrator(trt, cache_dir: str | Path, graph: str, manifest: dict | None = None):
    """A trt.IInt8EntropyCalibrator2 feeding `graph`'s cached batches through cuda-python device buffers.

    One batch per get_batch (batch size 1: the graphs have no batch axis); the inputs must have the
    calibration profile's OPT shapes, which `check_calibration` guarantees for the points axis. TensorRT's
    table is read from / written to `scale_cache_path`, so a second build skips calibration. Deprecated
    TensorRT API (implicit INT8, since 10.1) that TensorRT 10 still provides; needs a fast-INT8 device.
    """
    from cuda.bindings import runtime as cudart

    from rt_edge.backends.tensorrt_backend import DeviceArray

    manifest = manifest or read_calibration(cache_dir)
    shapes = {n: tuple(s) for n, s in manifest["graphs"][graph]["inputs"].items()}
    table = scale_cache_path(cache_dir, graph, manifest)

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)  # the bindings need the base initialised explicitly
            self._batches = calibration_batches(cache_dir, graph, manifest)
            self._device = {n: DeviceArray(cudart, s) for n, s in shapes.items()}

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):
            batch = next(self._batches, None)
            if batch is None:
                return None  # no more data: calibration ends
            ptrs = []
            for name in names:
                if name not in batch or batch[name].shape != shapes[name]:
                    got = batch[name].shape if name in batch else None
                    raise ValueError(f"calibration batch for {graph} input {name!r}: expected shape "
                                     f"{shapes.get(name)}, got {got}")
                a, buf = batch[name], self._device[name]
                err, = cudart.cudaMemcpy(buf.ptr, a.ctypes.data, a.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice)
                if int(err) != 0:
                    raise RuntimeError(f"cudaMemcpy of calibration input {name} failed: {err}")
                ptrs.append(int(buf.ptr))
            return ptrs

        def read_calibration_cache(self):
            return table.read_bytes() if table.is_file() else None

        def write_calibration_cache(self, cache) -> None:
            table.write_bytes(bytes(cache))

    return EntropyCalibrator()
