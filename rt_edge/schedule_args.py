"""The `--schedule` / `--stream-iters` flags, defined once for every command that runs the online tracker."""

from __future__ import annotations

import argparse

from .session import SCHEDULES

SCHEDULE_HELP = ("online schedule: 'published' (the papers' sliding window: a 16-frame window every 8 frames, "
                 "results 8-15 frames late), 'stream' (every frame refined alone over the last 15 final ones: "
                 "frame t returned by its own push, flat cost) or 'window-per-frame' (a whole window per frame)")


def add_schedule_args(p: argparse.ArgumentParser, default: str = "published", many: bool = False) -> None:
    """--schedule (one, or with many=True several) and --stream-iters."""
    if many:
        p.add_argument("--schedule", nargs="+", choices=SCHEDULES, default=[default], metavar="NAME",
                       help=SCHEDULE_HELP + f"; several are run side by side (default: {default})")
    else:
        p.add_argument("--schedule", choices=SCHEDULES, default=default, help=SCHEDULE_HELP + f" (default: {default})")
    p.add_argument("--stream-iters", type=int, metavar="K",
                   help="update iterations per frame in the stream schedule (default: the model config's, 1)")
