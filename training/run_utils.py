"""Pieces every training loop here shares: the unrolled forward for DDP, logging, progress, digests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from rt_edge.model import CoTracker3


class Unrolled(nn.Module):
    """model.track as a forward, so DistributedDataParallel sees the whole unrolled clip."""

    def __init__(self, model: CoTracker3, mode: str, iters: int):
        super().__init__()
        self.model, self.mode, self.iters = model, mode, iters

    def forward(self, video: torch.Tensor, queries: torch.Tensor):
        return self.model.track(video, queries, iters=self.iters, mode=self.mode, return_all_iters=True)[3]


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def weights_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def append_log(out: Path, row: dict) -> None:
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def tensorboard_writer(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is in the `train` extra; without it, log.jsonl still records everything
        return None
    return SummaryWriter(str(out / "tb"))


def progress(it, total: int, start: int, enabled: bool):
    try:
        from tqdm import tqdm
    except ImportError:
        enabled = False
    if not enabled:
        class _Quiet:
            def __iter__(self):
                return iter(it)

            def set_postfix(self, **_):
                pass

        return _Quiet()
    return tqdm(it, total=total, initial=start, unit="step", dynamic_ncols=True)
