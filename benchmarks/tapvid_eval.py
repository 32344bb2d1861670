"""Evaluating a Predictor on TAP-Vid examples: per-video metrics and the benchmark mean (numpy only).

The predictor sees each example's 256x256 video and its queries as (t, x, y) raster pixels;
its tracks are scored on the same raster by `rt_edge.evaluation.tapvid.compute_metrics`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable

import numpy as np

from rt_edge.evaluation.tapvid import compute_metrics
from rt_edge.evaluation.trackers import Predictor

# Table columns: metric key -> short name (the papers' AJ, <delta^x_avg, OA).
HEADLINE = {"average_jaccard": "AJ", "average_pts_within_thresh": "delta_avg", "occlusion_accuracy": "OA"}


def predictor_queries(query_points: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(Q, 3) benchmark rows (t, y, x) -> predictor rows (t, x, y), positions clipped to the pixel-centre
    range [0, W-1] x [0, H-1] (benchmark points reach x*256 = 256, or slightly below 0 in Kinetics,
    and trackers refuse points outside the frame; the move is under 1 px)."""
    H, W = hw
    q = np.asarray(query_points, dtype=np.float64)[:, [0, 2, 1]].copy()
    q[:, 1] = np.clip(q[:, 1], 0, W - 1)
    q[:, 2] = np.clip(q[:, 2], 0, H - 1)
    return q


def evaluate_example(predictor: Predictor, example: dict, query_mode: str) -> dict:
    """Run the predictor on one example and score it: a row of float metrics (fractions, not x100)."""
    video = example["video"]
    qp = example["query_points"][0]  # (Q, 3) (t, y, x)
    Q, T = example["occluded"].shape[1:]
    start = time.perf_counter()
    tracks, occluded = predictor(video, predictor_queries(qp, video.shape[1:3]))
    seconds = time.perf_counter() - start
    tracks, occluded = np.asarray(tracks, dtype=np.float64), np.asarray(occluded)
    if tracks.shape != (Q, T, 2) or occluded.shape != (Q, T):
        raise ValueError(f"video {example['name']!r}: predictor returned tracks {tracks.shape} and occluded "
                         f"{occluded.shape}, expected ({Q}, {T}, 2) and ({Q}, {T})")
    if not np.isfinite(tracks).all():
        raise ValueError(f"video {example['name']!r}: predictor returned NaN or inf positions")
    m = compute_metrics(example["query_points"], example["occluded"], example["target_points"],
                        occluded.astype(bool)[None], tracks[None], query_mode)
    row = {"video": example["name"], "points": int(Q), "frames": int(T), "seconds": round(seconds, 3)}
    row.update({k: float(v[0]) for k, v in m.items()})
    return row


def evaluate(predictor: Predictor, examples: Iterable[dict], query_mode: str, limit: int | None = None,
             progress: bool = True, total: int | None = None) -> dict:
    """Score every example (the first `limit`): {"videos": rows, "mean": metric -> mean over videos,
    "skipped": [names without any query]}. Videos without queries (strided mode, nothing visible on
    the query frames) have no defined score and are listed as skipped instead."""
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        examples = itertools.islice(examples, limit)
        total = limit if total is None else min(total, limit)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="video", desc=f"tapvid {query_mode}")
    rows, skipped = [], []
    try:
        for ex in examples:
            if bar is not None:
                bar.set_postfix_str(ex["name"][-24:])
            if ex["query_points"].shape[1] == 0:
                skipped.append(ex["name"])
            else:
                rows.append(evaluate_example(predictor, ex, query_mode))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    keys = [k for k in rows[0] if k not in ("video", "points", "frames", "seconds")] if rows else []
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    return {"videos": rows, "mean": mean, "skipped": skipped}


def format_table(result: dict) -> str:
    """Per-video AJ, delta_avg and OA (x100, as the papers print them) and the mean."""
    mean_label = f"mean of {len(result['videos'])}"
    width = max(12, len(mean_label), *(len(r["video"]) for r in result["videos"]))
    head = f"{'video':<{width}} {'points':>6} " + " ".join(f"{s:>9}" for s in HEADLINE.values())
    lines = [head, "-" * len(head)]
    for r in result["videos"]:
        lines.append(f"{r['video']:<{width}} {r['points']:>6} " + " ".join(f"{100 * r[k]:>9.2f}" for k in HEADLINE))
    lines.append("-" * len(head))
    if result["mean"]:
        lines.append(f"{mean_label:<{width}} {'':>6} " + " ".join(f"{100 * result['mean'][k]:>9.2f}" for k in HEADLINE))
    if result["skipped"]:
        lines.append(f"skipped (no query point): {', '.join(result['skipped'])}")
    return "\n".join(lines)
