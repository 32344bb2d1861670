"""`bench gpu-corr4d`: the GPU session's kernel script (build, C++ test, sanitizer, oracle checks, timings)."""

from __future__ import annotations

import argparse
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from kernels.build import DEFAULT_BUILD_DIR

    p.add_argument("--out", default=str(RESULTS), help="directory for corr4d_<device>.json (default "
                   "benchmarks/results)")
    p.add_argument("--build-dir", default=str(DEFAULT_BUILD_DIR), help="CMake build directory (default build/)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions and N = 1024 only")
    p.add_argument("--reps", type=int, default=30, help="timed repetitions per measurement (default 30)")


def _run(args: argparse.Namespace) -> int:
    from .gpu_corr4d import run

    return run(args)


def register(sub) -> None:
    p = sub.add_parser("gpu-corr4d", help="build, check and time the fused corr4d CUDA kernel (GPU machine; writes "
                       "corr4d_<device>.json)",
                       description="The GPU session's one script for the fused corr4d kernel: build, C++ test, "
                       "compute-sanitizer, the CUDA op against a float64 oracle, the model with and without it, "
                       "timings against measured bandwidth ceilings.")
    add_arguments(p)
    p.set_defaults(func=_run)
