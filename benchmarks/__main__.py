"""Accuracy and speed measurements (TAP-Vid, realtex, latency, streaming, ...); results go to benchmarks/results/.

`rt-edge bench COMMAND` or `python -m benchmarks COMMAND`; each command lives in its own module
benchmarks/cli_<name>.py exposing `register(subparsers)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rt_edge.subcommands import package_commands

DESCRIPTION = __doc__.splitlines()[0]
build_parser, main = package_commands("benchmarks", Path(__file__).parent, DESCRIPTION)


if __name__ == "__main__":
    sys.exit(main())
