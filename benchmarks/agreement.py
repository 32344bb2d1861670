"""How closely trackers reproduce the teachers on held-out clips of unlabelled videos.

After pseudo-label fine-tuning on their own footage a user has no ground truth. What can be measured
is agreement: each checkpoint's tracks scored against each teacher's labels, with the TAP-Vid
metrics, on clips the student did not train on (crops and SIFT queries drawn with another seed; they
may overlap training clips in time). It is a proxy, bounded by the teachers' own errors: it shows
whether the student adapted to the videos, not that it tracks better elsewhere (`realtex` measures
that on exact ground truth).

Clips are those of a training.pseudo_labels cache: frames (T, H, W, 3), queries (N, 3) rows (t, x, y),
candidates (M, N, T, 2) and occluded (M, N, T) from the M teachers named in `teachers`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rt_edge.evaluation.tapvid import SUMMARY, raster_metrics
from rt_edge.evaluation.trackers import Predictor


def score_against(clip: dict, teacher: int, tracks: np.ndarray, occluded: np.ndarray) -> dict[str, float]:
    """TAP-Vid metrics (query mode "first", the 256 raster) of tracks (N, T, 2) / occluded (N, T)
    against teacher `teacher`'s labels of the clip."""
    return raster_metrics(clip["queries"], clip["candidates"][teacher], clip["occluded"][teacher], tracks, occluded,
                          clip["frames"].shape[1:3])


def evaluate(predictors: dict[str, Predictor], clips: Sequence[dict],
             progress: bool = False) -> dict[str, dict[str, dict[str, float]]]:
    """{tracker: {teacher spec: {metric: mean over clips}}}; every clip must name the same teachers."""
    if not predictors or not clips:
        raise ValueError(f"need trackers and clips, got {len(predictors)} trackers and {len(clips)} clips")
    teachers = [str(t) for t in clips[0]["teachers"]]
    for clip in clips:
        if [str(t) for t in clip["teachers"]] != teachers:
            raise ValueError(f"clips were labelled by different teachers: {teachers} and {list(clip['teachers'])}")
    rows: dict[str, list[list[dict[str, float]]]] = {name: [] for name in predictors}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(clips) * len(predictors), desc="agreement", unit="run")
    for clip in clips:
        for name, predict in predictors.items():
            tracks, occluded = predict(clip["frames"], clip["queries"])
            rows[name].append([score_against(clip, m, tracks, occluded) for m in range(len(teachers))])
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    return {name: {spec: {key: float(np.mean([r[m][key] for r in per_clip])) for key in SUMMARY}
                   for m, spec in enumerate(teachers)}
            for name, per_clip in rows.items()}
