"""`python -m benchmarks realtex`: tracking accuracy on real textures moved with known motion (exact ground truth)."""

from __future__ import annotations

import json
from pathlib import Path

from rt_edge.default_model import NOT_INSTALLED, shipped
from rt_edge.schedule_args import add_schedule_args, stream_kwargs

NO_CHECKPOINT = f"rt_edge skipped: no --checkpoint given and {NOT_INSTALLED}"


def _positive(name: str, *values: int) -> None:
    for v in values:
        if v < 1:
            raise ValueError(f"{name} must be positive, got {v}")


def run(args) -> int:
    from .error_breakdown import format_breakdown, sample_table, summarize
    from rt_edge.evaluation.lk import lk_predictor
    from .realtex import SequenceStream, evaluate
    from rt_edge.evaluation.tapvid import THRESHOLDS, WITHIN

    _positive("--size", *args.size)
    _positive("--sequences", args.sequences)
    _positive("--points", args.points)
    _positive("--iters", args.iters)
    if args.frames < 2:
        raise ValueError(f"--frames must be >= 2, got {args.frames}")
    if args.checkpoint and not Path(args.checkpoint).exists():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    args.checkpoint = args.checkpoint or shipped(args.backend)
    notes = []
    predictors = {}
    if args.checkpoint:
        predictors["rt_edge"] = _rt_edge(args)
    else:
        notes.append(NO_CHECKPOINT)
        print(f"note: {NO_CHECKPOINT}")
    predictors["lk"] = lk_predictor(win_size=args.lk_win, levels=args.lk_levels, fb_threshold=args.lk_fb)
    if args.teachers:
        from .pseudo_quality import label_predictors

        predictors.update(label_predictors(args.teachers, args.selections, args.verifier, args.seed))

    videos = args.videos[0] if len(args.videos) == 1 else args.videos
    sequences = SequenceStream(videos, seed=args.seed, count=args.sequences, size=tuple(args.size),
                               frames=args.frames, points=args.points)  # made while the bar runs
    timings: dict[str, float] = {}
    per_sequence: dict[str, list[dict[str, float]]] = {}
    tables: dict[str, list] = {name: [] for name in predictors}

    def keep_samples(name, seq, tracks, occluded):
        tables[name].append(sample_table(seq.tracks, seq.occluded, seq.query_frames, seq.occluder_masks,
                                         tracks, occluded))

    scores = evaluate(predictors, sequences, progress=True, timings=timings, per_sequence=per_sequence,
                      on_prediction=keep_samples if args.breakdown else None)

    width = max(10, *map(len, scores))
    print(f"{'tracker':<{width}} {'AJ':>7} {'<delta_avg':>11} {'OA':>7} {'s/seq':>8}")
    for name, m in scores.items():
        print(f"{name:<{width}} {m['average_jaccard']:7.4f} {m['average_pts_within_thresh']:11.4f} "
              f"{m['occlusion_accuracy']:7.4f} {timings[name]:8.2f}")
    print(f"\nshare of visible points within k px (256 raster)\n{'tracker':<{width}} "
          + " ".join(f"{'<' + str(k):>6}" for k in THRESHOLDS))
    for name, m in scores.items():
        print(f"{name:<{width}} " + " ".join(f"{m[key]:6.3f}" for key in WITHIN))
    breakdown = {}
    if args.breakdown:
        breakdown = {"_breakdown": {name: summarize(rows) for name, rows in tables.items()}}
        print("\nerrors by kind of sample (px on the 256 raster; occ?: share called occluded while visible)")
        print(format_breakdown(breakdown["_breakdown"]))
    settings = dict(
        videos=[str(v) for v in args.videos], sequences=sequences.names, seed=args.seed, size=list(args.size),
        frames=args.frames, points=args.points, teachers=args.teachers,
        selections=args.selections if args.teachers else None, verifier=args.verifier, query_mode="first", raster=256,
        rt_edge=dict(checkpoint=str(args.checkpoint), backend=args.backend, iters=args.iters,
                     image_size=args.image_size, support=args.support, schedule=args.schedule,
                     **stream_kwargs(args)) if args.checkpoint else None,
        lk=dict(win_size=args.lk_win, levels=args.lk_levels, fb_threshold=args.lk_fb), notes=notes,
    )
    result = {"_settings": settings, "_per_sequence": per_sequence, **breakdown, **scores}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _rt_edge(args):
    """The project's tracker on these settings, the checkpoint loaded once for every sequence."""
    from rt_edge.evaluation.trackers import rt_edge_predictor

    # backward=False: with query mode "first" no frame before a query is scored
    return rt_edge_predictor(args.checkpoint, backend=args.backend, mode="online",
                             image_size=tuple(args.image_size) if args.image_size else None, iters=args.iters,
                             support=args.support, backward=False, threads=args.threads,
                             schedule=args.schedule, **stream_kwargs(args))


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser(
        "realtex", help="accuracy on real textures moved with known motion: rt_edge vs OpenCV Lucas-Kanade",
        description="Generate sequences from frames of real videos moved by smooth homographies plus a smooth "
        "non-rigid deformation, with moving occluders, so every point's position and occlusion is known exactly "
        "(benchmarks/realtex.py). Score rt_edge (needs --checkpoint) and pyramidal Lucas-Kanade with the TAP-Vid "
        "metrics (query mode 'first', coordinates on the 256x256 raster). Writes {tracker: {average_jaccard, "
        "average_pts_within_thresh, occlusion_accuracy, pts_within_1 .. pts_within_16}} plus '_settings' and "
        "'_per_sequence' (every sequence's scores, for `python -m benchmarks paired`) to --out; "
        "same --seed, same file.")
    p.add_argument("--videos", required=True, nargs="+", metavar="PATH",
                   help="folder(s) of videos or video files to take textures from")
    cli_args.add_checkpoint(p, exports=True, what="for rt_edge; rt_edge is skipped where none is given and the "
                            "default model is not installed")
    p.add_argument("--out", required=True, help="result JSON")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", nargs=2, type=int, default=[256, 256], metavar=("H", "W"), help="frame size (256 256)")
    p.add_argument("--sequences", type=int, default=4, help="number of sequences (4)")
    p.add_argument("--frames", type=int, default=24, help="frames per sequence (24)")
    p.add_argument("--points", type=int, default=64, help="query points per sequence (64)")
    cli_args.add_backend(p, choices=("torch", "onnxruntime"), default="torch", note="rt_edge's")
    cli_args.add_iters(p, default=6, note="rt_edge's")
    cli_args.add_image_size(p, note="rt_edge's; 384 512 for the published models")
    p.add_argument("--support", choices=["joint", "single"], default="joint",
                   help="rt_edge: all points in one run (joint) or one run per point with local support grids")
    cli_args.add_threads(p, default=0)
    add_schedule_args(p)
    p.add_argument("--lk-win", type=int, default=21, help="Lucas-Kanade window (21 px)")
    p.add_argument("--lk-levels", type=int, default=3, help="Lucas-Kanade pyramid levels above the image (3)")
    p.add_argument("--lk-fb", type=float, default=1.0, help="Lucas-Kanade forward-backward threshold (1.0 px)")
    p.add_argument("--breakdown", action="store_true",
                   help="also split every tracker's errors by kind of sample (never occluded, re-appeared after an "
                   "occlusion, near an occluder, near the border, late query; benchmarks/error_breakdown.py), "
                   "printed and written under '_breakdown'")
    p.add_argument("--teachers", nargs="+", metavar="SPEC", help="also score pseudo-labels: each teacher alone "
                   "(training.teachers SPECs: lk[:win=..], flow[:method=..], ckpt:PATH, onnx:DIR)"
                   " and their combinations")
    p.add_argument("--selections", nargs="+", default=["random", "mean", "median"],
                   help="how teachers are combined (random mean median verifier; default random mean median)")
    p.add_argument("--verifier", metavar="CKPT", help="verifier checkpoint for --selections verifier")
    p.set_defaults(func=run)
