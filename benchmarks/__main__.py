"""`python -m benchmarks`: accuracy and speed measurements; results are committed under benchmarks/results/.

Each subcommand lives in its own module benchmarks/cli_<name>.py exposing `register(subparsers)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rt_edge.subcommands import run


def main(argv=None) -> int:
    return run("benchmarks", Path(__file__).parent, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
