"""Fused 4D-correlation kernel: CUDA source (csrc/), PyTorch op, TensorRT plugin, CPU reference.

    kernels.corr4d(fmap, coords, query_feats, radius=3) -> corr      (kernels.op; imports torch on first use)
    python -m kernels.build                                           (CMake + nvcc; torch-free)

`import kernels` itself imports nothing heavy, so the build helpers work without torch.
"""

from __future__ import annotations

__all__ = ["corr4d"]


def __getattr__(name: str):
    if name == "corr4d":
        from .op import corr4d

        return corr4d
    raise AttributeError(f"module 'kernels' has no attribute {name!r}")
