"""`python -m training curves`: plot and summarise training runs from their log.jsonl."""

from __future__ import annotations

import argparse
import json


def run(args) -> int:
    from .curves import plot_curves, read_log, summary

    logs = [read_log(r) for r in args.runs]
    rows = [summary(log, args.window) for log in logs]
    for r in rows:
        print(f"{r['run']}: {r['steps']} steps; median track loss {r['track_loss_median_first']:.1f} over the first "
              f"{r['window']} logged steps -> {r['track_loss_median_last']:.1f} over the last {r['window']}")
        for e in r["eval"]:
            aj, delta, oa = (e.get(k, float("nan")) for k in ("average_jaccard", "average_pts_within_thresh",
                                                              "occlusion_accuracy"))
            print(f"  step {e['step']}: held-out AJ {aj:.3f}, delta_avg {delta:.3f}, OA {oa:.3f}")
    if args.out:
        plot_curves(logs, args.out, args.window)
        print(f"wrote {args.out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
            f.write("\n")
    return 0


def _window(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def register(sub) -> None:
    p = sub.add_parser(
        "curves", help="plot the loss and held-out scores of training runs",
        description="Read OUT/log.jsonl of one or more `python -m training kubric` or `pseudo` runs (steps "
        "repeated by a resumed run count once, the later rows winning), print each run's median track loss at its "
        "start and end and its held-out evaluations, and optionally plot them: track loss per step (raw and a "
        "running median, log scale) beside held-out AJ and delta_avg.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="training output folders (or log.jsonl files)")
    p.add_argument("--out", metavar="F.png", help="write the plot here")
    p.add_argument("--json", metavar="F.json", help="write the summaries here")
    p.add_argument("--window", type=_window, default=100, metavar="K",
                   help="steps in the running median and in the start/end summaries (default 100)")
    p.set_defaults(func=run)
