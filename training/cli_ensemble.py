"""`python -m training ensemble`: track a clip with several trackers and a verifier picking per frame."""

from __future__ import annotations

import numpy as np


def run(args) -> int:
    from rt_edge.context import grid_points
    from rt_edge.draw import TrailDrawer
    from rt_edge.track_io import read_points_csv, write_tracks
    from rt_edge.video import VideoWriter, open_source, read_frames, sample_clip_path

    from .ensemble import track_ensemble

    source = args.source or sample_clip_path()
    with open_source(source) as src:
        fps = src.fps
    video = read_frames(source, max_frames=args.max_frames)
    T, H, W = video.shape[:3]
    if args.points:
        queries = read_points_csv(args.points)
    else:
        if args.grid < 1:
            raise ValueError(f"--grid must be positive, got {args.grid}")
        xy = grid_points(args.grid, (H, W))
        queries = np.concatenate([np.zeros((len(xy), 1)), xy], axis=1)
    tracks = track_ensemble(video, queries, args.teachers, args.verifier, args.selection, args.seed)
    if args.out:
        write_tracks(args.out, tracks.frames, tracks.ids, tracks.xy, tracks.visible, tracks.confidence)
        print(f"wrote {args.out}: {T} frames x {len(queries)} points")
    if args.viz:
        drawer = TrailDrawer()
        with VideoWriter(args.viz, fps, (H, W)) as writer:
            for t in range(T):
                writer.write(drawer.draw(video[t], tracks.ids, tracks.xy[t], tracks.visible[t]))
        print(f"wrote {args.viz}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "ensemble", help="track a clip with several trackers, picking the best per frame (verifier)",
        description="Run every --teachers tracker on the clip and build each point's track frame by frame from "
        "their candidates: by the verifier's scores (--selection verifier, the default; needs --verifier from "
        "`python -m training verifier`), or by their mean / median, or one at random. Visibility is the "
        "teachers' majority vote.")
    p.add_argument("source", nargs="?", help="video file or image folder (default: the shipped sample clip)")
    p.add_argument("--teachers", nargs="+", required=True, metavar="SPEC",
                   help="trackers: ckpt:PATH[:online|offline], onnx:DIR, lk[:win=21,levels=3,fb=1.0], "
                   "flow[:method=dis|farneback,fb=1.0], registered names")
    p.add_argument("--verifier", metavar="CKPT", help="verifier checkpoint (for --selection verifier)")
    p.add_argument("--selection", default="verifier", choices=["verifier", "mean", "median", "random"])
    p.add_argument("--grid", type=int, default=10, help="an N x N grid queried on frame 0 (default 10)")
    p.add_argument("--points", metavar="FILE.csv", help="query points, rows t,x,y in frame pixels")
    p.add_argument("--max-frames", type=int, metavar="N", help="use the first N frames")
    p.add_argument("--seed", type=int, default=0, help="for --selection random")
    p.add_argument("--out", metavar="FILE", help="tracks: .npz, .csv or .json")
    p.add_argument("--viz", metavar="FILE.mp4", help="overlay video with coloured tracks")
    p.set_defaults(func=run)
