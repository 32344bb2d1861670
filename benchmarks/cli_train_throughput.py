"""`bench train-throughput`: steps/s in steady state and peak GPU memory from training run directories."""

from __future__ import annotations


def register(sub) -> None:
    from .train_throughput import add_arguments, run

    p = sub.add_parser("train-throughput", help="training steps/s and peak GPU memory from run directories",
                       description="Steps/s in steady state (after --skip warm-up steps) and peak GPU memory of "
                       "training runs, read from their log.jsonl and config.json.")
    add_arguments(p)
    p.set_defaults(func=run)
