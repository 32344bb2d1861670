"""`python -m benchmarks online`: per-frame time of the runtime against the reference schedule."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path


def run(args) -> int:
    import numpy as np
    import torch

    from rt_edge.context import grid_points
    from rt_edge.video import read_frames
    from rt_edge.backends import check_image_size
    from rt_edge.weights_args import load_weights

    from .schedules import compare

    if args.threads:
        torch.set_num_threads(args.threads)
    model, weights = load_weights(args.checkpoint, args.published)
    frames = read_frames(args.video, max_frames=args.frames)
    side = round(args.points**0.5)
    if side * side != args.points:
        raise ValueError(f"--points must be a square number (a grid), got {args.points}")
    xy = grid_points(side, frames.shape[1:3])
    queries = np.concatenate([np.zeros((len(xy), 1)), xy], axis=1)
    queries[1::2, 0] = min(5, len(frames) - 1)  # half the points start later, as live queries do
    result = compare(model, frames, queries, check_image_size(args.image_size, model.cfg), args.iters, low_latency=not args.no_low_latency,
                     onnx_dir=args.onnx_dir)
    result.update(
        video=str(args.video), weights=weights,
        machine=f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        command="python -m benchmarks " + " ".join(sys.argv[1:]),
    )
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args
    from rt_edge.weights_args import add_weights_args

    o = sub.add_parser("online", help="per-frame time: runtime vs the reference schedule (and low-latency mode)",
                       description="Track a grid on a real clip three ways in one process: the OnlineTracker "
                       "(each frame encoded once), the same in low-latency mode, and the reference online "
                       "schedule (every window re-encoded). Reports seconds per frame, ratios and disagreements.")
    o.add_argument("--video", required=True)
    add_weights_args(o)
    o.add_argument("--points", type=int, default=100, help="a square number: grid points (default 100)")
    o.add_argument("--frames", type=int, default=48, help="frames to use (default 48)")
    cli_args.add_image_size(o, note="384 512 with --published")
    cli_args.add_iters(o, default=6)
    cli_args.add_threads(o, default=0)
    o.add_argument("--no-low-latency", action="store_true", help="skip the low-latency run")
    o.add_argument("--onnx-dir", help="also run the onnxruntime backend on this export (same weights and size): "
                   "closed loop (its own windows) and replay (each torch graph call again on the same inputs)")
    o.add_argument("--out", help="write the JSON result here")
    o.set_defaults(func=run)
