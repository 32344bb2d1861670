"""The supervised trainer: CoTracker3 on Kubric-format clips, one process or many under torchrun.

Data order is a pure function of (seed, step, rank): sample k of the run is dataset item
k mod len at epoch k div len, so a resumed run sees exactly the batches an uninterrupted run
would, and with the optimizer state restored its losses are identical.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from rt_edge.config import ModelConfig
from rt_edge.model import CoTracker3, load_checkpoint

from . import checkpoints, distributed
from .evaluate import evaluate
from .losses import sequence_losses
from .loop import LoopSpec, StepResult, run_loop
from .options import LAST, VARIANTS, TrainConfig  # noqa: F401 (VARIANTS: part of this module's interface)
from .run_utils import Unrolled, append_log, tensorboard_writer, weights_digest
from .schedule import restart_ramp, warmup_cosine



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
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and device.startswith("cuda"))

    def step_fn(step: int) -> StepResult:
        batch = _batch(data, (step * world.size + world.rank) * cfg.batch, cfg.batch, device)
        with autocast:
            windows = net(batch["video"], batch["queries"])
        losses = sequence_losses(windows, batch["tracks"].float(), batch["visible"], batch["queries"][..., 0].long(),
                                 online=cfg.variant == "online", delta=cfg.huber_delta)
        return StepResult(losses["total"], {"total": losses["total"], **losses})  # "total" first: on the bar

    def after_step(done_steps: int, last: bool) -> None:
        if held_out and world.main and (done_steps % cfg.eval_every == 0 or last):
            model.eval()
            scores = evaluate(model, held_out, cfg.variant, cfg.iters)
            model.train()
            append_log(out, {"step": done_steps, "eval": scores})
            if writer:
                for k, v in scores.items():
                    writer.add_scalar(f"eval/{k}", v, done_steps)

    run_loop(LoopSpec(out, start, end, cfg.steps, cfg.clip, cfg.save_every, cfg.log_every, world, writer,
                      progress=cfg.progress),
             opt, model.parameters(),
             lambda step: cfg.lr * warmup_cosine(step, cfg.warmup, cfg.steps) * restart_ramp(step, ramp_from,
                                                                                              cfg.warmup),
             step_fn, lambda done_steps: checkpoints.save(out / LAST, model, opt, done_steps,
                                                           extra={"start_step": ramp_from}),
             after_step)
    if writer:
        writer.close()
    if world.size > 1:  # lets anyone check that the ranks ended with the same weights
        (out / f"weights_rank{world.rank}.sha256").write_text(weights_digest(model) + "\n")
    del net  # DDP's reducer holds the process group: release it before the group is destroyed
    distributed.close(world)
    return out / LAST


