"""`python -m <package>` for packages whose subcommands live in <package>/cli_<name>.py modules.

Each such module exposes `register(subparsers)`, which adds its parser and sets `func`. A
ValueError or FileNotFoundError from a command prints one line `<prog>: error: ...`, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path


def run(package: str, package_dir: str | Path, description: str, argv=None) -> int:
    """Parse argv for `python -m package` and run the chosen subcommand; returns the exit status."""
    names = sorted(m.name for m in pkgutil.iter_modules([str(package_dir)]) if m.name.startswith("cli_"))
    p = argparse.ArgumentParser(prog=f"python -m {package}", description=description)
    sub = p.add_subparsers(dest="command", required=True)
    for name in names:
        importlib.import_module(f"{package}.{name}").register(sub)
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"{package}: error: {e}", file=sys.stderr)
        return 2
