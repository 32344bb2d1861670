"""`python -m rt_edge track`: stream a video, image folder or camera through the OnlineTracker."""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque

import numpy as np

from . import cli_args
from .schedule_args import add_schedule_args, stream_kwargs
from .session import VISIBILITY_THRESHOLDS


class Progress:
    """A one-line progress bar on stderr (a line every 10% when stderr is not a terminal)."""

    def __init__(self, total: int | None, stream=sys.stderr):
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.start = time.perf_counter()
        self._last_decile = -1

    def update(self, done: int) -> None:
        fps = done / max(time.perf_counter() - self.start, 1e-9)
        if self.total:
            frac = min(done / self.total, 1.0)
            bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
            text = f"[{bar}] {done}/{self.total} frames  {fps:.2f} fps"
            decile = int(frac * 10)
        else:
            text, decile = f"{done} frames  {fps:.2f} fps", done // 100
        if self.tty:
            self.stream.write("\r" + text)
        elif decile != self._last_decile:
            self.stream.write(text + "\n")
        self._last_decile = decile
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "track",
        help="track points through a video file, an image folder or a camera",
        description="Stream frames through the online tracker (each frame encoded once, bounded memory) "
        "and write tracks and/or an overlay video. Without SOURCE the shipped sample clip is used.",
    )
    p.add_argument("source", nargs="?", help="video file or image folder (default: the shipped sample clip)")
    p.add_argument("--camera", type=int, metavar="N", help="read camera N instead of a file")
    cli_args.add_checkpoint(p, exports=True, what="(the default model: docs/default_model.md)")
    p.add_argument("--grid", type=int, metavar="N", help="track an N x N grid queried on the first frame (default 10)")
    p.add_argument("--points", metavar="FILE.csv", help="query points, rows t,x,y in frame pixels")
    p.add_argument("--out", metavar="FILE", help="write tracks: .npz, .csv or .json (one row per frame and point)")
    p.add_argument("--viz", metavar="FILE.mp4", help="write the frames with coloured tracks and fading trails")
    cli_args.add_backend(p, ("auto", *cli_args.BACKENDS), default="auto",
                         note="auto picks onnxruntime for an export directory and for the default model when its "
                         "shipped ONNX export fits --image-size/--iters/--device, torch for a weights file; the "
                         "choice is printed")
    cli_args.add_device(p, note="on onnxruntime, cuda selects the TensorRT / CUDA execution providers of "
                        "onnxruntime-gpu (pip install 'rt-edge[gpu]'), else the CPU with one line saying why")
    cli_args.add_image_size(p)
    cli_args.add_iters(p)
    p.add_argument("--low-latency", action="store_true", help="same as --schedule window-per-frame")
    add_schedule_args(p)
    p.add_argument("--no-context", action="store_true", help="do not add context (support) points")
    p.add_argument("--threshold", type=float,
                   help="visible when vis x conf > this (default: the schedule's: "
                        + ", ".join(f"{k} {v}" for k, v in VISIBILITY_THRESHOLDS.items()) + ")")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.set_defaults(func=run)


def _queries(args, frame_hw) -> list[tuple[int, np.ndarray]]:
    """[(query frame, xy (K, 2))] from --points or --grid."""
    from .context import grid_points
    from .track_io import read_points_csv

    H, W = frame_hw
    if args.points:
        rows = read_points_csv(args.points)
        if (rows[:, 0] < 0).any() or (rows[:, 0] != np.round(rows[:, 0])).any():
            raise ValueError(f"{args.points}: query frames must be non-negative integers")
        out = (rows[:, 1] < 0) | (rows[:, 1] > W - 1) | (rows[:, 2] < 0) | (rows[:, 2] > H - 1)
        if out.any():
            t, x, y = rows[np.argmax(out)]
            raise ValueError(f"{args.points}: point ({x:g}, {y:g}) at frame {t:g} is outside the {W}x{H} frame")
        return [(int(t), rows[rows[:, 0] == t, 1:]) for t in np.unique(rows[:, 0])]
    n = 10 if args.grid is None else args.grid  # 0 is an error, not the default
    if n < 1:
        raise ValueError(f"--grid must be positive, got {n}")
    return [(0, grid_points(n, (H, W)))]


def run(args: argparse.Namespace) -> int:
    from . import OnlineTracker, Tracks
    from .backends import choose_backend
    from .draw import TrailDrawer
    from .track_io import write_tracks
    from .video import VideoWriter, open_source, sample_clip_path

    if args.camera is not None and args.source:
        raise ValueError("give either SOURCE or --camera, not both")
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be positive, got {args.max_frames}")
    source = open_source(args.camera if args.camera is not None else (args.source or sample_clip_path()))
    with source:
        queries = _queries(args, source.frame_size)
        backend, why = choose_backend(args.checkpoint, args.backend, image_size=args.image_size, iters=args.iters,
                                      **stream_kwargs(args), device=args.device)
        print(f"backend: {backend} ({why})", file=sys.stderr)
        tracker = OnlineTracker.load(args.checkpoint, backend=backend, device=args.device,
                                     image_size=args.image_size, low_latency=args.low_latency, iters=args.iters,
                                     context_points=not args.no_context, visibility_threshold=args.threshold,
                                     schedule=args.schedule, **stream_kwargs(args))
        for t, xy in queries:
            tracker.add_queries(xy, frame=t)
        total = source.num_frames if args.max_frames is None else min(args.max_frames, source.num_frames or 10**12)
        progress = Progress(total)
        writer = VideoWriter(args.viz, source.fps, source.frame_size) if args.viz else None
        drawer = TrailDrawer()
        pending: deque[np.ndarray] = deque()  # frames waiting for their tracks (at most a window)
        parts: list[Tracks] = []
        latencies: list[float] = []

        def consume(tracks: Tracks) -> None:
            parts.append(tracks)
            for i in range(len(tracks)):
                frame = pending.popleft()
                if writer is not None:
                    writer.write(drawer.draw(frame, tracks.ids, tracks.xy[i], tracks.visible[i]))

        start = time.perf_counter()
        n = 0
        try:
            for frame in source:
                if args.max_frames is not None and n >= args.max_frames:
                    break
                pending.append(frame if writer is not None else None)
                t0 = time.perf_counter()
                out = tracker.push(frame)
                latencies.append(time.perf_counter() - t0)
                consume(out)
                n += 1
                progress.update(n)
        except KeyboardInterrupt:
            print("\ninterrupted: finishing the frames read so far", file=sys.stderr)
        consume(tracker.flush())
        elapsed = time.perf_counter() - start
        progress.close()
        if writer is not None:
            writer.close()
    tracks = Tracks.concat(parts)
    if args.out:
        write_tracks(args.out, tracks.frames, tracks.ids, tracks.xy, tracks.visible, tracks.confidence)
        print(f"wrote {args.out}: {len(tracks.frames)} frames x {len(tracks.ids)} points")
    if args.viz:
        print(f"wrote {args.viz}")
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    print(f"{n} frames in {elapsed:.1f} s: {n / max(elapsed, 1e-9):.2f} frames/s, push latency p50 "
          f"{np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms "
          f"({tracker.schedule} schedule, {tracker.executor.name} on {args.device})")
    return 0
