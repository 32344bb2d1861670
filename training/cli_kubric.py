"""`python -m training kubric`: supervised training on Kubric-format clips (also under torchrun)."""

from __future__ import annotations


def run(args) -> int:
    from .config_args import config_from_args
    from .options import TrainConfig
    from .trainer import train

    last = train(config_from_args(TrainConfig, args))
    print(f"last checkpoint: {last}")
    return 0


def register(sub) -> None:
    from .config_args import add_config_args
    from .options import TrainConfig

    p = sub.add_parser(
        "kubric", help="supervised training on Kubric-format clips (online or offline model)",
        description="Train CoTracker3 on <data>/<seq>/frames/*.png + <seq>.npy clips (the published Kubric "
        "release or `python -m training synthetic`). AdamW, linear warm-up then cosine, gradient clipping, "
        "bf16 autocast on CUDA. Writes OUT/last.pth (the published layout plus optimizer state; loadable by "
        "rt_edge.model.load_checkpoint), OUT/config.json (every option, resolved: usable as --config), "
        "OUT/log.jsonl, TensorBoard scalars under OUT/tb. Launch with "
        "`torchrun --nproc_per_node=K -m training kubric ...` for data-parallel training (gloo on CPU, nccl on CUDA).")
    add_config_args(p, TrainConfig)
    p.set_defaults(func=run)
