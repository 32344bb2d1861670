"""One process or many under `torchrun`: rank facts from the environment, gloo on CPU, nccl on CUDA."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init(device: str) -> World:
    """Join the process group torchrun describes (WORLD_SIZE > 1), else a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: str | None) -> tuple[World, str]:
    """(world, device) for a training process: cuda when available unless told, one GPU per local rank."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    world = init(device)
    if device.startswith("cuda") and world.size > 1:
        device = f"cuda:{world.local_rank}"
        torch.cuda.set_device(device)
    return world, device


def wrap(net: torch.nn.Module, world: World, device: str) -> torch.nn.Module:
    """DistributedDataParallel around `net` under torchrun; `net` itself in a world of one."""
    if world.size == 1:
        return net
    return torch.nn.parallel.DistributedDataParallel(net, device_ids=[device] if device.startswith("cuda") else None)


def mean_across(world: World, value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar over all ranks (for logging; gradients are averaged by DDP)."""
    if world.size == 1:
        return value
    v = value.detach().clone()
    dist.all_reduce(v)
    return v / world.size


def close(world: World) -> None:
    """Wait for every rank, then tear the group down (callers drop their DDP wrappers first)."""
    if world.size > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
