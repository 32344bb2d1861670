"""The command registry behind `rt-edge` and `python -m <package>`.

`rt-edge track | info` live in rt_edge. The other groups (`rt-edge export | train | bench | kernels`) belong to
the packages above rt_edge, which declare them as entry points of the group "rt_edge.commands" in
pyproject.toml: each names a module with `build_parser(prog)` and `main(argv, prog)`, whose docstring's first
line is the group's help. rt_edge never imports them; it finds them through the installed package's metadata and
loads one only when asked for it (or for --help), so the torch-free install runs `rt-edge track` without ever
importing training or benchmarks.

A package whose subcommands live in <package>/cli_<name>.py modules (each exposing `register(subparsers)`, which
adds its parser and sets `func`) builds its parser with `package_parser`. A ValueError or FileNotFoundError
from a command prints one line `<prog>: error: ...` and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

ENTRY_POINT_GROUP = "rt_edge.commands"


def package_parser(package: str, package_dir: str | Path, prog: str, description: str) -> argparse.ArgumentParser:
    """The parser of a package's cli_<name>.py subcommands, in name order."""
    names = sorted(m.name for m in pkgutil.iter_modules([str(package_dir)]) if m.name.startswith("cli_"))
    p = argparse.ArgumentParser(prog=prog, description=description)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in names:
        importlib.import_module(f"{package}.{name}").register(sub)
    return p


def package_commands(package: str, package_dir: str | Path, description: str
                     ) -> tuple[Callable[..., argparse.ArgumentParser], Callable[..., int]]:
    """build_parser(prog) and main(argv, prog) of a group whose commands are its cli_<name>.py modules: what a
    group's __main__ exposes to `rt-edge GROUP` and to `python -m PACKAGE`."""
    default = f"python -m {package}"

    def build_parser(prog: str = default) -> argparse.ArgumentParser:
        return package_parser(package, package_dir, prog, description)

    def main(argv: list[str] | None = None, prog: str = default) -> int:
        return run_parsed(build_parser(prog), argv)

    return build_parser, main


def run_parsed(parser: argparse.ArgumentParser, argv=None) -> int:
    """Parse argv and run the chosen command's `func`; bad input becomes one line on stderr and exit 2."""
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        name = parser.prog.removeprefix("python -m ")  # `export: error: ...`, `rt-edge export: error: ...`
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2


def run(package: str, package_dir: str | Path, description: str, argv=None, prog: str | None = None) -> int:
    """Parse argv for `python -m package` (or `rt-edge GROUP`) and run the chosen subcommand; the exit status."""
    return run_parsed(package_parser(package, package_dir, prog or f"python -m {package}", description), argv)


def standalone(prog: str, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
               func: Callable[[argparse.Namespace], int], argv=None) -> int:
    """One command outside a group (`python -m kernels.build`): the same parser as its registered form."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(p)
    p.set_defaults(func=func)
    return run_parsed(p, argv)


def command_groups() -> dict[str, ModuleType]:
    """{group name: its command module}, from the installed entry points (empty when rt-edge is not installed)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.load() for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)}


def group_help(module: ModuleType) -> str:
    """The first line of the group module's docstring, as argparse shows a help: lower case, no full stop."""
    line = (module.__doc__ or "").strip().splitlines()[0].rstrip(".") if module.__doc__ else ""
    return line[:1].lower() + line[1:]


def walk(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and all its subparsers, depth first (tests walk every command with it); a group's entry in the
    `rt-edge` parser (`group_entry`) is left out: the group's own parser holds its commands."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                if not getattr(child, "group_entry", False):
                    yield from walk(child)
