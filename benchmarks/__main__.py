"""Accuracy and speed measurements (TAP-Vid, realtex, latency, streaming, ...); results go to benchmarks/results/.

`rt-edge bench COMMAND` or `python -m benchmarks COMMAND`; each command lives in its own module
benchmarks/cli_<name>.py exposing `register(subparsers)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rt_edge.subcommands import package_parser, run_parsed

DESCRIPTION = __doc__.splitlines()[0]


def build_parser(prog: str = "python -m benchmarks"):
    return package_parser("benchmarks", Path(__file__).parent, prog, DESCRIPTION)


def main(argv=None, prog: str = "python -m benchmarks") -> int:
    return run_parsed(build_parser(prog), argv)


if __name__ == "__main__":
    sys.exit(main())
