"""The `--schedule` / `--stream-iters` / `--stream-refine` flags, defined once for every command that runs the
online tracker, and the keyword arguments they become (`stream_kwargs`)."""

from __future__ import annotations

import argparse

from .session import SCHEDULES

SCHEDULE_HELP = ("online schedule: 'published' (the papers' sliding window: a 16-frame window every 8 frames, "
                 "results 8-15 frames late), 'stream' (each push refines the newest frames of the window ending "
                 "at it: "
                 "frame t returned by its own push, flat cost) or 'window-per-frame' (a whole window per frame)")


def add_schedule_args(p: argparse.ArgumentParser, default: str = "published", many: bool = False) -> None:
    """--schedule (one, or with many=True several), --stream-iters and --stream-refine."""
    if many:
        p.add_argument("--schedule", nargs="+", choices=SCHEDULES, default=[default], metavar="NAME",
                       help=SCHEDULE_HELP + f"; several are run side by side (default: {default})")
    else:
        p.add_argument("--schedule", choices=SCHEDULES, default=default, help=SCHEDULE_HELP + f" (default: {default})")
    p.add_argument("--stream-iters", type=int, metavar="K",
                   help="update iterations per push in the stream schedule (default: the model config's)")
    p.add_argument("--stream-refine", type=int, metavar="R",
                   help="frames the stream schedule refines per push, the newest one returned (default: the model "
                        "config's)")


def stream_kwargs(args: argparse.Namespace) -> dict:
    """stream_iters / stream_refine as OnlineTracker.load, track_video and rt_edge_predictor take them."""
    return {"stream_iters": args.stream_iters, "stream_refine": args.stream_refine}
