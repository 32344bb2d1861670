"""Learning-rate schedule of the supervised trainer: linear warm-up, then cosine decay to zero."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """Multiplier of the base learning rate at `step` (0-based) of `total` steps."""
    if total < 1:
        raise ValueError(f"total steps must be >= 1, got {total}")
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def restart_ramp(step: int, start: int, warmup: int) -> float:
    """Extra multiplier for a run that begins at step `start` > 0 of its schedule with a fresh optimizer
    (weights from a snapshot, Adam's moments gone): 1/warmup up to 1 over `warmup` steps from `start`, so the
    first updates, whose size Adam does not yet scale, stay small. 1 for a run from step 0."""
    if start <= 0 or warmup <= 0 or step >= start + warmup:
        return 1.0
    return (step - start + 1) / warmup
