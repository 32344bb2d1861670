"""benchmarks.estimate: roofline arithmetic against hand computations, the affine points model,
the 30 fps search, and the CLI's labelling."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.__main__ import main
from benchmarks.estimate import (
    DEVICES,
    LABEL,
    Device,
    OpCost,
    estimate,
    max_points,
    per_op_seconds,
    trace_window,
    window_ops,
)
from rt_edge.model import CoTracker3
from rt_edge.model.cost import count_flops

from ..conftest import SMALL

SIZE = (64, 96)
TOY = Device("toy", "toy", fp32_tflops=1.0, fp16_tflops=10.0, int8_tops=20.0, bandwidth_gbs=100.0, source="test")


def test_per_op_roofline_by_hand():
    ops = [
        OpCost("mm", flops=1e12, float_elems=10**9, other_bytes=0),  # fp16: 0.1 s compute vs 0.02 s memory
        OpCost("add", flops=0.0, float_elems=5 * 10**9, other_bytes=0),  # 1e10 B / 1e11 B/s = 0.1 s
        OpCost("index", flops=0.0, float_elems=0, other_bytes=8 * 10**9),  # int64 bytes do not scale: 0.08 s
        # a sampler reads min(source, written) = 1e6 values, not its 1e9-value source
        OpCost("grid_sampler_2d", flops=0.0, float_elems=10**6, other_bytes=0, src_elems=10**9, written_elems=10**6),
    ]
    assert per_op_seconds(ops, TOY, "fp16") == pytest.approx(0.1 + 0.1 + 0.08 + 4e6 / 1e11, rel=1e-12)
    # fp32: mm memory 4e9 B (0.04 s) still under its compute at 1 TFLOPS (1 s); add 2e10 B -> 0.2 s
    assert per_op_seconds(ops, TOY, "fp32") == pytest.approx(1.0 + 0.2 + 0.08 + 8e6 / 1e11, rel=1e-12)


def _pyramid_hw(model, H, W):
    with torch.no_grad():
        levels = model.pyramid(model.encode(torch.zeros(1, 1, 3, H, W)))
    return [tuple(lvl.shape[-2:]) for lvl in levels]


def test_compulsory_roofline_matches_hand_computation():
    """One device and N, recomputed from the counted FLOPs, the parameter counts and the pyramid sizes."""
    n, iters, dev = 50, 2, DEVICES["orin-agx"]
    model = CoTracker3(SMALL).eval()
    c = count_flops(model, SIZE, n, iters)
    S, step, K, C, L = SMALL.window_len, SMALL.window_len // 2, 2 * SMALL.corr_radius + 1, SMALL.latent_dim, 4
    enc_w = sum(p.numel() for p in model.fnet.parameters())
    rest_w = sum(p.numel() for p in model.parameters()) - enc_w + model.time_emb.numel()
    levels = _pyramid_hw(model, *SIZE)
    enc_bytes = 2 * (enc_w + 3 * SIZE[0] * SIZE[1] + sum(C * h * w for h, w in levels))
    win_bytes = 2 * (rest_w + 8 * S * n + n * L * K * K * C + sum(S * min(C * h * w, n * K * K * C) for h, w in levels))
    peak, bw = 42.5e12, 204.8e9
    expected = max(c.encoder_per_frame / peak, enc_bytes / bw) + max(c.window_step / peak, win_bytes / bw) / step
    e = estimate(dev, n, iters, SIZE, "fp16", SMALL)
    assert e["label"] == LABEL
    assert e["pieces"]["encoder"]["flops"] == c.encoder_per_frame
    assert e["pieces"]["window_step"]["flops"] == c.window_step
    assert e["pieces"]["encoder"]["bytes_compulsory"] == enc_bytes
    assert e["pieces"]["window_step"]["bytes_compulsory"] == win_bytes
    assert e["per_frame_s"]["compulsory_fused"] == pytest.approx(expected, rel=1e-12)
    assert e["flops_per_frame"] == pytest.approx(c.encoder_per_frame + c.window_step / step, rel=1e-12)
    # unfused per-op time can only be longer than the ideal fused bound
    assert e["per_frame_s"]["per_op_unfused"] > e["per_frame_s"]["compulsory_fused"]
    low = estimate(dev, n, iters, SIZE, "fp16", SMALL, low_latency=True)
    assert low["per_frame_s"]["compulsory_fused"] == pytest.approx(
        max(c.encoder_per_frame / peak, enc_bytes / bw) + max(c.window_step / peak, win_bytes / bw), rel=1e-12)


def test_affine_points_model_equals_a_direct_trace():
    for n in (37, 300):
        assert window_ops(SMALL, SIZE, n, 2) == trace_window(SMALL, SIZE, n, 2)


def test_largest_points_is_the_30fps_edge_and_grows_with_device_speed():
    chain = ["orin-nano", "orin-nx", "orin-agx", "rtx4090", "a100", "h100"]
    devs = [DEVICES[k] for k in chain]
    for a, b in zip(devs, devs[1:], strict=False):  # each device at least as fast as the previous in both rates
        assert b.fp16_tflops >= a.fp16_tflops and b.bandwidth_gbs >= a.bandwidth_gbs
    found = [max_points(d) for d in devs]  # full model, 384x512, iters 6, fp16, per-op bound
    assert found == sorted(found) and found[0] >= 1 and found[-1] > found[0]
    n, d = found[2], devs[2]
    per_frame = {k: estimate(d, k)["per_frame_s"]["per_op_unfused"] for k in (n, n + 1)}
    assert per_frame[n] <= 1 / 30 < per_frame[n + 1]
    faster = Device("2x", "2x", 2 * d.fp32_tflops, 2 * d.fp16_tflops, 2 * d.int8_tops, 2 * d.bandwidth_gbs, "test")
    assert max_points(faster) > n
    # the ideal fused bound admits at least as many points as the unfused one
    assert max_points(d, bound="compulsory_fused") >= n


def test_cli_is_labelled_an_estimate(tmp_path, capsys):
    out = tmp_path / "e.json"
    rc = main(["estimate", "--target", "orin-nano", "--points", "16", "--iters", "1", "--image-size", "64", "96",
               "--out", str(out)])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert printed.out.startswith(LABEL) and "largest N holding 30 fps" in printed.out
    res = json.loads(out.read_text())
    assert res["label"] == LABEL and res["devices"][0]["device"] == "orin-nano"
    assert res["devices"][0]["rows"][0]["label"] == LABEL
    assert main(["estimate", "--target", "orin-nano", "--points", "16", "--image-size", "30", "30"]) == 2
    assert capsys.readouterr().err.strip() == "benchmarks: error: image size 30x30: both sides must be multiples " \
        "of 4 and at least 32"


def test_frame_step_flops_lie_between_a_window_row_and_a_window():
    """One stream push (R=1, K=1) runs the whole transformer but its last block over the window: more than
    one frame's share of a one-iteration window step, less than the window step itself; K=2 not quite doubles it
    over whole-window passes, and adds much less when the later pass runs over the newest two frames only."""
    one = CoTracker3(SMALL.replace(stream_iters=1, stream_refine=1))
    c1 = count_flops(one, SIZE, 8, iters=1)
    assert c1.window_step / SMALL.window_len < c1.frame_step < c1.window_step
    c2 = count_flops(CoTracker3(SMALL.replace(stream_iters=2, stream_refine=1, stream_reuse=False)), SIZE, 8, iters=1)
    assert 1.5 < c2.frame_step / c1.frame_step < 2.0  # two transformer passes, 3 correlation frames instead of 2
    deep = SMALL.replace(stream_iters=2, stream_refine=1, time_depth=2, space_depth=2)  # a block before the last
    whole, reused = (count_flops(CoTracker3(deep.replace(stream_reuse=r)), SIZE, 8, iters=1) for r in (False, True))
    assert whole.frame_step / 2 < reused.frame_step < 0.85 * whole.frame_step  # measured 0.78
