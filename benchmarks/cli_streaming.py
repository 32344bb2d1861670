"""`python -m benchmarks streaming`: per-push cost of the three online schedules side by side, in one process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from rt_edge.schedule_args import add_schedule_args
from rt_edge.session import SCHEDULES


def push_times(tracker, frames, xy) -> list[float]:
    """Seconds of each push of frames (T, H, W, 3) with points xy (N, 2) queried on frame 0."""
    tracker.add_queries(xy, frame=0)
    out = []
    for f in frames:
        t0 = time.perf_counter()
        tracker.push(f)
        out.append(time.perf_counter() - t0)
    tracker.flush()
    return out


def stats(seconds, skip: int) -> dict:
    """ms figures of pushes after the first `skip` (warm-up): mean, p50, p95, p99, max; frames/s; p99/p50."""
    import numpy as np

    s = np.asarray(seconds[skip:], np.float64) * 1e3
    p50, p99 = float(np.percentile(s, 50)), float(np.percentile(s, 99))
    return {"mean_ms": float(s.mean()), "p50_ms": p50, "p95_ms": float(np.percentile(s, 95)), "p99_ms": p99,
            "max_ms": float(s.max()), "frames_per_s": 1e3 / float(s.mean()), "p99_over_p50": p99 / p50}


def run(args) -> int:
    import numpy as np
    import torch

    from rt_edge import OnlineTracker
    from rt_edge.backends import load_executor
    from rt_edge.backends.onnxruntime_backend import OrtExecutor
    from rt_edge.session import configure_stream
    from rt_edge.context import grid_points
    from rt_edge.default_model import default_checkpoint

    from .cli_latency import _load_frames
    from .latency import environment

    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = args.checkpoint or default_checkpoint("torch")
    executors = {}
    for backend in args.backend:
        if backend == "torch":
            executors[backend] = load_executor(ckpt, "torch", image_size=args.image_size, iters=args.iters)
        else:
            dirs = args.onnx_dir or ([] if args.checkpoint else [default_checkpoint("onnxruntime")])
            if not dirs:
                raise ValueError("--backend onnxruntime with --checkpoint needs --onnx-dir (its export)")
            names = [Path(d).name for d in dirs]
            if len(dirs) > 1 and len(set(names)) < len(names):
                raise ValueError(f"--onnx-dir folders need distinct names to label them, got {names}")
            for d, name in zip(dirs, names):
                executors[backend if len(dirs) == 1 else f"{backend}[{name}]"] = OrtExecutor(d, threads=args.threads)
    ex = next(iter(executors.values()))
    for e in executors.values():
        configure_stream(e, args.stream_iters, args.stream_refine)
    size = ex.image_size
    if any(e.image_size != size for e in executors.values()):
        raise ValueError(f"the backends run different image sizes: {[e.image_size for e in executors.values()]}")
    frames, clip_len = _load_frames(args.video, size, args.frames)
    side = int(np.ceil(np.sqrt(args.points)))
    xy = grid_points(side, size)[: args.points]
    skip = ex.cfg.window_len  # the published schedule's first window and the stream's warm-up
    if args.frames < 3 * skip:
        raise ValueError(f"--frames must be at least {3 * skip} (a warm-up window and two more), got {args.frames}")
    runs = [(b, s) for b in executors for s in args.schedule]
    key = (lambda b, s: s) if len(executors) == 1 else (lambda b, s: f"{b}:{s}")
    times = {key(b, s): [] for b, s in runs}
    for _ in range(args.repeats):  # alternate the runs so drifts of the machine hit all alike
        for b, s in runs:
            times[key(b, s)] += push_times(OnlineTracker(executors[b], context_points=False, schedule=s),
                                           frames, xy)[skip:]
    res = {k: stats(t, 0) for k, t in times.items()}
    for b, s in runs:
        r = res[key(b, s)]
        if "published" in args.schedule:
            r["mean_vs_published"] = r["mean_ms"] / res[key(b, "published")]["mean_ms"]
        if "torch" in executors and b != "torch":
            r["mean_vs_torch"] = r["mean_ms"] / res[key("torch", s)]["mean_ms"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"command": "python -m benchmarks " + " ".join(sys.argv[1:]), "commit": commit,
           "environment": environment("cpu"), "checkpoint": str(ckpt),
           "backends": {b: (str(getattr(e, "dir", ckpt))) for b, e in executors.items()}, "image_size": list(size), "points": args.points,
           "iters": args.iters, "frames": args.frames, "clip_frames": clip_len,
           "stream": {b: {"stream_iters": e.stream_iters, "stream_refine": e.stream_refine} for b, e in executors.items()},
           "repeats": args.repeats, "skipped_pushes": skip, "schedules": res}
    for s, r in res.items():
        print(f"{s:>17}: mean {r['mean_ms']:8.1f} ms  p50 {r['p50_ms']:8.1f}  p99 {r['p99_ms']:8.1f}  "
              f"p99/p50 {r['p99_over_p50']:5.2f}  {r['frames_per_s']:6.2f} frames/s"
              + (f"  mean {r['mean_vs_published']:.2f}x published" if "mean_vs_published" in r else "")
              + (f"  {r['mean_vs_torch']:.2f}x torch" if "mean_vs_torch" in r else ""))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser("streaming", help="per-push time of the published, stream and window-per-frame schedules",
                       description="Push the frames of a clip through an OnlineTracker once per "
                       "schedule and backend, alternating the runs --repeats times in one process, and report each "
                       "push's time after the first window_len pushes: mean, p50, p95, p99, max, frames/s, "
                       "p99/p50 (1 = flat) and the mean against the published schedule's.")
    cli_args.add_checkpoint(p, what="for the torch backend")
    p.add_argument("--video", help="clip (default: the shipped sample clip), looped to --frames")
    cli_args.add_image_size(p)
    p.add_argument("--points", type=int, default=100, help="points on a grid on frame 0 (100)")
    p.add_argument("--frames", type=int, default=64, help="frames pushed per run (64)")
    p.add_argument("--repeats", type=int, default=2, help="runs per schedule, alternated (2)")
    cli_args.add_iters(p, default=6, note="of the window schedules")
    cli_args.add_threads(p, default=0)
    cli_args.add_backend(p, choices=("torch", "onnxruntime"), default=["torch"], many=True,
                         note="alternated with the schedules: torch runs --checkpoint, onnxruntime --onnx-dir "
                         "(default: the package's shipped export of the default weights)")
    p.add_argument("--onnx-dir", nargs="+", metavar="DIR",
                   help="the onnxruntime backend's export(s) (of --checkpoint, at the same size); several are "
                   "timed side by side as onnxruntime[folder name]")
    p.add_argument("--out", help="result JSON")
    add_schedule_args(p, many=True)
    p.set_defaults(func=run, schedule=list(SCHEDULES))
