"""The PyTorch op `rt_edge::corr4d`: fused CUDA kernel on CUDA tensors, the model's reference path elsewhere.

    corr = corr4d(fmap, coords, query_feats, radius=3)
    fmap (B, T, C, H, W) one pyramid level; coords (B, T, N, 2) level pixels; query_feats (B, N, K, K, C)
    -> corr (B, T, N, K^4), fmap's dtype, laid out as the model's correlation volume (a drop-in for window_step).

The CUDA implementation calls the compiled library (kernels/csrc, built by CMake) through ctypes with raw device
pointers on the current stream, so no PyTorch C++/CUDA extension is needed. Autograd recomputes the reference path
for the backward (training may run through the op; the kernel itself is forward-only).
"""

from __future__ import annotations

import ctypes
import functools

import torch

from rt_edge.model.correlation import corr4d as _model_path
from rt_edge.model.correlation import register_fused_corr4d

from .build import library_path
from .reference import check_inputs, corr4d_reference

ALGOS = {"auto": 0, "naive": 1, "simt": 2, "mma": 3}
DTYPE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2}
ABI_VERSION = 1
_STATUS_CUDA = 4


@functools.lru_cache(maxsize=1)
def _load(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.rt_edge_corr4d.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int32] * 7 + [ctypes.c_int64] * 2 + \
        [ctypes.c_int32] * 4 + [ctypes.c_void_p]
    lib.rt_edge_corr4d.restype = ctypes.c_int32
    lib.rt_edge_corr4d_pick_algo.argtypes = [ctypes.c_int32] * 4
    lib.rt_edge_corr4d_pick_algo.restype = ctypes.c_int32
    lib.rt_edge_corr4d_status_string.argtypes = [ctypes.c_int32]
    lib.rt_edge_corr4d_status_string.restype = ctypes.c_char_p
    lib.rt_edge_corr4d_last_cuda_error.argtypes = []
    lib.rt_edge_corr4d_last_cuda_error.restype = ctypes.c_char_p
    lib.rt_edge_corr4d_abi_version.restype = ctypes.c_int32
    if lib.rt_edge_corr4d_abi_version() != ABI_VERSION:
        raise RuntimeError(f"{path}: ABI version {lib.rt_edge_corr4d_abi_version()}, expected {ABI_VERSION}; rebuild")
    return lib


def load_library() -> ctypes.CDLL:
    """The compiled kernel library; FileNotFoundError saying how to build it when it is absent."""
    path = library_path()
    if path is None:
        raise FileNotFoundError("the corr4d CUDA library is not built: run `python -m kernels.build` (CMake + nvcc) "
                                "or set RT_EDGE_KERNELS_LIB to librt_edge_corr4d.so")
    return _load(str(path.resolve()))


def cuda_ready() -> bool:
    """True when CUDA tensors can use the fused kernel (a CUDA device and the built library)."""
    try:
        return torch.cuda.is_available() and library_path() is not None
    except FileNotFoundError:
        return False


def launch(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int, out: torch.Tensor,
           algo: str = "auto") -> torch.Tensor:
    """Run the kernel into `out` (B, T, N, K^4), contiguous, fmap's dtype, on fmap's device; returns `out`.

    algo: "auto", "naive", "simt" or "mma" (see kernels/csrc/corr4d.h). Asynchronous on the current stream.
    """
    check_inputs(fmap, coords, query_feats, radius)
    if not fmap.is_cuda:
        raise ValueError(f"launch needs CUDA tensors, got {fmap.device}")
    if algo not in ALGOS:
        raise ValueError(f"algo must be one of {sorted(ALGOS)}, got {algo!r}")
    B, T, C, H, W = fmap.shape
    N, K = coords.shape[2], 2 * radius + 1
    shape = (B, T, N, K**4)
    if tuple(out.shape) != shape or out.dtype != fmap.dtype or out.device != fmap.device or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous {fmap.dtype} tensor of shape {shape} on {fmap.device}, "
                         f"got {out.dtype} {tuple(out.shape)} on {out.device}")
    fmap = fmap.contiguous()
    if coords.dtype not in (torch.float32, fmap.dtype):
        coords = coords.float()
    coords = coords.contiguous()
    if query_feats.stride()[2:] != (K * C, C, 1):  # each point's (K, K, C) block must be contiguous
        query_feats = query_feats.contiguous()
    lib = load_library()
    status = lib.rt_edge_corr4d(
        fmap.data_ptr(), coords.data_ptr(), query_feats.data_ptr(), out.data_ptr(), B, T, N, C, H, W, radius,
        query_feats.stride(0), query_feats.stride(1), DTYPE_CODES[fmap.dtype], DTYPE_CODES[coords.dtype],
        ALGOS[algo], fmap.device.index, torch.cuda.current_stream(fmap.device).cuda_stream)
    if status != 0:
        msg = lib.rt_edge_corr4d_status_string(status).decode()
        if status == _STATUS_CUDA:
            msg += ": " + lib.rt_edge_corr4d_last_cuda_error().decode()
        raise RuntimeError(f"rt_edge_corr4d failed (algo {algo}, {fmap.dtype}, C={C}, radius {radius}): {msg}")
    return out


