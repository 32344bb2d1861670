"""Where the package's own default weights live, and the one error when they are absent.

The file is written by `python -m training package` (fp16, config inside, its preferred input
size as `default_image_size`); it is a torch checkpoint, so only the torch backend reads it.
The shipped file is the recipe's stage-6 snapshot, packaged by training/recipes/ship_default.py
once it beat issue 8's bar (README, "The default model"). Where the file is missing (a trimmed
install) every loader asks for a checkpoint by name.
"""

from __future__ import annotations

from pathlib import Path

WEIGHTS = Path(__file__).parent / "assets" / "default_model.pth"
NOT_INSTALLED = "the package's default weights are not installed (README, 'The default model')"


def shipped(backend: str = "torch") -> Path | None:
    """The default weights' path, or None where the file is missing or for a backend that cannot read
    them (benchmarks then skip the model)."""
    return WEIGHTS if backend == "torch" and WEIGHTS.is_file() else None


def default_checkpoint(backend: str = "torch") -> Path:
    """The shipped weights' path; a ValueError naming what to pass instead when there are none."""
    if backend != "torch":
        raise ValueError(f"the default weights are a torch checkpoint; for backend={backend!r} pass the directory "
                         "written by `python -m export onnx --checkpoint CKPT`")
    path = shipped()
    if path is None:
        raise ValueError(f"no checkpoint given and {NOT_INSTALLED}: {WEIGHTS} is absent; pass a CoTracker3 checkpoint")
    return path
