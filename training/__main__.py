"""Make training data and train CoTracker3 (supervised, pseudo-labels, verifier), package the default weights.

`rt-edge train COMMAND` or `python -m training COMMAND`; each command lives in its own module
training/cli_<name>.py exposing `register(subparsers)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rt_edge.subcommands import package_parser, run_parsed

DESCRIPTION = __doc__.splitlines()[0]


def build_parser(prog: str = "python -m training"):
    return package_parser("training", Path(__file__).parent, prog, DESCRIPTION)


def main(argv=None, prog: str = "python -m training") -> int:
    return run_parsed(build_parser(prog), argv)


if __name__ == "__main__":
    sys.exit(main())
