"""Read third-party pickles (TAP-Vid pickles, the Kubric release's .npy annotation dicts) without
running their code.

`pickle.load` and `np.load(allow_pickle=True)` call whatever globals a file names, so a downloaded
data file could execute code. Here the unpickler admits only what pickled data needs: the pickle
machine's own containers and scalars, a few more builtins (set, frozenset, bytearray, complex,
slice), the numpy globals that rebuild arrays, dtypes and numpy scalars (under both the numpy 1
`numpy.core` and numpy 2 `numpy._core` names), and `_codecs.encode` limited to latin-1 (protocol
0-2 pickles rebuild bytes with it). Any other global (os.system, builtins.eval, ...) raises
ValueError naming it before it is ever called. numpy only; no torch.
"""

from __future__ import annotations

import builtins
import importlib
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npy_format


def _numpy_attr(modules: tuple[str, ...], name: str) -> Any:
    for mod in modules:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    return None


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise RefusedGlobal(f"refusing _codecs.encode with codec {encoding!r} (only latin-1 rebuilds bytes)")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    reconstruct = _numpy_attr(("numpy._core.multiarray", "numpy.core.multiarray"), "_reconstruct")
    scalar = _numpy_attr(("numpy._core.multiarray", "numpy.core.multiarray"), "scalar")
    frombuffer = _numpy_attr(("numpy._core.numeric", "numpy.core.numeric"), "_frombuffer")  # protocol 5
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    for name in ("set", "frozenset", "bytearray", "complex", "slice"):
        for module in ("builtins", "__builtin__"):  # protocol 0-2 pickles name the Python 2 module
            table[(module, name)] = getattr(builtins, name)
    return {k: v for k, v in table.items() if v is not None}


_ALLOWED = _allowed_globals()


class RefusedGlobal(ValueError):
    """A pickle asked for something outside the data-only set."""


class DataOnlyUnpickler(pickle.Unpickler):
    """Unpickler for data files: containers, scalars and numpy arrays, dtypes and scalars."""

    def __init__(self, file, source: str | os.PathLike = "<pickle>"):
        super().__init__(file, encoding="latin1")  # Python 2 array pickles store raw bytes as str
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise RefusedGlobal(f"{self._source}: refusing to unpickle global {module}.{name} (data files may hold "
                                "only containers, scalars and numpy arrays)")
        return obj

    def persistent_load(self, pid):
        raise RefusedGlobal(f"{self._source}: refusing a persistent id (not a plain data pickle)")


def _unpickle(f, source: Path) -> Any:
    try:
        return DataOnlyUnpickler(f, source).load()
    except RefusedGlobal:
        raise
    except Exception as e:  # truncated or corrupt pickles raise many kinds of errors
        raise ValueError(f"{source}: cannot unpickle ({type(e).__name__}: {e})") from None


def read_pickle(path: str | os.PathLike) -> Any:
    """The data in the pickle file at `path`; FileNotFoundError if missing, ValueError if refused or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pickle not found: {path}")
    with open(path, "rb") as f:
        return _unpickle(f, path)


def load_npy(path: str | os.PathLike) -> Any:
    """The object stored in the .npy file at `path`, read safely.

    Plain (non-object) arrays are read with allow_pickle=False; object arrays go through the
    data-only unpickler, and a 0-d object array (what `np.save(path, some_dict)` writes) is
    unwrapped, so a saved dict comes back as that dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    with open(path, "rb") as f:
        try:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):  # 3.0 differs only in the header's text encoding
                shape, _, dtype = npy_format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as e:
            raise ValueError(f"{path}: not a readable .npy file ({e})") from None
        if not dtype.hasobject:
            f.seek(0)
            return npy_format.read_array(f, allow_pickle=False)
        obj = _unpickle(f, path)
    if not isinstance(obj, np.ndarray):
        raise ValueError(f"{path}: the pickle holds a {type(obj).__name__}, not the numpy array np.save writes")
    if obj.shape != tuple(shape):
        raise ValueError(f"{path}: header says shape {tuple(shape)} but the pickle holds {obj.shape}")
    return obj.item() if obj.shape == () else obj
