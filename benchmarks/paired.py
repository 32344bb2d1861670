"""Paired comparison of two trackers scored on the same realtex sequences.

Realtex means over 8 sequences move by a point or two from one model to a near copy of it, and the
sequences differ far more from each other than the models do. Scoring both trackers on the same
sequences and looking at the per-sequence differences separates the two: the mean difference with
its standard error (sample standard deviation / sqrt(n)) and how many sequences each side wins.
"""

from __future__ import annotations

import numpy as np

from rt_edge.evaluation.tapvid import SUMMARY


def paired(a: list[dict[str, float]], b: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per metric: mean of a, mean of b, mean of b - a, its standard error, sequences where b > a and b < a.

    a, b: per-sequence scores in the same sequence order (realtex's `_per_sequence` lists).
    """
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"need the same number (>= 2) of sequences on both sides, got {len(a)} and {len(b)}")
    out = {}
    for key in SUMMARY:
        x, y = np.array([r[key] for r in a]), np.array([r[key] for r in b])
        d = y - x
        out[key] = {"a": float(x.mean()), "b": float(y.mean()), "diff": float(d.mean()),
                    "se": float(d.std(ddof=1) / np.sqrt(len(d))), "b_better": int((d > 0).sum()),
                    "b_worse": int((d < 0).sum())}
    return out


def from_results(result_a: dict, result_b: dict, tracker_a: str, tracker_b: str) -> dict[str, dict[str, float]]:
    """paired() of two realtex result files (the JSON `python -m benchmarks realtex` writes); they must have
    scored the same sequences."""
    for name, result, tracker in (("A", result_a, tracker_a), ("B", result_b, tracker_b)):
        rows = result.get("_per_sequence", {})
        if tracker not in rows:
            raise ValueError(f"{name} has no per-sequence scores of {tracker!r} (has: {sorted(rows) or 'none'}; "
                             "files written before per-sequence scores existed must be made again)")
    seq_a, seq_b = result_a["_settings"]["sequences"], result_b["_settings"]["sequences"]
    if seq_a != seq_b:
        raise ValueError(f"the files scored different sequences: {seq_a} vs {seq_b}")
    return paired(result_a["_per_sequence"][tracker_a], result_b["_per_sequence"][tracker_b])
