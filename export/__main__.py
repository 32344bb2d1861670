"""`python -m export onnx ...`: per-window ONNX graphs for deployment.

    python -m export onnx --checkpoint PATH --out DIR [--image-size H W] [--iters 6] [--max-points N] [--opset 17] [--fp16]
    python -m export trt --onnx-dir DIR [--fp16] [--points MIN OPT MAX] [--workspace-gb G] [--timing-cache F]
    python -m export audit --onnx-dir DIR [--fp16]
"""

from __future__ import annotations

import argparse
import sys


def _onnx(args) -> int:
    from .check import check_export
    from .to_onnx import export_onnx

    meta = export_onnx(args.checkpoint, args.out, image_size=args.image_size, iters=args.iters,
                       max_points=args.max_points, opset=args.opset, fp16=args.fp16)
    report = check_export(args.out)
    H, W = meta["image_size"]
    print(f"exported {args.checkpoint} -> {args.out} ({H}x{W}, window {meta['window_len']}, iters {meta['iters']}, "
          f"opset {meta['opset']}, up to {meta['max_points']} points, {'fp16' if meta['fp16'] else 'fp32'})")
    for name, r in report.items():
        print(f"  {name}.onnx: {r['nodes']} nodes, {r['params_mb']:.1f} MB, ops: {', '.join(sorted(r['ops']))}")
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
                            timing_cache=args.timing_cache, plugin=args.plugin)
    except TensorRTUnavailable as e:
        print(f"export: error: {e}", file=sys.stderr)
        return 2
    print(f"built {', '.join(res['engines'].values())} ({res['meta']['precision']}, {res['meta']['device_name']}, "
          f"TensorRT {res['meta']['tensorrt_version']})")
    return 0


def _audit(args) -> int:
    from .trt_audit import audit_export

    problems = audit_export(args.onnx_dir, fp16=args.fp16)
    for graph, p in problems.items():
        print(f"{graph}: " + ("ok for the TensorRT 10 ONNX parser" if not p else f"{len(p)} problem(s)"))
        for line in p:
            print(f"  - {line}")
    return 1 if any(problems.values()) else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export", description="Export rt-edge models for deployment.")
    sub = p.add_subparsers(dest="command", required=True)
    o = sub.add_parser("onnx", help="export encoder / query / window-step graphs to ONNX",
                       description="Write DIR/encoder.onnx, DIR/query.onnx, DIR/window_step.onnx and DIR/meta.json. "
                       "The number of points is a dynamic axis; image size and window length are fixed.")
    o.add_argument("--checkpoint", required=True, help="CoTracker3 checkpoint (.pth/.pt)")
    o.add_argument("--out", required=True, help="output directory")
    o.add_argument("--image-size", nargs=2, type=int, metavar=("H", "W"), help="default: the model's 384 512")
    o.add_argument("--iters", type=int, default=6, help="refinement iterations baked into the graph (default 6)")
    o.add_argument("--max-points", type=int, default=1024, help="most points (user + context) a window may hold")
    o.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 16 for GridSample; default 17)")
    o.add_argument("--fp16", action="store_true",
                   help="compute in float16 inside the graphs (float32 inputs/outputs; half the file size). "
                   "Meant for GPU runtimes; coordinates lose precision (see README)")
    o.set_defaults(func=_onnx)
    t = sub.add_parser("trt", help="build TensorRT 10 engines from an ONNX export (on the target device)",
                       description="Build encoder.plan, query.plan and window_step.plan with an optimisation "
                       "profile over the points axis, and engine.json (TensorRT version, device, compute "
                       "capability, precision). Needs the tensorrt package; exits 2 with one line without it.")
    t.add_argument("--onnx-dir", required=True, help="directory written by `python -m export onnx`")
    t.add_argument("--out", help="where to write the plans (default: the ONNX directory)")
    t.add_argument("--fp16", action="store_true", help="allow FP16 kernels")
    t.add_argument("--int8-calib", metavar="DIR", help="INT8 calibration frames (not implemented yet)")
    t.add_argument("--points", nargs=3, type=int, metavar=("MIN", "OPT", "MAX"),
                   help="points profile (default: 1, min(256, max), the export's max_points)")
    t.add_argument("--workspace-gb", type=float, default=4.0, help="builder workspace limit (default 4)")
    t.add_argument("--timing-cache", metavar="FILE", help="read and update this timing cache")
    t.add_argument("--plugin", metavar="LIB", help="a TensorRT plugin library to load (e.g. the Corr4D plugin)")
    t.set_defaults(func=_trt)
    a = sub.add_parser("audit", help="check an ONNX export against what TensorRT 10 can parse (no TensorRT needed)")
    a.add_argument("--onnx-dir", required=True)
    a.add_argument("--fp16", action="store_true", help="also check initialisers fit float16")
    a.set_defaults(func=_audit)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"export: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
