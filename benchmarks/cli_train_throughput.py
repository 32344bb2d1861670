"""`bench train-throughput`: steps/s in steady state and peak GPU memory from training run directories."""

from __future__ import annotations

import argparse
import platform


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="training output directories (with log.jsonl and config.json)")
    p.add_argument("--skip", type=int, default=5, help="warm-up steps not counted (default 5)")
    p.add_argument("--machine", default=platform.node(), help="machine name recorded in the JSON (default: the "
                   "host name)")
    p.add_argument("--out", help="write the JSON here")


def _run(args: argparse.Namespace) -> int:
    from .train_throughput import run

    return run(args)


def register(sub) -> None:
    p = sub.add_parser("train-throughput", help="training steps/s and peak GPU memory from run directories",
                       description="Steps/s in steady state (after --skip warm-up steps) and peak GPU memory of "
                       "training runs, read from their log.jsonl and config.json.")
    add_arguments(p)
    p.set_defaults(func=_run)
