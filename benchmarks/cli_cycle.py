"""`python -m benchmarks cycle`: forward-backward cycle error on real clips (no ground truth needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rt_edge.default_model import NOT_INSTALLED, shipped
from rt_edge.schedule_args import add_schedule_args, stream_kwargs

NO_CHECKPOINT = f"rt_edge skipped: no --checkpoint given and {NOT_INSTALLED}"


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _table(title: str, reports: dict[str, dict]) -> None:
    """One table: a row per tracker (all points; the visible-only median last)."""
    width = max(10, *map(len, reports))
    print(f"\n{title}")
    print(f"{'tracker':<{width}} {'median px':>9} {'mean px':>8} {'<1px':>6} {'<2px':>6} {'<4px':>6} "
          f"{'visible':>7} {'vis median px':>13} {'points':>6}")
    for name, r in reports.items():
        a = r["all"]
        print(f"{name:<{width}} {_fmt(a['median'], '9.3f')} {_fmt(a['mean'], '8.3f')} {_fmt(a['under_1px'], '6.3f')} "
              f"{_fmt(a['under_2px'], '6.3f')} {_fmt(a['under_4px'], '6.3f')} {r['visible_share']:7.3f} "
              f"{_fmt(r['visible']['median'], '13.3f')} {a['count']:6d}")


def run(args) -> int:
    from .cycle import evaluate
    from rt_edge.evaluation.lk import lk_predictor
    from rt_edge.video import list_clips

    for name, values in (("--size", args.size), ("--grid", [args.grid]), ("--iters", [args.iters])):
        if any(v < 1 for v in values):
            raise ValueError(f"{name} must be positive, got {' '.join(map(str, values))}")
    if args.frames < 2:
        raise ValueError(f"--frames must be >= 2 (a cycle needs two frames), got {args.frames}")
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")
    if args.checkpoint and not Path(args.checkpoint).exists():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    args.checkpoint = args.checkpoint or shipped()
    for v in args.videos:
        if not Path(v).exists():
            raise FileNotFoundError(f"video not found: {v}")
    videos = [p for v in args.videos for p in list_clips(str(v))]  # folders expand to their video files
    size = tuple(args.size)
    if 2 * args.margin >= min(size) - 1 or args.margin < 0:
        raise ValueError(f"--margin must be in [0, {(min(size) - 1) / 2:g}) px for --size {size[0]} {size[1]}, "
                         f"got {args.margin}")

    notes = []
    predictors = {}
    if args.checkpoint:
        predictors["rt_edge"] = _rt_edge(args)
    else:
        notes.append(NO_CHECKPOINT)
        print(f"note: {NO_CHECKPOINT}")
    predictors["lk"] = lk_predictor()
    scores = evaluate(predictors, videos, frames=args.frames, size=size, grid=args.grid, margin=args.margin,
                      progress=True)

    print("cycle error, px (all points; visible: share predicted visible in every frame of both legs)")
    for video in next(iter(scores.values()))["per_video"]:
        _table(video, {name: s["per_video"][video] for name, s in scores.items()})
    _table("overall (all videos' points pooled)", {name: s["overall"] for name, s in scores.items()})

    settings = dict(
        videos=[str(v) for v in videos], frames=args.frames, size=list(size), grid=args.grid, margin=args.margin,
        queries="grid on frame 0; forward to the last frame, back through the reversed clip to frame 0",
        resize="cv2.INTER_AREA",
        rt_edge=dict(checkpoint=str(args.checkpoint), iters=args.iters, threads=args.threads, mode="online",
                     image_size=args.image_size, support="joint", backward=False, schedule=args.schedule,
                     **stream_kwargs(args)) if args.checkpoint else None,
        lk="rt_edge.evaluation.lk.lk_predictor() defaults", notes=notes,
        command="python -m benchmarks " + " ".join(sys.argv[1:]),
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"_settings": settings, **scores}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _rt_edge(args):
    """The project's tracker, the checkpoint loaded once for every clip and both legs."""
    from rt_edge.evaluation.trackers import rt_edge_predictor

    # backward=False: every query is on frame 0 of the clip it is tracked in
    return rt_edge_predictor(args.checkpoint, backend="torch", mode="online",
                             image_size=tuple(args.image_size) if args.image_size else None, iters=args.iters,
                             backward=False, threads=args.threads, schedule=args.schedule,
                             **stream_kwargs(args))


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser(
        "cycle", help="forward-backward cycle error on real clips: rt_edge vs OpenCV Lucas-Kanade",
        description="For each video: the first --frames frames resized to --size, a --grid x --grid grid of "
        "queries on frame 0 (--margin px from the border). Each tracker follows the points to the last frame, "
        "then follows those end positions through the time-reversed clip back to frame 0; the cycle error is "
        "the distance from where they come back to where they started (px). No ground truth needed, but it is "
        "a proxy: consistent drift on both legs goes unseen. Reports median, mean, shares under 1/2/4/8 px, "
        "over all points and over points the tracker kept visible in every frame of both legs, per video and "
        "pooled. Trackers: lk (rt_edge.evaluation.lk defaults) always, rt_edge with --checkpoint or the default "
        "weights.")
    p.add_argument("--videos", required=True, nargs="+", metavar="PATH",
                   help="video files and/or folders (a folder: its video files, by name)")
    cli_args.add_checkpoint(p, what="for rt_edge; rt_edge is skipped where none is given and the default model "
                            "is not installed")
    p.add_argument("--out", required=True, help="result JSON")
    p.add_argument("--frames", type=int, default=24, help="frames per clip, from the start (24)")
    p.add_argument("--size", nargs=2, type=int, default=[256, 256], metavar=("H", "W"),
                   help="clip frame size after resizing (256 256)")
    p.add_argument("--grid", type=int, default=8, help="grid side: grid*grid query points per clip (8)")
    p.add_argument("--margin", type=float, default=16.0, help="grid distance from the frame border, px (16)")
    cli_args.add_iters(p, default=6, note="rt_edge's")
    cli_args.add_image_size(p, note="rt_edge's; 384 512 for the published models")
    cli_args.add_threads(p, default=0)
    add_schedule_args(p)
    p.set_defaults(func=run)
