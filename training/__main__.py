"""Make training data and train CoTracker3 (supervised, pseudo-labels, verifier), package the default weights.

`rt-edge train COMMAND` or `python -m training COMMAND`; each command lives in its own module
training/cli_<name>.py exposing `register(subparsers)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rt_edge.subcommands import package_commands

DESCRIPTION = __doc__.splitlines()[0]
build_parser, main = package_commands("training", Path(__file__).parent, DESCRIPTION)


if __name__ == "__main__":
    sys.exit(main())
