"""Training throughput from a run's log.jsonl: steps/s in steady state and peak GPU memory.

    rt-edge bench train-throughput RUN_DIR [RUN_DIR ...] --skip 5 --machine NAME --out FILE.json

Steps before --skip are warm-up (allocator, autotuning) and are not counted.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path


def throughput(run_dir: str | Path, skip: int = 5) -> dict:
    """{steps, steps_per_s, s_per_step, peak_mem_mb, config} of one training run directory."""
    run_dir = Path(run_dir)
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time_s" in r]
    if len(rows) <= skip + 1:
        raise ValueError(f"{run_dir}: {len(rows)} timed steps, need more than --skip {skip} + 1")
    first, last = rows[skip], rows[-1]
    per_step = (last["time_s"] - first["time_s"]) / (last["step"] - first["step"])
    config = json.loads((run_dir / "config.json").read_text())
    return {"run": str(run_dir), "steps_timed": last["step"] - first["step"], "s_per_step": per_step,
            "steps_per_s": 1 / per_step, "peak_mem_mb": max((r.get("peak_mem_mb", 0.0) for r in rows), default=None),
            "variant": config["variant"], "size": config["size"], "frames": config["frames"],
            "points": config["points"], "batch": config["batch"], "iters": config["iters"], "bf16": config["bf16"],
            "world_size": config["world_size"]}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="training output directories (with log.jsonl and config.json)")
    p.add_argument("--skip", type=int, default=5, help="warm-up steps not counted (default 5)")
    p.add_argument("--machine", default=platform.node(), help="machine name recorded in the JSON (default: the "
                   "host name)")
    p.add_argument("--out", help="write the JSON here")


def main(argv=None) -> int:
    from rt_edge.subcommands import standalone

    return standalone("python -m benchmarks.train_throughput", __doc__.splitlines()[0], add_arguments, run, argv)


def run(args: argparse.Namespace) -> int:
    result = {"machine": args.machine, "runs": [throughput(r, args.skip) for r in args.runs]}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