def picked_algo(channels: int, radius: int, dtype: torch.dtype, device: int = -1) -> str:
    """The algorithm "auto" runs for this problem on `device` (needs the library and a CUDA device)."""
    code = load_library().rt_edge_corr4d_pick_algo(channels, radius, DTYPE_CODES[dtype], device)
    if code < 0:
        raise ValueError(f"no algorithm for C={channels}, radius {radius}, {dtype} (status {-code})")
    return {v: k for k, v in ALGOS.items()}[code]


# ---------------------------------------------------------------------------------------------------- the op
@torch.library.custom_op("rt_edge::corr4d", mutates_args=())
def corr4d_op(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    """rt_edge::corr4d; this body is the implementation for every device but CUDA (the reference path)."""
    return corr4d_reference(fmap, coords, query_feats, radius).contiguous()


@corr4d_op.register_kernel("cuda")
def _corr4d_cuda(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    B, T = fmap.shape[:2]
    out = torch.empty((B, T, coords.shape[2], (2 * radius + 1) ** 4), dtype=fmap.dtype, device=fmap.device)
    return launch(fmap, coords, query_feats, radius, out)


@corr4d_op.register_fake
def _corr4d_fake(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    check_inputs(fmap, coords, query_feats, radius)
    B, T = fmap.shape[:2]
    return fmap.new_empty((B, T, coords.shape[2], (2 * radius + 1) ** 4))


def _setup_context(ctx, inputs, output) -> None:
    fmap, coords, query_feats, radius = inputs
    ctx.save_for_backward(fmap, coords, query_feats)
    ctx.radius = radius


def _backward(ctx, grad: torch.Tensor):
    """Gradients by differentiating the reference path at the saved inputs (recomputes its forward)."""
    saved = ctx.saved_tensors
    needs = ctx.needs_input_grad[:3]
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(n) for t, n in zip(saved, needs, strict=True)]
        out = corr4d_reference(*leaves, ctx.radius)
        wanted = [t for t, n in zip(leaves, needs, strict=True) if n]
        grads = iter(torch.autograd.grad(out, wanted, grad) if wanted else ())
    return (*(next(grads) if n else None for n in needs), None)


corr4d_op.register_autograd(_backward, setup_context=_setup_context)


def corr4d(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """fmap (B, T, C, H, W), coords (B, T, N, 2) level pixels, query_feats (B, N, K, K, C) -> (B, T, N, K^4).

    The fused kernel for CUDA tensors (FileNotFoundError if the library is not built), the reference otherwise.
    ValueError for inputs that break the contract (shapes, C not a multiple of 8, dtypes, devices).
    """
    check_inputs(fmap, coords, query_feats, radius)
    return corr4d_op(fmap, coords, query_feats, radius)


def model_corr4d(fmap: torch.Tensor, coords: torch.Tensor, query_feats: torch.Tensor, radius: int) -> torch.Tensor:
    """What the model's window_step calls on CUDA: the op where its contract holds, the model's own path otherwise."""
    try:
        check_inputs(fmap, coords, query_feats, radius)
    except ValueError:
        return _model_path(fmap, coords, query_feats, radius)
    return corr4d_op(fmap, coords, query_feats, radius)


if cuda_ready():  # CUDA correlations in the model run the fused kernel once this module is imported
    register_fused_corr4d(model_corr4d)
