"""`python -m training ship`: package a scored recipe snapshot as the default weights, if it clears the bar."""

from __future__ import annotations


def run(args) -> int:
    import json

    from .ship_default import ship

    print(json.dumps(ship(args.snapshot, args.tag, args.out), indent=1))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "ship", help="package a scored recipe snapshot as the package's default weights (refuses one below the bar)",
        description="Build the model card of SNAPSHOT from the results `training/recipes/score_snapshot.sh "
        "SNAPSHOT TAG` wrote under benchmarks/results (realtex seeds 0 and 1, ONNX replay, cycle error, at "
        "384x384) and package it as --out, the way `train package` does. Refuses a snapshot that does not clear "
        "issue 8's bar (LK + 10 points of AJ and of delta_avg on both seeds, onnxruntime replay within 5e-3 px) "
        "or whose results scored another file. Run from the repository root.")
    p.add_argument("snapshot", help="a recipe snapshot, relative to the repository, e.g. ../snapshots/stage6.pth "
                   "(listed in training/recipes/snapshots/MANIFEST.json)")
    p.add_argument("tag", help="the TAG score_snapshot.sh wrote its results under, e.g. stage6")
    p.add_argument("--out", default="rt_edge/assets/default_model.pth",
                   help="where to write (default: rt_edge/assets/default_model.pth)")
    p.set_defaults(func=run)
