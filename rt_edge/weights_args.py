"""`--checkpoint` / `--published`, defined once for the commands that run the torch model, and the one rule
they follow: no checkpoint means the package's default model."""

from __future__ import annotations

import argparse
from typing import Any

PUBLISHED_HELP = "the published configuration (25.4 M parameters) with random weights: layout, cost and timing only"


def add_weights_args(p: argparse.ArgumentParser, what: str = "", default: str | None = None) -> None:
    """--checkpoint CKPT | --published (exclusive); `what` and `default` extend / replace --checkpoint's help."""
    from .cli_args import DEFAULT_WEIGHTS, add_checkpoint

    g = p.add_mutually_exclusive_group()
    add_checkpoint(g, what=what, default=default or DEFAULT_WEIGHTS)
    g.add_argument("--published", action="store_true", help=PUBLISHED_HELP)


def load_weights(checkpoint: Any = None, published: bool = False) -> tuple[Any, str]:
    """-> (CoTracker3 in eval mode, where its weights came from: a path, or a phrase): `checkpoint`, else with `published` the
    published configuration seeded at 0, else the package's default model."""
    import torch

    from .default_model import default_checkpoint
    from .model import CoTracker3, ModelConfig, load_checkpoint

    if published:
        if checkpoint:
            raise ValueError("--published and --checkpoint exclude each other")
        torch.manual_seed(0)
        return CoTracker3(ModelConfig()).eval(), "random weights of the published configuration (seed 0)"
    if checkpoint:
        return load_checkpoint(checkpoint).eval(), str(checkpoint)
    src = default_checkpoint("torch")
    return load_checkpoint(src).eval(), f"{src} (the package's default model)"
