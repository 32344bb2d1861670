"""Trainer options defined once, as dataclass fields; the command-line flags and `--config FILE.json` follow.

A field's metadata (made with `option`) holds its help text and, where the flag differs from the field name,
its flag; the type comes from the annotation. Booleans become switches (`--bf16`; a field that defaults to
True becomes `--no-NAME`, or the flag the metadata names, e.g. `--quiet` for `progress`); tuples of a fixed
length take that many values, lists and `tuple[X, ...]` one or more; dicts take JSON (a file or a string).
`iters` and `device` use the shared definitions of rt_edge.cli_args.

Precedence: a flag given on the command line, else the last --config file that sets it, else the field's default. A run's
OUT/config.json is such a file (the keys the trainers add beside the options, RUN_RECORD_KEYS, are skipped),
so `--config runs/x/config.json --out runs/y` repeats run x elsewhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from rt_edge import cli_args

# What the trainers write into OUT/config.json beside their options (not options themselves).
RUN_RECORD_KEYS = ("model", "world_size", "clip_spec", "frozen", "label_cache", "verifier", "tracker_config")
_SHARED = {"iters": cli_args.add_iters, "device": cli_args.add_device}


def option(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
           metavar: str | tuple[str, ...] | None = None, choices: tuple | None = None) -> Any:
    """A dataclass field with what its flag needs: help text, and where it differs, flag / metavar / choices."""
    meta = {"help": help, "flag": flag, "metavar": metavar, "choices": choices}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def add_config_args(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """--config FILE.json and one flag per field of the dataclass `cls` (fields in `skip` excepted)."""
    p.add_argument("--config", nargs="+", action="extend", metavar="FILE.json",
                   help="read options from these JSON objects (field names, e.g. a run's OUT/config.json), a later "
                   "file over an earlier one; flags given here override them")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in skip:
            _add_field(p, f, hints[f.name])


def config_from_args(cls: type, args: argparse.Namespace) -> Any:
    """The dataclass `cls` from parsed flags over the --config file over the defaults."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for path in getattr(args, "config", None) or []:
        values.update(read_config(cls, path))
    for name in names:
        if hasattr(args, name):
            values[name] = _convert(getattr(args, name), hints[name], name)
    missing = [f for f in dataclasses.fields(cls) if f.name not in values and _required(f)]
    if missing:
        raise ValueError(", ".join(_flag(f, hints[f.name]) for f in missing)
                         + " required (as flags or in --config)")
    return cls(**values)


def read_config(cls: type, path: str | Path) -> dict[str, Any]:
    """The options of a JSON file, checked against the fields of `cls` (unknown keys and wrong types fail)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path} not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"--config {path} is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {path} must hold a JSON object of options, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints) - set(RUN_RECORD_KEYS))
    if unknown:
        raise ValueError(f"--config {path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(hints)}")
    return {k: _convert(v, hints[k], k, source=str(path)) for k, v in data.items() if k in hints}


# ------------------------------------------------------------------ one field

def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return None if f.default_factory is dataclasses.MISSING else f.default_factory()


def _base(hint: Any) -> Any:
    """The type without `| None`."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _flag(f: dataclasses.Field, hint: Any) -> str:
    if f.metadata.get("flag"):
        return f.metadata["flag"]
    dashed = f.name.replace("_", "-")
    return f"--no-{dashed}" if _base(hint) is bool and _default(f) is True else f"--{dashed}"


def _add_field(p: argparse.ArgumentParser, f: dataclasses.Field, hint: Any) -> None:
    meta, default, base = f.metadata, _default(f), _base(hint)
    if f.name in _SHARED:
        _SHARED[f.name](p, default=default, note=meta.get("help", ""))
        p._option_string_actions[f"--{f.name}"].default = argparse.SUPPRESS
        return
    help_text = meta.get("help", "")
    kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
    if base is bool:
        kw["action"] = "store_false" if default is True else "store_true"
    else:
        origin, args = typing.get_origin(base), typing.get_args(base)
        if origin in (list, tuple):
            kw["type"] = args[0]
            kw["nargs"] = "+" if origin is list or args[-1] is Ellipsis else len(args)
        elif base is dict or origin is dict:
            kw["type"] = _json_value
            kw["metavar"] = "JSON"
        else:
            kw["type"] = base
        if _required(f):
            help_text += " (required)"
        elif default is not None:
            shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
            help_text += f" (default: {shown})"
    for key in ("metavar", "choices"):
        if meta.get(key) is not None:
            kw[key] = meta[key]
    p.add_argument(_flag(f, hint), help=help_text or None, **kw)


def _json_value(text: str) -> Any:
    path = Path(text)
    try:
        return json.loads(path.read_text() if path.is_file() else text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"neither a JSON file nor JSON: {text!r} ({e})") from None


def _convert(value: Any, hint: Any, name: str, source: str = "") -> Any:
    """Lists to the tuples a field declares; from a file, also check the value's type."""
    base = _base(hint)
    if value is None:
        if base is hint:  # not Optional
            raise ValueError(f"{source}: {name} must not be null")
        return None
    origin = typing.get_origin(base)
    if origin is tuple:
        value = tuple(value) if isinstance(value, (list, tuple)) else value
    if source:
        expected = origin or base
        ok = isinstance(value, expected) if expected is not float else isinstance(value, (int, float))
        if expected is int and isinstance(value, bool) or not ok:
            raise ValueError(f"--config {source}: {name} must be {getattr(expected, '__name__', expected)}, "
                             f"got {value!r}")
    return value
