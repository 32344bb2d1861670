"""The supervised trainer: CoTracker3 on Kubric-format clips, one process or many under torchrun.

Data order is a pure function of (seed, step, rank): sample k of the run is dataset item
k mod len at epoch k div len, so a resumed run sees exactly the batches an uninterrupted run
would, and with the optimizer state restored its losses are identical.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from rt_edge.config import ModelConfig
from rt_edge.model import CoTracker3, load_checkpoint

from . import checkpoints, distributed
from .evaluate import evaluate
from .losses import HUBER_DELTA, sequence_losses
from .run_utils import (
    Unrolled,
    append_log,
    progress,
    set_lr,
    tensorboard_writer,
    weights_digest,
)
from .schedule import restart_ramp, warmup_cosine

VARIANTS = ("online", "offline")
LAST = "last.pth"


@dataclass
class TrainConfig:
    data: str
    variant: str = "online"
    out: str = "runs/kubric"
    init: str | None = None  # checkpoint to start from (weights only; its config travels with it)
    model_config: dict | None = None  # ModelConfig fields for a fresh model; default the published one
    steps: int = 1000
    batch: int = 1
    size: tuple[int, int] = (384, 512)
    frames: int | None = None  # None: the variant's default crop length
    points: int | None = None  # None: the variant's default (384 online, 512 offline)
    iters: int = 4
    lr: float = 5e-4
    wd: float = 1e-5
    warmup: int = 1000
    clip: float = 1.0
    huber_delta: float = HUBER_DELTA  # track loss threshold, px of the training crop
    bf16: bool = False
    seed: int = 0
    resume: bool = False
    stop_at: int | None = None  # end this process after this step (the schedule still spans `steps`)
    start_step: int = 0  # begin at this step of the schedule (continuing a snapshot given as `init`)
    save_every: int = 500
    eval_data: str | None = None
    eval_every: int = 500
    eval_clips: int = 4
    log_every: int = 10
    device: str | None = None
    progress: bool = True
    augment: bool = True

    def validate(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        for name in ("steps", "batch", "iters", "save_every", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.huber_delta <= 0:
            raise ValueError(f"--huber-delta must be > 0 px, got {self.huber_delta}")
        if self.lr <= 0 or self.wd < 0 or self.warmup < 0 or self.clip <= 0:
            raise ValueError(f"need lr > 0, wd >= 0, warmup >= 0, clip > 0; got {self.lr}, {self.wd}, "
                             f"{self.warmup}, {self.clip}")
        if self.start_step < 0:
            raise ValueError(f"--start-step must be >= 0, got {self.start_step}")
        if self.start_step >= self.steps:
            raise ValueError(f"--start-step {self.start_step} is past the end of a {self.steps}-step schedule "
                             "(--steps): nothing to train")
        if self.start_step and not self.init:
            raise ValueError(f"--start-step {self.start_step} continues trained weights: give them with --init")
        if not Path(self.data).is_dir():
            raise FileNotFoundError(f"--data {self.data} is not a directory of sequences")


def build_model(cfg: TrainConfig) -> CoTracker3:
    if cfg.init:
        return load_checkpoint(cfg.init)
    base = ModelConfig.published(cfg.variant)
    if cfg.model_config:
        base = base.replace(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.model_config.items()})
    return CoTracker3(base)


def _dataset(cfg: TrainConfig, root: str, train: bool):
    from .kubric_data import KubricDataset

    return KubricDataset(root, variant=cfg.variant, frames=cfg.frames, size=tuple(cfg.size), points=cfg.points,
                         seed=cfg.seed, train=train, augment=cfg.augment and train)


_PER_FRAME = ("video", "tracks", "visible")  # item keys with time first


def _batch(data, first: int, count: int, device: str) -> dict[str, torch.Tensor]:
    """Items first..first+count-1 stacked; clips of different lengths (offline) are padded to the
    longest by repeating their last frame, as the dataset pads short sequences."""
    items = [data.sample(k) for k in range(first, first + count)]
    T = max(len(it["video"]) for it in items)
    for it in items:
        pad = T - len(it["video"])
        for key in _PER_FRAME:
            if pad:
                it[key] = torch.cat([it[key], it[key][-1:].expand(pad, *it[key].shape[1:])])
    return {key: torch.stack([it[key] for it in items]).to(device) for key in ("video", "tracks", "visible", "queries")}


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; returns the path of the last checkpoint (OUT/last.pth)."""
    cfg.validate()
    world, device = distributed.setup(cfg.device)
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.wd)
    start = ramp_from = cfg.start_step
    if cfg.resume and (out / LAST).is_file():
        start = checkpoints.resume(out / LAST, model, opt)
        ramp_from = checkpoints.load(out / LAST).get("start_step", 0)  # the run it continues keeps its ramp
    net = distributed.wrap(Unrolled(model, cfg.variant, cfg.iters), world, device)
    data = _dataset(cfg, cfg.data, train=True)
    held_out = None
    if cfg.eval_data:
        ev = _dataset(cfg, cfg.eval_data, train=False)
        held_out = [ev.sample(k) for k in range(min(cfg.eval_clips, len(ev)))]
    writer = tensorboard_writer(out) if world.main else None
    if world.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({**asdict(cfg), "model": model.cfg.to_dict(),
                                                    "world_size": world.size}, indent=2) + "\n")
    end = min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps
    bar = progress(range(start, end), cfg.steps, start, enabled=cfg.progress and world.main)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and device.startswith("cuda"))
    t0, last_log = time.perf_counter(), start
    run_start = t0
    for step in bar:
        lr = cfg.lr * warmup_cosine(step, cfg.warmup, cfg.steps) * restart_ramp(step, ramp_from, cfg.warmup)
        set_lr(opt, lr)
        batch = _batch(data, (step * world.size + world.rank) * cfg.batch, cfg.batch, device)
        with autocast:
            windows = net(batch["video"], batch["queries"])
        losses = sequence_losses(windows, batch["tracks"].float(), batch["visible"], batch["queries"][..., 0].long(),
                                 online=cfg.variant == "online", delta=cfg.huber_delta)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        logged = {k: distributed.mean_across(world, v).item() for k, v in losses.items()}
        if not math.isfinite(logged["total"]):
            raise FloatingPointError(f"loss became {logged['total']} at step {step}; lower --lr or check the data")
        if world.main:
            bar.set_postfix(loss=f"{logged['total']:.3f}", lr=f"{lr:.2e}")
            if writer and ((step + 1) % cfg.log_every == 0 or step == start):
                rate = (step + 1 - last_log) / max(time.perf_counter() - t0, 1e-9)
                for k, v in logged.items():
                    writer.add_scalar(f"loss/{k}", v, step + 1)
                writer.add_scalar("train/lr", lr, step + 1)
                writer.add_scalar("train/grad_norm", float(grad_norm), step + 1)
                writer.add_scalar("train/steps_per_s", rate, step + 1)
                t0, last_log = time.perf_counter(), step + 1
            row = {"step": step + 1, "lr": lr, **logged, "time_s": time.perf_counter() - run_start}
            if device.startswith("cuda"):
                row["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
            append_log(out, row)
        done = step + 1 == end
        if held_out and world.main and ((step + 1) % cfg.eval_every == 0 or done):
            model.eval()
            scores = evaluate(model, held_out, cfg.variant, cfg.iters)
            model.train()
            append_log(out, {"step": step + 1, "eval": scores})
            if writer:
                for k, v in scores.items():
                    writer.add_scalar(f"eval/{k}", v, step + 1)
        if world.main and ((step + 1) % cfg.save_every == 0 or done):
            checkpoints.save(out / LAST, model, opt, step + 1, extra={"start_step": ramp_from})
    if writer:
        writer.close()
    if world.size > 1:  # lets anyone check that the ranks ended with the same weights
        (out / f"weights_rank{world.rank}.sha256").write_text(weights_digest(model) + "\n")
    del net  # DDP's reducer holds the process group: release it before the group is destroyed
    distributed.close(world)
    return out / LAST


