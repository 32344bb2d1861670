"""`python -m export onnx ...`: per-window ONNX graphs for deployment.

    python -m export onnx --checkpoint PATH --out DIR [--image-size H W] [--iters 6] [--max-points N] [--opset 17]
"""

from __future__ import annotations

import argparse
import sys


def _onnx(args) -> int:
    from .check import check_export
    from .to_onnx import export_onnx

    meta = export_onnx(args.checkpoint, args.out, image_size=args.image_size, iters=args.iters,
                       max_points=args.max_points, opset=args.opset)
    report = check_export(args.out)
    H, W = meta["image_size"]
    print(f"exported {args.checkpoint} -> {args.out} ({H}x{W}, window {meta['window_len']}, iters {meta['iters']}, "
          f"opset {meta['opset']}, up to {meta['max_points']} points)")
    for name, r in report.items():
        print(f"  {name}.onnx: {r['nodes']} nodes, {r['params_mb']:.1f} MB, ops: {', '.join(sorted(r['ops']))}")
    return 0


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
    o.set_defaults(func=_onnx)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"export: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
