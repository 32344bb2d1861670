"""What the model is and what it costs: parameter layout, FLOPs per piece, CPU timings.

FLOPs are counted by torch's FlopCounterMode on meta tensors (no memory, no compute), so
counting works at any size; timings run the real model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from .cotracker3 import CoTracker3


@dataclass
class Cost:
    """Counted FLOPs (multiply-add = 2) of the per-frame and per-window pieces."""

    image_size: tuple[int, int]
    num_points: int
    iters: int
    encoder_per_frame: float
    window_step: float  # one window of window_len frames, `iters` iterations
    window_step_by_op: dict[str, float]
    frame_step: float  # one stream push: cfg.stream_iters iterations over the newest cfg.stream_refine frames

    def per_frame(self, window_step: int) -> dict[str, float]:
        """FLOPs per frame of each online schedule: published (a window every `window_step` frames), stream
        (one frame_step per frame) and window-per-frame; every frame is encoded once in each."""
        enc = self.encoder_per_frame
        return {"published": enc + self.window_step / window_step, "stream": enc + self.frame_step,
                "window-per-frame": enc + self.window_step}


def parameter_table(model: CoTracker3) -> list[tuple[str, int]]:
    """(top-level module, parameter count), plus the total last."""
    rows = [(name, sum(p.numel() for p in child.parameters())) for name, child in model.named_children()]
    rows.append(("total", sum(n for _, n in rows)))
    return rows


def _window_inputs(model: CoTracker3, image_size, num_points, device, dtype=torch.float32):
    cfg = model.cfg
    H, W = image_size
    S, N, K = cfg.window_len, num_points, cfg.corr_window
    h, w = H // cfg.stride, W // cfg.stride
    pyramid = []
    for _ in range(cfg.corr_levels):
        pyramid.append(torch.zeros(1, S, cfg.latent_dim, h, w, device=device, dtype=dtype))
        h, w = h // 2, w // 2
    coords = torch.zeros(1, S, N, 2, device=device, dtype=dtype)
    logits = torch.zeros(1, S, N, device=device, dtype=dtype)
    qfeat = torch.zeros(1, N, cfg.corr_levels, K, K, cfg.latent_dim, device=device, dtype=dtype)
    return pyramid, coords, logits, qfeat


def count_flops(model: CoTracker3, image_size=(384, 512), num_points=256, iters=6) -> Cost:
    """FLOPs of encoding one frame and of one window step at `image_size` with `num_points`."""
    meta = CoTracker3(model.cfg).to("meta")
    H, W = image_size
    with torch.no_grad():
        with FlopCounterMode(display=False) as enc:
            meta.encode(torch.zeros(1, 1, 3, H, W, device="meta"))
        pyramid, coords, logits, qfeat = _window_inputs(meta, image_size, num_points, "meta")
        with FlopCounterMode(display=False) as win:
            meta.window_step(pyramid, coords, logits, logits, qfeat, iters)
        R, cfg = model.cfg.stream_refine, model.cfg
        past = torch.zeros(1, cfg.window_len - 1, num_points, cfg.corr_levels * cfg.corr_dim, device="meta")
        fresh = torch.zeros(1, num_points, dtype=torch.bool, device="meta")
        with FlopCounterMode(display=False) as frame:
            meta.frame_step([lvl[:, -R:] for lvl in pyramid], past, coords, logits, logits, qfeat, fresh,
                            cfg.stream_iters)
    by_op = {str(op).split(".")[-1]: float(n) for op, n in win.get_flop_counts()["Global"].items()}
    return Cost((H, W), num_points, iters, float(enc.get_total_flops()), float(win.get_total_flops()), by_op,
                float(frame.get_total_flops()))


def time_pieces(model: CoTracker3, image_size=(384, 512), num_points=256, iters=6, repeats=2) -> dict[str, float]:
    """Median wall seconds of encoding one frame and of one window step (real weights, real compute)."""
    H, W = image_size
    frame = torch.rand(1, 1, 3, H, W) * 255
    pyramid = model.pyramid(model.encode(frame).expand(1, model.cfg.window_len, -1, -1, -1).contiguous())
    _, coords, logits, _ = _window_inputs(model, image_size, num_points, "cpu")
    g = torch.Generator().manual_seed(0)
    coords = coords + torch.rand(coords.shape, generator=g) * coords.new_tensor([W - 1, H - 1])
    q_t = torch.zeros(1, num_points, dtype=torch.long)
    qfeat = model.query_features([lvl[:, :1] for lvl in pyramid], q_t, coords[:, 0])

    def median_time(fn) -> float:
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2]

    with torch.no_grad():
        model.encode(frame)  # warm-up: first calls pay for allocations
        model.window_step(pyramid, coords, logits, logits, qfeat, 1)
        enc = median_time(lambda: model.encode(frame))
        win = median_time(lambda: model.window_step(pyramid, coords, logits, logits, qfeat, iters))
    return {"encoder_per_frame_s": enc, "window_step_s": win}
