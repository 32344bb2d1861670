"""`python -m benchmarks tapvid`: TAP-Vid accuracy (AJ, <delta^x_avg, OA) of the rt-edge tracker."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

from rt_edge.default_model import NOT_INSTALLED, shipped
from rt_edge.evaluation.trackers import SUPPORT_MODES

from .tapvid_data import COORD_CONVENTIONS, DATASETS, QUERY_MODES, load_examples

BACKENDS = ("torch", "onnxruntime")
TRACKER_MODES = ("online", "offline")


def _check_args(args) -> None:
    args.checkpoint = args.checkpoint or shipped(args.backend)
    if not args.checkpoint:
        raise ValueError(f"no --checkpoint given and {NOT_INSTALLED}; pass a CoTracker3 checkpoint "
                         "(.pth) or, with --backend onnxruntime, a `python -m export onnx` directory")
    ckpt = Path(args.checkpoint)
    if not ckpt.exists():
        raise FileNotFoundError(f"checkpoint not found: {ckpt}")
    if args.backend == "onnxruntime" and not ckpt.is_dir():
        raise ValueError(f"--backend onnxruntime takes an export directory (python -m export onnx), got file {ckpt}")
    if args.backend == "torch" and ckpt.is_dir():
        raise ValueError(f"--backend torch takes a checkpoint file, got directory {ckpt} (use --backend onnxruntime)")
    if args.tracker == "offline" and args.backend != "torch":
        raise ValueError("--tracker offline runs on the torch backend only")
    if args.iters < 1:
        raise ValueError(f"--iters must be >= 1, got {args.iters}")


def run(args) -> int:
    from .tapvid_eval import evaluate, format_table
    from rt_edge.evaluation.trackers import rt_edge_predictor

    _check_args(args)
    examples = load_examples(args.dataset, args.data, args.mode, limit=args.limit, coords=args.coords)
    versions = {}
    if args.backend == "torch":
        import torch

        versions["torch"] = torch.__version__
    else:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    predictor = rt_edge_predictor(args.checkpoint, backend=args.backend, mode=args.tracker,
                                  image_size=tuple(args.image_size) if args.image_size else None, iters=args.iters,
                                  support=args.support, backward=args.mode == "strided", threads=args.threads)
    result = evaluate(predictor, examples, args.mode, progress=not args.no_progress)
    if not result["videos"]:
        raise ValueError(f"no video of {args.data} had a query point to score")
    print(format_table(result))
    report = {
        "dataset": args.dataset, "data": str(args.data), "mode": args.mode, "checkpoint": str(args.checkpoint),
        "backend": args.backend, "tracker": args.tracker, "support": args.support, "iters": args.iters,
        "image_size": args.image_size or "model default", "coords": args.coords, "limit": args.limit,
        "raster": "256x256 (metrics; tables print x100)",
        "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, python {platform.python_version()}",
        "versions": versions,
        "num_videos": len(result["videos"]), **result,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser(
        "tapvid", help="TAP-Vid accuracy: AJ, <delta^x_avg, OA on DAVIS, RGB-Stacking, Kinetics or RoboTAP",
        description="Evaluate the rt-edge tracker on a TAP-Vid benchmark as published: videos resized to "
        "256x256 (OpenCV INTER_AREA when shrinking), queries sampled 'first' (each track at its first visible "
        "frame) or 'strided' (every 5 frames, each track visible there), metrics on the 256x256 raster. Prints a table "
        "(x100, as the papers do) with the mean over videos and writes per-video metrics as JSON with --out.")
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--data", required=True, metavar="PATH",
                   help="davis / rgb_stacking: the .pkl file; kinetics: the directory of *_of_*.pkl shards; "
                   "robotap: the directory of robotap_split*.pkl (or one file)")
    cli_args.add_checkpoint(p, exports=True)
    p.add_argument("--mode", required=True, choices=QUERY_MODES, help="query sampling (and which frames count)")
    cli_args.add_backend(p, choices=BACKENDS, default="torch")
    p.add_argument("--tracker", default="online", choices=TRACKER_MODES,
                   help="online sliding windows (default) or one offline window (offline checkpoint, torch)")
    p.add_argument("--support", default="joint", choices=SUPPORT_MODES,
                   help="joint: all points of a video in one run (fast); single: one run per point with its "
                   "own support grids (the papers' protocol, N times the cost)")
    cli_args.add_iters(p, default=6)
    cli_args.add_image_size(p)
    p.add_argument("--coords", default="tapnet", choices=tuple(COORD_CONVENTIONS),
                   help="normalised points -> raster: tapnet x*256 (the benchmark's, default) or cotracker "
                   "x*255 (CoTracker's evaluation)")
    p.add_argument("--limit", type=int, metavar="K", help="only the first K videos")
    cli_args.add_threads(p, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--out", metavar="FILE.json", help="write per-video metrics, means and the settings here")
    p.set_defaults(func=run)
