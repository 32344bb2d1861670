"""The one optimisation loop every trainer here runs (supervised, pseudo-label, verifier).

A trainer supplies what differs: the batch and loss of a step (`step_fn`), the lr of a step, how to save and
what to do after a step (held-out evaluation). The loop owns what is the same: setting the lr, backward,
gradient clipping, the finite-loss check, averaging the logged scalars across ranks, the progress bar,
OUT/log.jsonl rows, TensorBoard scalars and the save cadence.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from . import distributed
from .run_utils import append_log, progress, set_lr


@dataclass
class StepResult:
    """What one step computed. `loss` is what backward runs on; `scalars` are logged every step (averaged across
    ranks; the first is the one checked for being finite and shown on the bar); `row` holds more fields of this
    step's log.jsonl row, or is None to write no row for this step."""

    loss: torch.Tensor
    scalars: dict[str, torch.Tensor | float]
    row: dict[str, Any] | None = field(default_factory=dict)


@dataclass
class LoopSpec:
    """The cadence and destinations of one run: steps [start, end) of a schedule `total` steps long."""

    out: Path
    start: int
    end: int
    total: int
    clip: float
    save_every: int
    log_every: int
    world: distributed.World | None = None  # None: one process
    writer: Any = None  # a TensorBoard SummaryWriter, or None
    tb_prefix: str = "loss"  # TensorBoard tag of the scalars: PREFIX/name
    progress: bool = True


def run_loop(spec: LoopSpec, opt: torch.optim.Optimizer, params: Iterable[nn.Parameter],
             lr_at: Callable[[int], float], step_fn: Callable[[int], StepResult],
             save: Callable[[int], None], after_step: Callable[[int, bool], None] | None = None) -> None:
    """Train steps spec.start..spec.end-1: lr_at(step), step_fn(step), backward, clip, optimizer step, log;
    after_step(steps_done, last) then save(steps_done) every spec.save_every steps and at the end (rank 0)."""
    params = [p for p in params if p.requires_grad]
    main = spec.world is None or spec.world.main
    bar = progress(range(spec.start, spec.end), spec.total, spec.start, enabled=spec.progress and main)
    run_start = t0 = time.perf_counter()
    last_tb = spec.start
    for step in bar:
        lr = lr_at(step)
        set_lr(opt, lr)
        result = step_fn(step)
        opt.zero_grad(set_to_none=True)
        result.loss.backward()
        grad_norm = float(nn.utils.clip_grad_norm_(params, spec.clip))
        opt.step()
        scalars = {k: _mean(spec.world, v) for k, v in result.scalars.items()}
        name, value = next(iter(scalars.items()))
        if not math.isfinite(value):
            raise FloatingPointError(f"{name} loss became {value} at step {step}; lower --lr or check the data")
        done = step + 1 == spec.end
        if main:
            bar.set_postfix(**{name: f"{value:.3f}"}, lr=f"{lr:.2e}")
            if spec.writer and ((step + 1) % spec.log_every == 0 or step == spec.start):
                rate = (step + 1 - last_tb) / max(time.perf_counter() - t0, 1e-9)
                for k, v in scalars.items():
                    spec.writer.add_scalar(f"{spec.tb_prefix}/{k}", v, step + 1)
                spec.writer.add_scalar("train/lr", lr, step + 1)
                spec.writer.add_scalar("train/grad_norm", grad_norm, step + 1)
                spec.writer.add_scalar("train/steps_per_s", rate, step + 1)
                t0, last_tb = time.perf_counter(), step + 1
            if result.row is not None:
                row = {"step": step + 1, "lr": lr, **scalars, "grad_norm": grad_norm,
                       "time_s": time.perf_counter() - run_start, **result.row}
                if torch.cuda.is_available() and torch.cuda.is_initialized():
                    row["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
                append_log(spec.out, row)
        if after_step:
            after_step(step + 1, done)
        if main and ((step + 1) % spec.save_every == 0 or done):
            save(step + 1)


def _mean(world: distributed.World | None, value: torch.Tensor | float) -> float:
    if not isinstance(value, torch.Tensor):
        return float(value)
    value = value.detach()
    return (value if world is None else distributed.mean_across(world, value)).item()
