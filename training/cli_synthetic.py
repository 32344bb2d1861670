"""`python -m training synthetic`: procedural clips with exact ground truth, in the Kubric release's format."""

from __future__ import annotations

import time


def run(args) -> int:
    from .synthetic import generate

    t0 = time.perf_counter()
    written = generate(args.out, args.sequences, args.frames, tuple(args.size), args.seed, args.points,
                       args.backgrounds, progress=not args.quiet)
    seconds = time.perf_counter() - t0
    print(f"wrote {len(written)} sequences to {args.out} ({seconds / len(written):.2f} s per sequence)")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "synthetic", help="generate synthetic training clips (Kubric release format)",
        description="Render K clips of textured sprites (3-8 polygons, each moving, rotating and scaling along a "
        "smooth path, in depth order, occluding one another and leaving the frame) over a textured background "
        "seen by a smoothly moving camera, with exact point tracks and occlusion flags. Writes "
        "OUT/<seq>/frames/NNNNN.png and OUT/<seq>/<seq>.npy (a dict: coords (N, T, 2) pixels, visibility (N, T) "
        "True where OCCLUDED, as in the release), readable by `python -m training kubric --data OUT`. "
        "Deterministic from --seed.")
    p.add_argument("--out", required=True, help="output folder (created; existing sequences of the same names are "
                   "overwritten)")
    p.add_argument("--sequences", type=int, required=True, metavar="K", help="number of clips")
    p.add_argument("--frames", type=int, default=24, metavar="T", help="frames per clip (default 24)")
    p.add_argument("--size", nargs=2, type=int, default=[256, 256], metavar=("H", "W"),
                   help="frame size (default 256 256)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--points", type=int, default=1024, metavar="N", help="tracks per clip (default 1024; 40%% on "
                   "the background, the rest on sprites by area)")
    p.add_argument("--backgrounds", metavar="DIR", help="folder of videos/images (e.g. ../shared/videos): "
                   "backgrounds and half the sprite textures are taken from their frames instead of generated")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
