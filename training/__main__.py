"""`python -m training`: make training data and train CoTracker3.

Each subcommand lives in its own module training/cli_<name>.py exposing `register(subparsers)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rt_edge.subcommands import run


def main(argv=None) -> int:
    return run("training", Path(__file__).parent, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
