"""Build the fused corr4d CUDA kernel library, its C++ test and (with TensorRT headers) the TensorRT plugin.

`rt-edge kernels build` or `python -m kernels build` (also `python -m kernels.build`); torch-free.
"""

from __future__ import annotations

import argparse
import sys

from rt_edge.subcommands import run_parsed

DESCRIPTION = __doc__.splitlines()[0]


def build_parser(prog: str = "python -m kernels") -> argparse.ArgumentParser:
    from . import build

    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    b = sub.add_parser("build", help="CMake + nvcc build of the kernel library, its test and the TensorRT plugin",
                       description=build.DESCRIPTION)
    build.add_arguments(b)
    b.set_defaults(func=build.run)
    return p


def main(argv=None, prog: str = "python -m kernels") -> int:
    return run_parsed(build_parser(prog), argv)


if __name__ == "__main__":
    sys.exit(main())
