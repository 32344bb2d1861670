"""`python -m benchmarks paired`: per-sequence differences between two realtex results."""

from __future__ import annotations

import json
from pathlib import Path


def run(args) -> int:
    from .paired import from_results

    results = []
    for path in (args.a, args.b):
        if not Path(path).is_file():
            raise FileNotFoundError(f"realtex result not found: {path}")
        results.append(json.loads(Path(path).read_text()))
    stats = from_results(*results, args.tracker_a, args.tracker_b or args.tracker_a)
    n = len(results[0]["_per_sequence"][args.tracker_a])
    print(f"B - A over {n} sequences (A: {args.a}, B: {args.b})")
    print(f"{'metric':<26} {'A':>7} {'B':>7} {'B - A':>8} {'s.e.':>7} {'B better':>8} {'B worse':>7}")
    for key, s in stats.items():
        print(f"{key:<26} {s['a']:7.4f} {s['b']:7.4f} {s['diff']:+8.4f} {s['se']:7.4f} {s['b_better']:8d} "
              f"{s['b_worse']:7d}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"a": str(args.a), "b": str(args.b), "sequences": n, **stats}, indent=2) + "\n")
        print(f"wrote {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "paired", help="B minus A on the same realtex sequences: mean difference, standard error, wins",
        description="Compare two trackers scored by `python -m benchmarks realtex` on the same sequences (same "
        "--videos, --seed, --sequences): per metric, the mean of the per-sequence differences B - A, its standard "
        "error, and the number of sequences where B is better or worse. A difference within about two standard "
        "errors of zero is not a result.")
    p.add_argument("a", help="realtex result JSON of A (the baseline)")
    p.add_argument("b", help="realtex result JSON of B")
    p.add_argument("--tracker-a", default="rt_edge", help="tracker name in A (default rt_edge)")
    p.add_argument("--tracker-b", help="tracker name in B (default: --tracker-a)")
    p.add_argument("--out", help="also write the numbers to this JSON")
    p.set_defaults(func=run)
