"""`python -m training`: make training data and train CoTracker3.

Each subcommand lives in its own module training/cli_<name>.py exposing `register(subparsers)`;
ValueError / FileNotFoundError from a command print one line `training: error: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def _commands() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("cli_"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name in _commands():
        importlib.import_module(f"training.{name}").register(sub)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"training: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
