"""Where the package's own default model lives, and the one error when it is absent.

Two files of the same weights ship: `default_model.pth`, a torch checkpoint written by `python -m training
package` (fp16, config inside, its preferred input size as `default_image_size`; the recipe's stage-6 snapshot,
packaged by `rt-edge train ship` once it beat issue 8's bar, README "The default model"), and
`default_model_onnx/`, its INT8 export for onnxruntime (`python -m export onnx --int8 CLIPS`, at that input size;
docs/export.md), so an
install without torch tracks out of the box. Where a file is missing (a trimmed install) every loader asks for
a checkpoint or export by name.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
WEIGHTS = ASSETS / "default_model.pth"
ONNX_DIR = ASSETS / "default_model_onnx"
NOT_INSTALLED = "the package's default weights are not installed (docs/default_model.md)"


def shipped(backend: str = "torch") -> Path | None:
    """The default model for `backend` (the .pth for torch, the export directory for onnxruntime), or None where
    it is missing or for a backend none ships for (tensorrt: engines are built on the device)."""
    if backend == "torch":
        return WEIGHTS if WEIGHTS.is_file() else None
    if backend == "onnxruntime":
        return ONNX_DIR if (ONNX_DIR / "meta.json").is_file() else None
    return None


def default_checkpoint(backend: str = "torch") -> Path:
    """The shipped model's path for `backend`; a ValueError naming what to pass instead when there is none."""
    if backend == "tensorrt":
        raise ValueError(f"no TensorRT engines ship (they are built for one device): run `python -m export trt "
                         f"--onnx-dir {ONNX_DIR} --out DIR` on the target and pass DIR")
    path = shipped(backend)
    if path is None:
        what = WEIGHTS if backend == "torch" else ONNX_DIR
        raise ValueError(f"no checkpoint given and {NOT_INSTALLED}: {what} is absent; pass a CoTracker3 checkpoint "
                         "(torch) or a directory written by `python -m export onnx`")
    return path
