"""`python -m benchmarks estimate`: roofline bound of the per-frame time on a device's published peaks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEVICE_KEYS = ("orin-nano", "orin-nx", "orin-agx", "rtx4090", "a100", "h100")


def _table(devices, args, cfg) -> dict:
    from .estimate import LABEL, estimate, max_points

    size = tuple(args.image_size)
    sched = "low-latency (a window every frame)" if args.low_latency else \
        f"published (a window every {cfg.window_step} frames)"
    out = {"label": LABEL, "precision": args.precision, "image_size": list(size), "iters": args.iters,
           "schedule": sched, "devices": []}
    print(LABEL)
    print(f"model: CoTracker3 window {cfg.window_len}, {size[0]}x{size[1]}, iters {args.iters}, {sched}, "
          f"{args.precision}; 30 fps = 33.3 ms per frame")
    print("bytes: per-op = each aten op reads its inputs and writes its output through DRAM (unfused); "
          "compulsory = weights + piece inputs/outputs once (ideal fusion). FLOPs: torch FLOP counter "
          "(matmul/conv), charged at the dense peak. See benchmarks/estimate.py.")
    for dev in devices:
        print(f"\n{dev.name} [{dev.key}]: FP32 {dev.fp32_tflops:g} TFLOPS, FP16 tensor {dev.fp16_tflops:g} TFLOPS, "
              f"INT8 tensor {dev.int8_tops:g} TOPS (dense), {dev.bandwidth_gbs:g} GB/s")
        print(f"  source: {dev.source}")
        print(f"  {'N':>6} {'GFLOP/frame':>12} {'MB/frame per-op':>16} {'ms/frame per-op':>16} "
              f"{'MB/frame compulsory':>20} {'ms/frame compulsory':>20}")
        rows = []
        for n in args.points:
            e = estimate(dev, n, args.iters, size, args.precision, cfg, args.low_latency)
            enc, win, w = e["pieces"]["encoder"], e["pieces"]["window_step"], e["windows_per_frame"]
            op_mb = (enc["bytes_per_op_sum"] + win["bytes_per_op_sum"] * w) / 1e6
            comp_mb = (enc["bytes_compulsory"] + win["bytes_compulsory"] * w) / 1e6
            t = e["per_frame_s"]
            print(f"  {n:>6} {e['flops_per_frame'] / 1e9:>12.1f} {op_mb:>16.1f} {t['per_op_unfused'] * 1e3:>16.2f} "
                  f"{comp_mb:>20.1f} {t['compulsory_fused'] * 1e3:>20.2f}")
            rows.append(e)
        largest = {b: max_points(dev, args.iters, size, args.precision, cfg, args.low_latency, bound=b)
                   for b in ("per_op_unfused", "compulsory_fused")}
        print(f"  largest N holding 30 fps: {largest['per_op_unfused']} (per-op, unfused), "
              f"{largest['compulsory_fused']} (compulsory, fused) -- upper bounds on what a real run reaches")
        out["devices"].append({"device": dev.key, "name": dev.name, "fp32_tflops": dev.fp32_tflops,
                               "fp16_tflops": dev.fp16_tflops, "int8_tops": dev.int8_tops,
                               "bandwidth_gbs": dev.bandwidth_gbs, "source": dev.source,
                               "rows": rows, "largest_points_at_30fps": largest})
    return out


def run(args) -> int:
    from rt_edge.config import ModelConfig

    from .estimate import DEVICES, check_inputs

    cfg = ModelConfig()
    for n in args.points:
        check_inputs(cfg, args.image_size, n, args.iters, args.precision)
    keys = list(DEVICE_KEYS) if "all" in args.target else list(dict.fromkeys(args.target))
    out = _table([DEVICES[k] for k in keys], args, cfg)
    out["command"] = "python -m benchmarks " + " ".join(sys.argv[1:])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    e = sub.add_parser(
        "estimate", help="roofline bound of per-frame time on a device's published peaks (not a measurement)",
        description="ESTIMATE (roofline lower bound, not a measurement). Traces the encoder and one window step "
        "on the meta device, counts FLOPs (torch's counter) and bytes moved per op, and bounds the time per frame "
        "on a device's published dense peak rates and memory bandwidth: per-op (unfused kernels) and compulsory "
        "(ideal fusion). Also searches the largest points count that could hold 30 fps.")
    e.add_argument("--target", nargs="+", required=True, choices=(*DEVICE_KEYS, "all"), metavar="DEVICE",
                   help=f"target devices to estimate for: one or more of {', '.join(DEVICE_KEYS)}, or all")
    e.add_argument("--points", nargs="+", type=int, required=True, metavar="N", help="tracked points counts")
    cli_args.add_iters(e, default=6)
    cli_args.add_image_size(e, default=[384, 512])
    e.add_argument("--precision", choices=("fp16", "fp32", "int8"), default="fp16",
                   help="peak rate and bytes per element used (default fp16)")
    e.add_argument("--low-latency", action="store_true", help="a window every frame instead of every window_step")
    e.add_argument("--out", help="also write the numbers to this JSON file")
    e.set_defaults(func=run)
