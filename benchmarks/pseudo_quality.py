"""Pseudo-label quality as benchmark trackers: each teacher alone and each way of combining them.

`label_predictors(specs, selections, verifier, seed)` returns {name: Predictor}: "teacher:<spec>"
for every teacher and "select:<selection>" for random / mean / median / verifier selection over
all of them (training.pseudo_labels.select, the same code the fine-tuning uses). The teachers run
once per clip and their outputs are shared by every selection.
"""

from __future__ import annotations

import numpy as np

from rt_edge.evaluation.trackers import Predictor


def label_predictors(specs: list[str], selections: list[str], verifier: str | None = None,
                     seed: int = 0) -> dict[str, Predictor]:
    from training.pseudo_labels import SELECTIONS, run_teachers, select
    from training.teachers import load_teachers

    bad = [s for s in selections if s not in SELECTIONS]
    if bad:
        raise ValueError(f"--selections must be among {SELECTIONS}, got {bad}")
    if "verifier" in selections and not verifier:
        raise ValueError("--selections verifier needs --verifier CKPT")
    teachers = load_teachers(specs)
    if "verifier" in selections:
        from training.verifier import load_verifier

        verifier = load_verifier(verifier)  # loaded once, not per clip
    memo: dict = {"key": None}
    rng = np.random.default_rng(seed)

    def candidates(video: np.ndarray, queries: np.ndarray):
        key = (id(video), video.shape, queries.tobytes())
        if memo["key"] != key:
            memo["key"], memo["value"] = key, run_teachers(teachers, video, queries)
        return memo["value"]

    def teacher(m: int) -> Predictor:
        def run(video, queries):
            cand, occ = candidates(video, queries)
            return cand[m], occ[m]
        return run

    def selected(how: str) -> Predictor:
        def run(video, queries):
            cand, occ = candidates(video, queries)
            tracks, occluded, _ = select(how, cand, occ, rng, video, queries, verifier)
            return tracks, occluded
        return run

    out = {f"teacher:{spec}": teacher(m) for m, spec in enumerate(specs)}
    out.update({f"select:{how}": selected(how) for how in selections})
    return out
