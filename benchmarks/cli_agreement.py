"""`python -m benchmarks agreement`: checkpoints against teacher labels on held-out clips of unlabelled videos."""

from __future__ import annotations

import json
from pathlib import Path


def run(args) -> int:
    from training.pseudo_labels import ClipSpec, build_cache, cached_clips, list_videos, load_labelled
    from training.teachers import load_teachers, parse_spec

    from .agreement import evaluate
    from rt_edge.evaluation.trackers import rt_edge_predictor

    for name, values in (("--size", args.size), ("--clip-frames", [args.clip_frames]), ("--points", [args.points]),
                         ("--clips-per-video", [args.clips_per_video]), ("--iters", [args.iters])):
        if any(v < 1 for v in values):
            raise ValueError(f"{name} must be positive, got {' '.join(map(str, values))}")
    for ckpt in args.checkpoint:
        if not Path(ckpt).is_file():
            raise FileNotFoundError(f"checkpoint not found: {ckpt}")
    for spec in args.teachers:
        parse_spec(spec)
    videos = list_videos(args.videos)
    clip = ClipSpec(frames=args.clip_frames, size=tuple(args.size), points=args.points, keyframes=args.keyframes)
    stats = build_cache(args.cache, videos, lambda: load_teachers(args.teachers), args.teachers, clip, args.seed,
                        args.clips_per_video, progress=True)
    files = cached_clips(args.cache, videos, args.clips_per_video)
    if not files:
        raise ValueError(f"SIFT skipped every clip of the {len(videos)} videos: lower --points or raise --size")
    clips = [load_labelled(f) for f in files]
    # backward=False: with query mode "first" no frame before a query is scored
    predictors = {ckpt: rt_edge_predictor(ckpt, iters=args.iters, backward=False, threads=args.threads)
                  for ckpt in args.checkpoint}
    scores = evaluate(predictors, clips, progress=True)

    width = max(10, *map(len, scores))
    for spec in args.teachers:
        print(f"\nagainst {spec}")
        print(f"{'checkpoint':<{width}} {'AJ':>7} {'<delta_avg':>11} {'OA':>7}")
        for name, per_teacher in scores.items():
            m = per_teacher[spec]
            print(f"{name:<{width}} {m['average_jaccard']:7.4f} {m['average_pts_within_thresh']:11.4f} "
                  f"{m['occlusion_accuracy']:7.4f}")
    settings = dict(videos=str(args.videos), teachers=args.teachers, cache=str(args.cache), seed=args.seed,
                    clips=[f.name for f in files], skipped=len(stats["skipped"]), size=list(args.size),
                    clip_frames=args.clip_frames, points=args.points, keyframes=args.keyframes, iters=args.iters,
                    query_mode="first", raster=256)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"_settings": settings, **scores}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser(
        "agreement", help="checkpoints vs teacher labels on held-out clips of unlabelled videos (no ground truth)",
        description="Did pseudo-label fine-tuning adapt the student to your videos? Label --clips-per-video random "
        "crops of every video in --videos with the --teachers (SIFT queries, as `python -m training pseudo`; "
        "cached in --cache and reused), run each --checkpoint on them, and score its tracks against each "
        "teacher's labels with the TAP-Vid metrics (query mode 'first', 256x256 raster). Use a --seed other than "
        "the fine-tuning run's so the crops and queries are new. Agreement is bounded by the teachers' own "
        "errors; accuracy against exact ground truth is `python -m benchmarks realtex`.")
    p.add_argument("--videos", required=True, metavar="DIR", help="folder of videos or image folders")
    p.add_argument("--teachers", required=True, nargs="+", metavar="SPEC",
                   help="teacher SPECs as in `python -m training pseudo` (lk[:win=..], flow[:method=..], ...)")
    cli_args.add_checkpoint(p, many=True, required=True, what="to compare")
    p.add_argument("--cache", required=True, metavar="DIR", help="label cache for these clips (made once, reused)")
    p.add_argument("--out", required=True, help="result JSON")
    p.add_argument("--seed", type=int, default=1, help="clip and query seed (1; differ from the training run's)")
    p.add_argument("--clips-per-video", type=int, default=2, metavar="K", help="clips per video (2)")
    p.add_argument("--size", nargs=2, type=int, default=[128, 128], metavar=("H", "W"), help="clip size (128 128)")
    p.add_argument("--clip-frames", type=int, default=32, metavar="T", help="clip length (32)")
    p.add_argument("--points", type=int, default=64, help="SIFT queries per clip (64)")
    p.add_argument("--keyframes", type=int, default=8, help="frames SIFT runs on (8)")
    cli_args.add_iters(p, default=6)
    cli_args.add_threads(p, default=0)
    p.set_defaults(func=run)
