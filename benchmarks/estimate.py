"""Roofline estimate of the online runtime's per-frame time on published device peaks.

Nothing here is a measurement. Each piece of work (encoding one frame; one window step of
`iters` iterations over window_len frames) is traced once on the meta device (no memory,
no compute) and every aten op is recorded with

- FLOPs: torch's FlopCounterMode formulas (the counter `rt_edge.model.cost` uses; only
  matmuls and convolutions count, so element-wise work is charged through its bytes), and
- bytes moved: the distinct elements of its tensor inputs plus its outputs (stride-0
  broadcast dimensions counted once; view ops move nothing; a sampling or gathering op
  reads at most as many source values as it writes), each floating element at the
  chosen precision's size.

Two roofline bounds per frame follow (t = max(FLOPs / peak, bytes / bandwidth)):

- per-op (unfused): t summed over the ops, as if each op were its own kernel whose
  inputs and outputs go through DRAM (eager / unfused execution; the 4D correlation
  volumes are materialised);
- compulsory (ideally fused): t of each piece as a whole, with only the bytes any
  implementation must move: the weights once, the piece's inputs and outputs once (a
  window reads at most the 7x7 neighbourhood values of each point and level per frame
  from the pyramid).

Per frame = encoder + window step / step (one window every `window_step` frames in the
published schedule, every frame in low-latency mode). All FLOPs are charged at the dense
tensor-core peak of the precision (FP32 at the CUDA-core rate), which only an ideal
kernel reaches: both are lower bounds on time, hence upper bounds on the points count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import flop_registry

from rt_edge.config import ModelConfig
from rt_edge.model import CoTracker3

LABEL = "ESTIMATE (roofline lower bound, not a measurement)"
PRECISIONS = {"fp32": 4, "fp16": 2, "int8": 1}  # bytes per floating element
FPS_TARGET = 30.0


@dataclass(frozen=True)
class Device:
    """Published peak rates (dense, no structured sparsity) and where they come from."""

    key: str
    name: str
    fp32_tflops: float  # CUDA cores, non-tensor
    fp16_tflops: float  # tensor cores, dense
    int8_tops: float  # tensor cores, dense
    bandwidth_gbs: float  # DRAM
    source: str

    def peak(self, precision: str) -> float:
        """Peak operations per second for `precision`."""
        rate = {"fp32": self.fp32_tflops, "fp16": self.fp16_tflops, "int8": self.int8_tops}
        if precision not in rate:
            raise ValueError(f"precision must be one of {sorted(rate)}, got {precision!r}")
        return rate[precision] * 1e12


# Dense figures. NVIDIA datasheets print sparse tensor rates with a footnote ("with sparsity";
# dense is half). Jetson datasheets give only sparse/dense INT8 TOPS for the GPU: the FP16 tensor
# rate is half the dense INT8 rate (Ampere tensor cores), FP32 = CUDA cores x 2 x max GPU clock;
# those are marked "derived". Jetson figures are for the original (not "Super") power modes.
DEVICES: dict[str, Device] = {d.key: d for d in (
    Device("orin-nano", "Jetson Orin Nano 8GB", 1.28, 10.0, 20.0, 68.0,
           "NVIDIA Jetson Orin Nano Series datasheet: GPU 1024 CUDA cores / 32 tensor cores, 625 MHz max, "
           "40 sparse / 20 dense INT8 TOPS; 128-bit LPDDR5 68 GB/s. FP16 = dense INT8 / 2 and "
           "FP32 = 1024 x 2 x 0.625 GHz (derived)"),
    Device("orin-nx", "Jetson Orin NX 16GB", 1.88, 15.0, 30.0, 102.4,
           "NVIDIA Jetson Orin NX Series datasheet: GPU 1024 CUDA cores / 32 tensor cores, 918 MHz max; "
           "128-bit LPDDR5 102.4 GB/s (module total 100 sparse INT8 TOPS includes the DLAs). GPU dense INT8 "
           "= 32 TC x 1024 ops/clk x 0.918 GHz, FP16 = INT8 / 2, FP32 = 1024 x 2 x 0.918 GHz (derived)"),
    Device("orin-agx", "Jetson AGX Orin 64GB", 5.3, 42.5, 85.0, 204.8,
           "NVIDIA Jetson AGX Orin Series datasheet / technical brief: GPU 2048 CUDA cores / 64 tensor cores, "
           "1.3 GHz, 170 sparse / 85 dense INT8 TOPS, 5.3 FP32 TFLOPS; 256-bit LPDDR5 204.8 GB/s. "
           "FP16 = dense INT8 / 2 (derived)"),
    Device("rtx4090", "GeForce RTX 4090", 82.6, 165.2, 660.6, 1008.0,
           "NVIDIA Ada Lovelace GPU architecture whitepaper, RTX 4090: 82.6 FP32 TFLOPS; FP16 tensor with FP32 "
           "accumulate 165.2 dense (330.4 sparse); INT8 tensor 660.6 dense TOPS; GDDR6X 1008 GB/s"),
    Device("a100", "A100 SXM 80GB", 19.5, 312.0, 624.0, 2039.0,
           "NVIDIA A100 Tensor Core GPU datasheet: FP32 19.5 TFLOPS; FP16 tensor 312 (624 with sparsity); "
           "INT8 tensor 624 TOPS (1248 with sparsity); HBM2e 2039 GB/s (80GB SXM)"),
    Device("h100", "H100 SXM", 67.0, 989.5, 1979.0, 3350.0,
           "NVIDIA H100 Tensor Core GPU datasheet, SXM: FP32 67 TFLOPS; FP16 tensor 1979 and INT8 3958 "
           "'with sparsity' (dense = half); HBM3 3.35 TB/s"),
)}


@dataclass(frozen=True)
class OpCost:
    """One traced aten op: FLOPs and what it moves. A sampling op's floating source is kept apart
    (`src_elems`) because it reads at most one source value per value written: min(src, written)."""

    name: str
    flops: float
    float_elems: int  # floating elements read and written (sampled source excluded)
    other_bytes: int  # integer / bool bytes read and written
    src_elems: int = 0  # a sampling op's floating source tensor
    written_elems: int = 0  # a sampling op's output elements

    def bytes(self, precision: str) -> float:
        return (self.float_elems + min(self.src_elems, self.written_elems)) * PRECISIONS[precision] \
            + self.other_bytes


_SAMPLING = {"grid_sampler_2d", "grid_sampler_3d", "gather", "index", "index_select", "embedding"}
# ops that only relabel memory (their results are views in practice, though not flagged as views)
_FREE = {"_unsafe_view", "_reshape_alias", "alias", "detach", "lift_fresh", "_local_scalar_dense"}
_METADATA = {"size", "sym_size", "stride", "sym_stride", "numel", "sym_numel", "dim", "storage_offset",
             "sym_storage_offset", "is_contiguous", "sym_is_contiguous", "is_strides_like_format",
             "is_non_overlapping_and_dense", "layout"}


def _distinct_elems(t: torch.Tensor) -> int:
    """Elements a tensor really holds: broadcast (stride 0) dimensions count once."""
    return math.prod(s for s, st in zip(t.shape, t.stride(), strict=True) if st != 0)


class _OpCostMode(TorchDispatchMode):
    """Records an OpCost per aten op, decomposing ops the FLOP formulas do not cover (as
    FlopCounterMode does, so both count the same primitive ops)."""

    def __init__(self):
        super().__init__()
        self.ops: list[OpCost] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func._overloadpacket
        name = packet.__name__
        if name in _METADATA:
            return func(*args, **kwargs)
        if packet not in flop_registry:
            with self:
                r = func.decompose(*args, **kwargs)
            if r is not NotImplemented:
                return r
        out = func(*args, **kwargs)
        if func.is_view or name in _FREE:
            return out
        flops = flop_registry[packet](*args, **kwargs, out_val=out) if packet in flop_registry else 0
        ins = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        outs = [o for o in tree_leaves(out) if isinstance(o, torch.Tensor)]
        src = 0
        if name in _SAMPLING and ins and ins[0].is_floating_point():
            src, ins = _distinct_elems(ins[0]), ins[1:]
        fl = sum(_distinct_elems(t) for t in ins + outs if t.is_floating_point())
        other = sum(_distinct_elems(t) * t.element_size() for t in ins + outs if not t.is_floating_point())
        written = sum(_distinct_elems(o) for o in outs) if src else 0
        self.ops.append(OpCost(name, float(flops), fl, other, src, written))
        return out


@lru_cache(maxsize=4)
def _meta_model(cfg: ModelConfig) -> CoTracker3:
    return CoTracker3(cfg).eval().to("meta")  # built on the CPU: initialising on meta is slower


def _pyramid_shapes(cfg: ModelConfig, image_size) -> list[tuple[int, int]]:
    h, w = image_size[0] // cfg.stride, image_size[1] // cfg.stride
    out = []
    for _ in range(cfg.corr_levels):
        out.append((h, w))
        h, w = h // 2, w // 2
    return out


@lru_cache(maxsize=8)
def trace_encoder(cfg: ModelConfig, image_size: tuple[int, int]) -> tuple[OpCost, ...]:
    """Ops of encoding one frame (CNN + pyramid), traced on the meta device."""
    model = _meta_model(cfg)
    H, W = image_size
    with torch.no_grad(), _OpCostMode() as mode:
        model.pyramid(model.encode(torch.zeros(1, 1, 3, H, W, device="meta")))
    return tuple(mode.ops)


@lru_cache(maxsize=64)
def trace_window(cfg: ModelConfig, image_size: tuple[int, int], num_points: int, iters: int) -> tuple[OpCost, ...]:
    """Ops of one window step (window_len frames, num_points points, iters iterations), traced on meta."""
    model = _meta_model(cfg)
    S, N, K = cfg.window_len, num_points, cfg.corr_window
    pyramid = [torch.zeros(1, S, cfg.latent_dim, h, w, device="meta") for h, w in _pyramid_shapes(cfg, image_size)]
    coords = torch.zeros(1, S, N, 2, device="meta")
    logits = torch.zeros(1, S, N, device="meta")
    qfeat = torch.zeros(1, N, cfg.corr_levels, K, K, cfg.latent_dim, device="meta")
    with torch.no_grad(), _OpCostMode() as mode:
        model.window_step(pyramid, coords, logits, logits, qfeat, iters)
    return tuple(mode.ops)


_FIT = (2, 4)  # points counts of the two traces the affine model is fitted on


def window_ops(cfg: ModelConfig, image_size: tuple[int, int], num_points: int, iters: int) -> tuple[OpCost, ...]:
    """Ops of one window step at any N without tracing each N.

    Every op's FLOPs and element counts are affine in N (points are a batch dimension; the
    space attention goes through a fixed number of virtual tracks), so two traces fix them.
    Below the fit range (N = 1, where a few decompositions differ) the window is traced directly."""
    a, b = _FIT
    if num_points < a:
        return trace_window(cfg, image_size, num_points, iters)
    ta, tb = trace_window(cfg, image_size, a, iters), trace_window(cfg, image_size, b, iters)
    if [o.name for o in ta] != [o.name for o in tb]:
        raise RuntimeError("window-step op sequence depends on the points count; the affine model does not apply")
    u = (num_points - a) / (b - a)

    def at(va, vb):
        return va + (vb - va) * u

    return tuple(
        OpCost(oa.name, at(oa.flops, ob.flops), round(at(oa.float_elems, ob.float_elems)),
               round(at(oa.other_bytes, ob.other_bytes)), round(at(oa.src_elems, ob.src_elems)),
               round(at(oa.written_elems, ob.written_elems)))
        for oa, ob in zip(ta, tb, strict=True)
    )


def _param_count(cfg: ModelConfig, encoder: bool) -> int:
    model = _meta_model(cfg)
    enc = sum(p.numel() for p in model.fnet.parameters())
    if encoder:
        return enc
    rest = sum(p.numel() for p in model.parameters()) - enc
    return rest + model.time_emb.numel()


def compulsory_float_elems(cfg: ModelConfig, image_size, num_points: int) -> dict[str, int]:
    """Floating elements any implementation must move per piece: weights once, inputs and outputs once.

    encoder: weights + frame (3 H W) + its pyramid; window: weights + coords/vis/conf in (S N 4) and out
    (S N 4) + support features (N L K K C) + per level and frame at most N K K C pyramid values."""
    S, N, K, C, L = cfg.window_len, num_points, cfg.corr_window, cfg.latent_dim, cfg.corr_levels
    levels = _pyramid_shapes(cfg, image_size)
    pyr = sum(C * h * w for h, w in levels)
    enc = _param_count(cfg, True) + 3 * image_size[0] * image_size[1] + pyr
    window_pyr = sum(S * min(C * h * w, N * K * K * C) for h, w in levels)
    win = _param_count(cfg, False) + 2 * S * N * 4 + N * L * K * K * C + window_pyr
    return {"encoder": enc, "window_step": win}


def per_op_seconds(ops, device: Device, precision: str) -> float:
    """Sum over ops of max(FLOPs / peak, bytes / bandwidth): each op as its own kernel."""
    peak, bw = device.peak(precision), device.bandwidth_gbs * 1e9
    return sum(max(op.flops / peak, op.bytes(precision) / bw) for op in ops)


def roofline_seconds(flops: float, nbytes: float, device: Device, precision: str) -> float:
    """max(FLOPs / peak, bytes / bandwidth) of one piece taken as a whole."""
    return max(flops / device.peak(precision), nbytes / (device.bandwidth_gbs * 1e9))


def check_inputs(cfg: ModelConfig, image_size, num_points: int, iters: int, precision: str) -> tuple[int, int]:
    """Validate the estimate's inputs (ValueError naming the bad value); -> (H, W)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
        raise ValueError(f"points must be a positive int, got {num_points!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    H, W = (int(v) for v in image_size)
    m = cfg.stride * 2 ** (cfg.corr_levels - 1)
    if H % cfg.stride or W % cfg.stride or H < m or W < m:
        raise ValueError(f"image size {H}x{W}: both sides must be multiples of {cfg.stride} and at least {m}")
    return H, W


def estimate(device: Device, num_points: int, iters: int = 6, image_size=(384, 512), precision: str = "fp16",
             cfg: ModelConfig | None = None, low_latency: bool = False) -> dict:
    """Per-frame roofline bounds for one device and points count (see the module docstring)."""
    cfg = cfg or ModelConfig()
    H, W = check_inputs(cfg, image_size, num_points, iters, precision)
    step = 1 if low_latency else cfg.window_step
    enc_ops, win_ops = trace_encoder(cfg, (H, W)), window_ops(cfg, (H, W), num_points, iters)
    comp = compulsory_float_elems(cfg, (H, W), num_points)
    size = PRECISIONS[precision]
    pieces = {}
    for name, ops in (("encoder", enc_ops), ("window_step", win_ops)):
        flops = sum(op.flops for op in ops)
        op_bytes = sum(op.bytes(precision) for op in ops)
        comp_bytes = comp[name] * size
        pieces[name] = {
            "flops": flops, "bytes_per_op_sum": op_bytes, "bytes_compulsory": comp_bytes,
            "per_op_s": per_op_seconds(ops, device, precision),
            "compulsory_s": roofline_seconds(flops, comp_bytes, device, precision),
        }
    enc, win = pieces["encoder"], pieces["window_step"]
    per_op = enc["per_op_s"] + win["per_op_s"] / step
    compulsory = enc["compulsory_s"] + win["compulsory_s"] / step
    return {
        "label": LABEL, "device": device.key, "device_name": device.name, "precision": precision,
        "points": num_points, "iters": iters, "image_size": [H, W], "window_len": cfg.window_len,
        "windows_per_frame": 1 / step, "pieces": pieces,
        "flops_per_frame": enc["flops"] + win["flops"] / step,
        "per_frame_s": {"per_op_unfused": per_op, "compulsory_fused": compulsory},
        "fps_bound": {"per_op_unfused": 1 / per_op, "compulsory_fused": 1 / compulsory},
    }


def max_points(device: Device, iters: int = 6, image_size=(384, 512), precision: str = "fp16",
               cfg: ModelConfig | None = None, low_latency: bool = False, bound: str = "per_op_unfused",
               fps: float = FPS_TARGET, limit: int = 1 << 20) -> int:
    """Largest N whose bound per frame stays within 1/fps (0: not even N=1; `limit`: at least that).

    The bound grows with N, so doubling then bisection finds the edge."""
    budget = 1.0 / fps

    def ok(n: int) -> bool:
        return estimate(device, n, iters, image_size, precision, cfg, low_latency)["per_frame_s"][bound] <= budget

    if not ok(1):
        return 0
    lo, hi = 1, 2
    while ok(hi):
        if hi >= limit:
            return limit
        lo, hi = hi, min(2 * hi, limit)
    while hi - lo > 1:  # ok(lo), not ok(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo
