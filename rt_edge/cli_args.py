"""The flags many commands share, defined once: one name, one type, one meaning, one rule for defaults.

    --checkpoint  the weights (.pth/.pt), or where the command takes one, an export directory; none given: the
                  package's default model, in every command
    --backend     the executor: torch, onnxruntime or tensorrt (auto where the command can choose)
    --device      where the model runs: cpu, cuda or cuda:K
    --image-size  the model's input size H W; none given: the weights' own (an export's own)
    --iters       refinement iterations per window
    --threads     CPU threads for torch and onnxruntime; 0: their own choice

Every adder tags the actions it makes (`action.shared`), so tests/cli/test_cli_registry.py can check that no command
defines one of these flags by hand. Torch-free: the torch-free install builds its parsers from here too.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

SHARED_FLAGS = ("--checkpoint", "--backend", "--device", "--image-size", "--iters", "--threads")
BACKENDS = ("torch", "onnxruntime", "tensorrt")
DEFAULT_WEIGHTS = "default: the package's default model"


def _tag(action: argparse.Action, flag: str) -> argparse.Action:
    action.shared = flag
    return action


def add_checkpoint(p, exports: bool = False, many: bool = False, required: bool = False, what: str = "",
                   default: str = DEFAULT_WEIGHTS) -> None:
    """--checkpoint: CoTracker3 weights; with exports=True also an export directory (for the onnxruntime and
    tensorrt backends); many=True takes several. Unless required, none given means the default model (`default`
    says so in the help, or says what else it means for this command)."""
    text = "CoTracker3 weights (.pth/.pt)"
    if exports:
        text += ", or an export directory (python -m export onnx) for --backend onnxruntime / tensorrt"
    if what:
        text += f" {what}"
    if not required:
        text += f" ({default})"
    kw = {"nargs": "+"} if many else {}
    _tag(p.add_argument("--checkpoint", metavar="CKPT", required=required, help=text, **kw),
         "--checkpoint")


def add_backend(p, choices: Sequence[str] = BACKENDS, default: str | None = "torch", many: bool = False,
                note: str = "") -> None:
    """--backend: which executor runs the model; `auto` among choices lets the command pick (it says how)."""
    text = "executor: torch (PyTorch weights), onnxruntime / tensorrt (an export directory)"
    if "auto" in choices:
        text = "executor: auto, " + text[len("executor: "):]
    if note:
        text += f"; {note}"
    if many:
        text += "; several are run side by side"
    if default is not None:
        shown = " ".join(default) if isinstance(default, (list, tuple)) else default
        text += f" (default: {shown})"
    kw = {"nargs": "+", "metavar": "NAME"} if many else {}
    _tag(p.add_argument("--backend", choices=tuple(choices), default=default, help=text, **kw), "--backend")


def add_device(p, default: str | None = "cpu", note: str = "") -> None:
    """--device: cpu, cuda or cuda:K; default None means cuda when available (training)."""
    shown = default or "cuda when available, else cpu"
    text = "where the model runs: cpu, cuda or cuda:K" + (f"; {note}" if note else "") + f" (default: {shown})"
    _tag(p.add_argument("--device", default=default, help=text), "--device")


def add_image_size(p, default: Sequence[int] | None = None, note: str = "") -> None:
    """--image-size H W: the model's input size (multiples of the stride)."""
    shown = " ".join(map(str, default)) if default else "the weights' own, an export's own"
    text = "model input size, multiples of the stride" + (f"; {note}" if note else "") + f" (default: {shown})"
    _tag(p.add_argument("--image-size", nargs=2, type=int, metavar=("H", "W"),
                        default=list(default) if default else None, help=text), "--image-size")


def add_iters(p, default: int | None = 6, note: str = "") -> None:
    """--iters K: refinement iterations per window (unrolled, in training)."""
    shown = default if default is not None else "the export's own, else 6"
    text = "refinement iterations per window" + (f"; {note}" if note else "") + f" (default: {shown})"
    _tag(p.add_argument("--iters", type=int, default=default, metavar="K", help=text), "--iters")


def add_threads(p, default: int = 0) -> None:
    """--threads N: CPU threads for torch and onnxruntime."""
    text = f"CPU threads for torch and onnxruntime; 0: their own choice (default: {default})"
    _tag(p.add_argument("--threads", type=int, default=default, metavar="N", help=text), "--threads")


def check_positive(**values: int | None) -> None:
    """ValueError naming the first flag (given as --name_with_underscores=value) that is set but below 1."""
    for name, v in values.items():
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {v}")
