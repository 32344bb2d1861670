"""`python -m benchmarks stream-sweep`: the stream schedule's settings (refined frames R, iterations K, the
visibility threshold) scored on realtex sequences, the measurement its defaults were chosen by."""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from rt_edge.evaluation.tapvid import SUMMARY

THRESHOLDS = (0.3, 0.4, 0.5, 0.6)


def run(args) -> int:
    from tqdm import tqdm

    from rt_edge.api import track_video
    from rt_edge.default_model import shipped
    from rt_edge.model import load_checkpoint

    from .realtex import generate, score

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    checkpoint = args.checkpoint or shipped("torch")
    if checkpoint is None:
        raise ValueError("no --checkpoint and the package's default weights are not installed")
    model = load_checkpoint(checkpoint)
    S = model.cfg.window_len
    if not all(1 <= r < S for r in args.refine) or min(args.stream_iters) < 1:
        raise ValueError(f"--refine values must be in 1..{S - 1} (below the window length {S}) and --stream-iters "
                         f"positive, got {args.refine} and {args.stream_iters}")
    sequences = generate(args.videos, seed=args.seed, count=args.sequences)
    grid = list(itertools.product(args.refine, args.stream_iters, args.reuse))
    base_cfg = model.cfg
    results = []
    bar = tqdm(total=len(grid) * len(sequences), desc="stream-sweep", unit="seq", file=sys.stderr)
    for R, K, reuse in grid:
        model.cfg = dataclasses.replace(base_cfg, stream_reuse=reuse == "on")
        start, predictions = time.perf_counter(), []
        for seq in sequences:
            q = seq.queries
            tr = track_video(seq.video, q, mode="online", checkpoint=model, backend="torch",
                             image_size=tuple(args.image_size), context_points=True, schedule="stream",
                             stream_iters=K, stream_refine=R)
            undefined = np.isnan(tr.xy).any(-1)  # before a query frame: never scored in query mode "first"
            xy = np.where(undefined[..., None], q[None, :, 1:], tr.xy).transpose(1, 0, 2)
            predictions.append((seq, xy, (tr.visibility * tr.confidence).T, undefined.T))
            bar.update()
        row = {"refine": R, "stream_iters": K, "stream_reuse": reuse == "on", "seconds": time.perf_counter() - start, "thresholds": {}}
        for th in args.thresholds:
            scores = [score(s, xy, (p <= th) | u) for s, xy, p, u in predictions]
            row["thresholds"][str(th)] = {k: float(np.mean([m[k] for m in scores])) for k in SUMMARY}
        results.append(row)
        best = max(row["thresholds"], key=lambda t: row["thresholds"][t]["average_jaccard"])
        tqdm.write(f"R={R} K={K} reuse {reuse}: AJ " + "  ".join(f"{t}: {row['thresholds'][t]['average_jaccard']:.4f}"
                                                   for t in row["thresholds"]) + f"  (best threshold {best})",
                   file=sys.stderr)
    bar.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"_settings": {
        "videos": [str(v) for v in args.videos], "seed": args.seed, "sequences": [s.name for s in sequences],
        "checkpoint": str(checkpoint), "image_size": list(args.image_size), "rule": "visible: vis * conf > threshold",
        "command": "python -m benchmarks " + " ".join(sys.argv[1:])}, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser(
        "stream-sweep", help="the stream schedule's refined frames, iterations and visibility threshold on realtex",
        description="Track realtex sequences (benchmarks/realtex.py; 256x256, 24 frames, 64 points, query mode "
        "'first') with the stream schedule for every combination of --refine, --stream-iters and --reuse, and score each "
        "at every --thresholds value of vis x conf (TAP-Vid AJ, delta_avg, occlusion accuracy). Choose settings "
        "on clips that are not the held-out ones, then confirm on those with `benchmarks realtex`.")
    p.add_argument("--videos", required=True, nargs="+", metavar="PATH", help="videos to take textures from")
    p.add_argument("--out", required=True, help="result JSON")
    cli_args.add_checkpoint(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sequences", type=int, default=8, help="number of sequences (8)")
    p.add_argument("--refine", nargs="+", type=int, default=[1, 2, 4], metavar="R",
                   help="frames refined per push (1 2 4)")
    p.add_argument("--stream-iters", nargs="+", type=int, default=[1, 2], metavar="K",
                   help="iterations per push (1 2)")
    p.add_argument("--reuse", nargs="+", choices=("on", "off"), default=["on"],
                   help="later passes over the zone only, the older frames' keys and values kept from the first "
                   "pass (on), or over the whole window (off); ModelConfig.stream_reuse (on)")
    p.add_argument("--thresholds", nargs="+", type=float, default=list(THRESHOLDS), metavar="T",
                   help=f"visibility thresholds ({' '.join(map(str, THRESHOLDS))})")
    cli_args.add_image_size(p, default=[384, 384], note="384 384 is the default model's")
    cli_args.add_threads(p, default=1)
    p.set_defaults(func=run)
