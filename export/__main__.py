"""Export for deployment: ONNX graphs (float32, fp16, INT8), TensorRT engines, calibration, TensorRT audit.

`rt-edge export COMMAND` or `python -m export COMMAND`:

    python -m export onnx --checkpoint PATH --out DIR [--image-size H W] [--iters 6] [--max-points N] [--opset 17] [--fp16]
                          [--corr4d-plugin]
    python -m export trt --onnx-dir DIR [--fp16] [--points MIN OPT MAX] [--workspace-gb G] [--timing-cache F]
                         [--int8-calib DIR [--int8-graphs G ...] [--calib-frames N]]
    python -m export calib --onnx-dir DIR --images FRAMES --out CACHE [--calib-frames N] [--points N] [--graphs G ...]
    python -m export quantize --onnx-dir DIR --out INT8_DIR [--calib VIDEO|FOLDER|CACHE ...] [--graphs G ...]
    python -m export audit --onnx-dir DIR [--fp16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rt_edge.backends.onnx_meta import GRAPHS, INT8_GRAPHS
from rt_edge import cli_args
from rt_edge.default_model import default_checkpoint
from rt_edge.subcommands import run_parsed

DESCRIPTION = __doc__.splitlines()[0]


def _onnx(args) -> int:
    from .check import check_export
    from .to_onnx import export_onnx

    checkpoint = args.checkpoint or default_checkpoint()
    meta = export_onnx(checkpoint, args.out, image_size=args.image_size, iters=args.iters,
                       max_points=args.max_points, opset=args.opset, fp16=args.fp16,
                       corr4d_plugin=args.corr4d_plugin, stream_iters=args.stream_iters,
                       stream_refine=args.stream_refine)
    if args.ort_fuse:
        from .ort_fuse import fuse_export

        meta = fuse_export(args.out)
    if args.pack:
        from .pack import pack_export

        meta = pack_export(args.out)
    if args.int8:
        import shutil
        import tempfile

        from .quantize import quantize_export

        with tempfile.TemporaryDirectory(dir=Path(args.out).parent) as tmp:
            fp32 = Path(tmp) / "fp32"
            shutil.move(args.out, fp32)
            meta = quantize_export(fp32, args.out, calib=args.int8, calib_frames=args.calib_frames,
                                   full_range_weights=args.full_range_weights)
    report = check_export(args.out)
    H, W = meta["image_size"]
    print(f"exported {checkpoint} -> {args.out} ({H}x{W}, window {meta['window_len']}, iters {meta['iters']}, "
          f"opset {meta['opset']}, up to {meta['max_points']} points, "
          f"{'fp16' if meta['fp16'] else 'int8 (per graph below)' if meta.get('precision') else 'fp32'})")
    if args.pack:
        pk = meta["packed"]
        print(f"  packed: {pk['shared_tensors']} weights in {pk['weights']} ({pk['weights_mb']} MB), "
              f"{pk['fp16_exact']} stored as float16 exactly")
    _print_precision(meta)
    for name, r in report.items():
        print(f"  {name}.onnx: {r['nodes']} nodes, {r['params_mb']:.1f} MB, ops: {', '.join(sorted(r['ops']))}")
    return 0


def _print_precision(meta: dict) -> None:
    for name, p in meta.get("precision", {}).items():
        print(f"  {name}: {p}")


def _add_full_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--full-range-weights", action="store_true",
                   help="int8 weights in all 8 bits instead of 7: a little closer to float32, but only for CPUs with "
                   "VNNI or ARM; on x86 CPUs with AVX2 and no VNNI their int16 sums saturate (pixels off; "
                   "export/quantize.py says how much)")


def _quantize(args) -> int:
    from .quantize import quantize_export

    meta = quantize_export(args.onnx_dir, args.out, calib=args.calib or (), graphs=args.graphs,
                           calib_frames=args.calib_frames, full_range_weights=args.full_range_weights)
    print(f"quantized {args.onnx_dir} -> {args.out}")
    _print_precision(meta)
    return 0


def _trt(args) -> int:
    from .trt_audit import audit_export
    from .trt_build import TensorRTUnavailable, build_engines

    problems = {g: p for g, p in audit_export(args.onnx_dir, fp16=args.fp16).items() if p}
    if problems:
        raise ValueError("the ONNX graphs would not build as they are: " + "; ".join(
            f"{g}: {p[0]}" + (f" (+{len(p) - 1} more)" if len(p) > 1 else "") for g, p in problems.items()))
    try:
        res = build_engines(args.onnx_dir, args.out, fp16=args.fp16, int8_calib=args.int8_calib,
                            points=tuple(args.points) if args.points else None, workspace_gb=args.workspace_gb,
                            timing_cache=args.timing_cache, plugin=args.plugin, int8_graphs=tuple(args.int8_graphs),
                            calib_frames=args.calib_frames)
    except TensorRTUnavailable as e:
        print(f"export: error: {e}", file=sys.stderr)
        return 2
    print(f"built {', '.join(res['engines'].values())} ({res['meta']['precision']}, {res['meta']['device_name']}, "
          f"TensorRT {res['meta']['tensorrt_version']})")
    return 0


def _calib(args) -> int:
    from .calibration import collect_calibration

    m = collect_calibration(args.onnx_dir, args.images, args.out, max_frames=args.calib_frames, points=args.points,
                            graphs=args.graphs)
    size = sum(f.stat().st_size for f in Path(args.out).glob("*.npy")) / 2**20
    counts = ", ".join(f"{g['batches']} {name}" for name, g in m["graphs"].items())
    print(f"calibration batches: {counts} ({m['points']} points) from {len(m['sources'])} source(s) "
          f"-> {args.out} ({size:.1f} MB)")
    return 0


def _audit(args) -> int:
    from .trt_audit import audit_export

    problems = audit_export(args.onnx_dir, fp16=args.fp16)
    for graph, p in problems.items():
        print(f"{graph}: " + ("ok for the TensorRT 10 ONNX parser" if not p else f"{len(p)} problem(s)"))
        for line in p:
            print(f"  - {line}")
    return 1 if any(problems.values()) else 0


def build_parser(prog: str = "python -m export") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    o = sub.add_parser("onnx", help="export encoder / query / window-step / frame-step graphs to ONNX",
                       description="Write DIR/encoder.onnx, DIR/query.onnx, DIR/window_step.onnx, "
                       "DIR/frame_step.onnx (the stream schedule) and DIR/meta.json. The number of points is a "
                       "dynamic axis; image size and window length are fixed.")
    cli_args.add_checkpoint(o)
    o.add_argument("--out", required=True, help="output directory")
    cli_args.add_image_size(o, note="fixed in the graphs; 384 384 for the default weights, 384 512 for "
                            "published-size ones")
    cli_args.add_iters(o, note="baked into window_step")
    o.add_argument("--stream-iters", type=int, metavar="K",
                   help="frame_step's update iterations per push (the stream schedule; default: the model config's)")
    o.add_argument("--stream-refine", type=int, metavar="R",
                   help="frames frame_step refines per push, the newest returned (default: the model config's)")
    o.add_argument("--max-points", type=int, default=1024, help="most points (user + context) a window may hold")
    o.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 16 for GridSample; default 17)")
    o.add_argument("--fp16", action="store_true",
                   help="compute in float16 inside the graphs (float32 inputs/outputs; half the file size). "
                   "Meant for GPU runtimes; coordinates lose precision (see README)")
    o.add_argument("--corr4d-plugin", action="store_true",
                   help="emit window_step's 4D correlations as custom rt_edge::Corr4D nodes, implemented by the "
                   "TensorRT plugin librt_edge_corr4d_plugin.so (load it with `export trt --plugin`); such graphs "
                   "do not run on onnxruntime. Default: standard ONNX ops only")
    o.add_argument("--pack", action="store_true",
                   help="store the weights once, in DIR/weights.bin shared by all graphs, as float16 where that "
                   "is exact (lossless; how the package ships its default model)")
    o.add_argument("--ort-fuse", action="store_true",
                   help="fuse the transformer's tanh-GELUs into com.microsoft FastGelu nodes (one pass instead of "
                   "nine; frame_step ~14%% faster on a 2-core CPU): the graphs then run on onnxruntime only, not "
                   "TensorRT. --int8 implies it for the graphs it quantizes")
    o.add_argument("--int8", nargs="+", metavar="CALIB",
                   help="write the INT8 form instead (as `python -m export quantize` makes it; onnxruntime on the "
                   "CPU): CALIB are the encoder's calibration frames, video files and/or folders of images / "
                   "videos, or one `export calib` cache. Not for TensorRT (use `export trt --int8-calib`)")
    o.add_argument("--calib-frames", type=int, default=64, metavar="N",
                   help="with --int8: most calibration frames (default 64)")
    _add_full_range(o)
    o.set_defaults(func=_onnx)
    t = sub.add_parser("trt", help="build TensorRT 10 engines from an ONNX export (on the target device)",
                       description="Build encoder.plan, query.plan and window_step.plan with an optimisation "
                       "profile over the points axis, and engine.json (TensorRT version, device, compute "
                       "capability, precision). Needs the tensorrt package; exits 2 with one line without it.")
    t.add_argument("--onnx-dir", required=True, help="directory written by `python -m export onnx`")
    t.add_argument("--out", help="where to write the plans (default: the ONNX directory)")
    t.add_argument("--fp16", action="store_true", help="allow FP16 kernels")
    t.add_argument("--int8-calib", metavar="DIR",
                   help="enable INT8 with entropy calibration (TensorRT's implicit INT8, deprecated since 10.1 but "
                   "available in 10.x; needs a fast-INT8 device). DIR is a cache from `python -m export calib` "
                   "(collected anywhere, no TensorRT needed), or a folder of images and/or videos collected here "
                   "into OUT/calib with onnxruntime. Combine with --fp16 so non-INT8 layers run in FP16")
    t.add_argument("--int8-graphs", nargs="+", default=["encoder"], choices=GRAPHS, metavar="GRAPH",
                   help="graphs built with INT8 (default: encoder; the query graph only samples and the window "
                   "step's coordinate arithmetic loses sub-pixel accuracy in INT8, so they stay FP16/FP32). "
                   "For query or window_step the cache must hold --points OPT points per batch")
    t.add_argument("--calib-frames", type=int, default=64, metavar="N",
                   help="when --int8-calib is a folder of frames: most frames to collect (default 64)")
    t.add_argument("--points", nargs=3, type=int, metavar=("MIN", "OPT", "MAX"),
                   help="points profile (default: 1, min(256, max), the export's max_points)")
    t.add_argument("--workspace-gb", type=float, default=4.0, help="builder workspace limit (default 4)")
    t.add_argument("--timing-cache", metavar="FILE", help="read and update this timing cache")
    t.add_argument("--plugin", metavar="LIB", help="a TensorRT plugin library to load (e.g. the Corr4D plugin)")
    t.set_defaults(func=_trt)
    c = sub.add_parser("calib", help="collect INT8 calibration batches for `export trt --int8-calib` (no TensorRT)",
                       description="Write a calibration cache (calib.json + .npy) for an ONNX export: encoder inputs "
                       "are the frames resized as the runtime does; query and window-step inputs are recorded "
                       "while the fp32 export, run by onnxruntime through the real OnlineTracker, tracks a grid of "
                       "--points points through the frames. Run it on any machine, copy CACHE to the device.")
    c.add_argument("--onnx-dir", required=True, help="directory written by `python -m export onnx`")
    c.add_argument("--images", required=True, metavar="FRAMES",
                   help="folder of calibration frames: images in it (one sequence, in name order), video files "
                   "(.mp4 .avi .mov .mkv .webm .m4v) and subfolders of images (one sequence each)")
    c.add_argument("--out", required=True, metavar="CACHE", help="cache directory to write (new, empty or an "
                   "earlier cache, which is replaced)")
    c.add_argument("--calib-frames", type=int, default=64, metavar="N",
                   help="most frames in all (the encoder batches), shared evenly between the sequences; the "
                   "query / window batches are those that tracking them produces (default 64)")
    c.add_argument("--points", type=int, metavar="N",
                   help="points per query / window batch; must equal the OPT of `export trt --points` "
                   "(default min(256, max_points), the build's default OPT)")
    c.add_argument("--graphs", nargs="+", default=list(GRAPHS), choices=GRAPHS, metavar="GRAPH",
                   help="graphs to collect for (default all three; `encoder` alone needs no onnxruntime run)")
    c.set_defaults(func=_calib)
    q = sub.add_parser("quantize", help="INT8 copy of a float32 export for onnxruntime on the CPU (no torch needed)",
                       description="Write OUT with the encoder quantized statically (int8 Conv weights per "
                       "channel, uint8 activations calibrated on --calib frames resized as the runtime does) and the "
                       "linear layers of window_step / frame_step quantized dynamically (int8 weights, activations "
                       "per call), the flow head and all coordinate arithmetic left in float32. meta.json records "
                       "each graph's precision. The accuracy this costs is measured in docs/export.md.")
    q.add_argument("--onnx-dir", required=True, help="float32 directory written by `python -m export onnx`")
    q.add_argument("--out", required=True, help="new directory for the INT8 export")
    q.add_argument("--calib", nargs="+", metavar="CALIB",
                   help="encoder calibration frames: video files and/or folders of images / videos, or one cache "
                   "of `python -m export calib`; use clips like the deployment's and not the ones you evaluate on")
    q.add_argument("--graphs", nargs="+", default=list(INT8_GRAPHS), choices=list(INT8_GRAPHS), metavar="GRAPH",
                   help=f"graphs to quantize (default: all of {' '.join(INT8_GRAPHS)})")
    q.add_argument("--calib-frames", type=int, default=64, metavar="N", help="most calibration frames (default 64)")
    _add_full_range(q)
    q.set_defaults(func=_quantize)
    a = sub.add_parser("audit", help="check an ONNX export against what TensorRT 10 can parse (no TensorRT needed)",
                       description="Check each graph of an ONNX export for ops, dtypes and attributes the TensorRT "
                       "10 ONNX parser rejects, without TensorRT. Prints each graph's verdict and its problems; "
                       "exits 1 if any graph has one.")
    a.add_argument("--onnx-dir", required=True, help="directory written by `python -m export onnx`")
    a.add_argument("--fp16", action="store_true", help="also check initialisers fit float16")
    a.set_defaults(func=_audit)
    return p


def main(argv=None, prog: str = "python -m export") -> int:
    return run_parsed(build_parser(prog), argv)


if __name__ == "__main__":
    sys.exit(main())
