"""Training curves from a run's OUT/log.jsonl: the losses per step, smoothed, and the held-out scores.

A run resumed from a checkpoint logs again the steps between that checkpoint and where the previous
sitting stopped; the later rows are the ones that trained the checkpointed weights, so they win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

LOSSES = ("total", "track", "visibility", "confidence")


@dataclass
class RunLog:
    """One run's log: steps (S,) int and per loss (S,) float, in step order; eval rows by step."""

    name: str
    steps: np.ndarray
    losses: dict[str, np.ndarray]
    evals: list[tuple[int, dict[str, float]]] = field(default_factory=list)


def read_log(run_dir: str | Path) -> RunLog:
    """Parse RUN_DIR/log.jsonl (or the file itself); later rows of a step replace earlier ones."""
    path = Path(run_dir)
    path = path / "log.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path} (expected OUT/log.jsonl of `python -m training kubric`)")
    train, evals = {}, {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not a JSON row ({e})") from None
        if "eval" in row:
            evals[int(row["step"])] = {k: float(v) for k, v in row["eval"].items()}
        elif "track" in row or "total" in row:  # kubric rows log every loss, pseudo rows the track loss
            train[int(row["step"])] = row
    if not train:
        raise ValueError(f"{path}: no training step logged")
    steps = np.array(sorted(train), dtype=np.int64)
    losses = {k: np.array([float(train[s].get(k, np.nan)) for s in steps]) for k in LOSSES
              if k in train[int(steps[0])]}
    return RunLog(str(run_dir), steps, losses, sorted(evals.items()))


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing running median over `window` steps (the first ones over what exists): one-clip
    batches make the raw loss swing by 3-5x between steps, and a median ignores the outlier clips."""
    if window < 1:
        raise ValueError(f"smoothing window must be >= 1, got {window}")
    v = np.asarray(values, dtype=np.float64)
    return np.array([np.median(v[max(0, i + 1 - window) : i + 1]) for i in range(len(v))])


def _track(log: RunLog) -> np.ndarray:
    return log.losses["track"] if "track" in log.losses else log.losses["total"]


def summary(log: RunLog, window: int = 100) -> dict:
    """Steps logged, the median track loss over the first and last `window` steps, and the eval rows."""
    track = _track(log)
    w = min(window, len(track))
    return {"run": log.name, "steps": int(log.steps[-1]), "steps_logged": len(log.steps),
            "track_loss_median_first": float(np.median(track[:w])),
            "track_loss_median_last": float(np.median(track[-w:])),
            "window": w, "eval": [{"step": s, **e} for s, e in log.evals]}


def plot_curves(logs: list[RunLog], path: str | Path, window: int = 50) -> None:
    """Left: track loss (raw faint, running median solid, log scale); right: held-out AJ and delta_avg
    (`average_pts_within_thresh`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_eval) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, log in enumerate(logs):
        c = colours[i % len(colours)]
        y = _track(log)
        ax_loss.plot(log.steps, y, color=c, alpha=0.2, lw=0.7)
        ax_loss.plot(log.steps, smooth(y, window), color=c, lw=1.8, label=f"{log.name}: median of {window}")
        if log.evals:
            s = [step for step, _ in log.evals]
            for key, label, style in (("average_jaccard", "AJ", "o-"),
                                      ("average_pts_within_thresh", "delta_avg", "s--")):
                if all(key in e for _, e in log.evals):
                    ax_eval.plot(s, [e[key] for _, e in log.evals], style, color=c, label=f"{log.name}: {label}")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("track loss (Huber, px)")
    ax_loss.grid(True, which="both", alpha=0.3)
    ax_loss.legend(fontsize=8)
    ax_eval.set_xlabel("step")
    ax_eval.set_ylabel("held-out score")
    ax_eval.set_ylim(0, 1)
    ax_eval.grid(True, alpha=0.3)
    if ax_eval.lines:
        ax_eval.legend(fontsize=8)
    else:
        ax_eval.text(0.5, 0.5, "no held-out evaluation logged", ha="center", va="center", transform=ax_eval.transAxes)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
