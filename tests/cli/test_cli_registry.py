"""`rt-edge`: one registry of every command, the shared flags defined once, and the `python -m` forms kept.

Walks every parser: `rt-edge` (track, info) and each group the installed package registers (export, train, bench,
kernels). Each command must have a help line and a working --help; each shared flag (--checkpoint, --backend,
--device, --image-size, --iters, --threads) must come from rt_edge.cli_args, so it has one type and one rule
for its default everywhere.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap

import pytest

from rt_edge import cli_args
from rt_edge.__main__ import build_parser, main
from rt_edge.subcommands import command_groups, walk

from ..conftest import REPO
from ..conftest import BLOCK_TORCH

GROUPS = ("bench", "export", "kernels", "train")


def _all_parsers():
    top = build_parser()
    yield from walk(top)
    for name, module in command_groups().items():
        yield from walk(module.build_parser(f"rt-edge {name}"))


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{name: help} of a parser's direct subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help for a in action._choices_actions}
    return {}


def test_every_group_is_registered_and_listed():
    assert tuple(command_groups()) == GROUPS  # pyproject.toml's entry points, installed by setup.sh
    top = build_parser()
    listed = _subcommands(top)
    assert set(listed) == {"track", "info", *GROUPS}
    assert all(listed.values()), listed
    text = top.format_help()
    assert all(name in text for name in listed)


def test_every_command_has_help_and_a_working_help_flag(capsys):
    leaves = set()
    for parser in _all_parsers():
        subs = _subcommands(parser)
        assert all(subs.values()), f"{parser.prog}: subcommands without a help line: {subs}"
        if subs:
            continue
        leaves.add(parser.prog.removeprefix("rt-edge "))
        assert parser.description, f"{parser.prog} has no description"
        with pytest.raises(SystemExit) as e:
            parser.parse_args(["--help"])
        assert e.value.code == 0, parser.prog
        assert parser.prog in capsys.readouterr().out
    named = {"track", "info", "kernels build", *(f"export {c}" for c in ("onnx", "trt", "calib", "quantize", "audit")),
             *(f"bench {c}" for c in ("latency", "online", "streaming", "realtex", "cycle", "paired", "tapvid")),
             *(f"train {c}" for c in ("kubric", "pseudo", "package"))}  # the commands the docs and issues name
    assert named <= leaves, named - leaves


def test_shared_flags_are_defined_once_and_mean_the_same_everywhere():
    seen = {flag: 0 for flag in cli_args.SHARED_FLAGS}
    for parser in _all_parsers():
        for action in parser._actions:
            for flag in set(action.option_strings) & set(cli_args.SHARED_FLAGS):
                assert getattr(action, "shared", None) == flag, \
                    f"{parser.prog}: {flag} is defined by hand, not by rt_edge.cli_args"
                seen[flag] += 1
                if flag == "--image-size":
                    assert action.nargs == 2 and action.type is int
                if flag in ("--iters", "--threads"):
                    assert action.type is int
                if flag == "--checkpoint" and not action.required:  # one rule: no checkpoint, the default model
                    assert cli_args.DEFAULT_WEIGHTS in action.help, f"{parser.prog}: {action.help}"
                if flag == "--backend":
                    assert set(action.choices) <= {"auto", *cli_args.BACKENDS}, f"{parser.prog}: {action.choices}"
    assert all(n >= 2 for n in seen.values()), seen  # each is shared by several commands


def test_groups_run_through_rt_edge_and_their_python_m_forms(capsys, tmp_path):
    missing = tmp_path / "none"
    assert main(["export", "audit", "--onnx-dir", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rt-edge export: error:") and str(missing) in err and "\n" not in err
    from export.__main__ import main as export_main

    assert export_main(["audit", "--onnx-dir", str(missing)]) == 2
    assert capsys.readouterr().err.startswith("export: error:")
    r = subprocess.run([sys.executable, "-m", "export", "trt", "--help"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0 and "--fp16" in r.stdout and r.stdout.startswith("usage: python -m export trt")
    r = subprocess.run([sys.executable, "-m", "kernels.build", "--help"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0 and "--archs" in r.stdout


def test_every_help_works_without_torch():
    code = BLOCK_TORCH + textwrap.dedent("""
        import argparse, contextlib, io
        from rt_edge.__main__ import build_parser
        from rt_edge.subcommands import command_groups, walk
        parsers = list(walk(build_parser()))
        for name, module in command_groups().items():
            parsers += list(walk(module.build_parser(name)))
        for p in parsers:
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    p.parse_args(["--help"])
                except SystemExit as e:
                    assert e.code == 0, p.prog
        assert "torch" not in sys.modules
        print(len(parsers))
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == len(list(_all_parsers())) > 25  # every parser, none skipped for want of torch
