"""`python -m benchmarks latency`: per-frame latency of the runtime vs the reference schedule, per points count."""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_POINTS = [1, 64, 256, 1024, 4096]


def _load_frames(video, image_size, count: int):
    """`count` frames of the video resized to image_size (H, W) uint8, the clip looped if too short."""
    import cv2
    import numpy as np

    from rt_edge.video import read_frames, sample_clip_path

    clip = read_frames(video if video else sample_clip_path(), max_frames=count)
    H, W = image_size
    clip = np.stack([cv2.resize(f, (W, H), interpolation=cv2.INTER_AREA) for f in clip])
    return clip[np.arange(count) % len(clip)], len(clip)


def _build(args):
    """-> (executor, torch model for the reference and FLOPs, weights description, image size, iters)."""
    import torch

    from rt_edge.backends import check_image_size, load_executor
    from rt_edge.model import CoTracker3, load_checkpoint
    from rt_edge.weights_args import load_weights

    if args.backend == "tensorrt":
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            raise ValueError("--backend tensorrt needs TensorRT 10 (and cuda-python), which is not installed "
                             "here; build the plans and run this on the target device") from None
    torch.manual_seed(0)
    if args.backend == "torch":
        if args.model_dir:
            raise ValueError("--model-dir is for the onnxruntime and tensorrt backends; the torch backend takes "
                             "--checkpoint (or --published, or the default model)")
        model, weights = load_weights(args.checkpoint, args.published)
        size = check_image_size(args.image_size, model.cfg)
        iters = args.iters or 6
        executor = load_executor(model, "torch", device=args.device, image_size=size, iters=iters)
    else:
        if args.published:
            raise ValueError("--published is for the torch backend; an export fixes its own weights")
        if not args.model_dir:
            raise ValueError(f"--backend {args.backend} needs --model-dir (a `python -m export onnx` directory)")
        if not Path(args.model_dir).is_dir():
            raise FileNotFoundError(f"model directory not found: {args.model_dir}")
        if args.backend == "onnxruntime":
            from rt_edge.backends.onnxruntime_backend import OrtExecutor

            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if args.device.startswith("cuda") else None
            executor = OrtExecutor(args.model_dir, providers=providers, threads=args.threads)
        else:
            executor = load_executor(args.model_dir, "tensorrt")
        size, iters = executor.image_size, executor.iters
        if args.image_size and tuple(args.image_size) != size:
            raise ValueError(f"--image-size {tuple(args.image_size)} differs from the export's {size}; re-export")
        if args.iters and args.iters != iters:
            raise ValueError(f"--iters {args.iters} differs from the export's {iters}; re-export")
        if args.checkpoint:
            model = load_checkpoint(args.checkpoint)
            if model.cfg != executor.cfg:
                raise ValueError("--checkpoint's configuration differs from the export's; pass the exported one")
            weights = f"checkpoint {args.checkpoint}"
        else:  # the reference schedule's timing does not depend on the weights' values
            model = CoTracker3(executor.cfg).eval()
            weights = "random weights of the export's configuration (the reference schedule's timing only)"
        model = model.to(args.device)
    return executor, model, weights, size, iters


def _summary(result: dict) -> None:
    print(f"{result['backend']} {result['schedule']} on {result['device_description']}, "
          f"{result['image_size'][0]}x{result['image_size'][1]}, iters {result['iters']}, "
          f"{result['measured_frames']} measured frames after {result['warmup_frames']} warm-up")
    print(f"  {'N':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'mean ms':>9} {'fps':>7} {'enc ms':>8} "
          f"{'win ms':>9} {'ref mean':>9} {'x ref':>6} {'peak MB':>8}")
    for r in result["results"]:
        lat, run = r["runtime"]["latency"], r["runtime"]
        ref = r["reference"]["latency"]["mean_ms"] if r["reference"] else float("nan")
        ratio = r["ratio_vs_reference"]["mean"] if r["ratio_vs_reference"] else float("nan")
        win = run["window_step_ms"] if run["window_step_ms"] is not None else float("nan")
        print(f"  {r['points']:>5} {lat['p50_ms']:>9.1f} {lat['p95_ms']:>9.1f} {lat['max_ms']:>9.1f} "
              f"{lat['mean_ms']:>9.1f} {lat['frames_per_s']:>7.2f} {run['encoder_ms']:>8.1f} {win:>9.1f} "
              f"{ref:>9.1f} {ratio:>6.2f} {run['memory']['peak_mb']:>8.0f}")


def _plot_only(args) -> int:
    from .latency import plot_results

    results = []
    for f in args.plot_only:
        if not Path(f).is_file():
            raise FileNotFoundError(f"result file not found: {f}")
        try:
            res = json.loads(Path(f).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{f} is not JSON: {e}") from None
        if res.get("kind") != "latency":
            raise ValueError(f"{f} is not a `python -m benchmarks latency` result")
        results.append(res)
    out = Path(args.out) if args.out else RESULTS / "latency_merged.png"
    if out.suffix.lower() != ".png":
        raise ValueError(f"--out with --plot-only names the PNG to write, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_results(results, out)
    print(f"wrote {out}")
    return 0


def run(args) -> int:
    if args.plot_only:
        return _plot_only(args)
    if not args.backend:
        raise ValueError("--backend is required (torch, onnxruntime or tensorrt) unless --plot-only is given")
    if min(args.points) < 1:
        raise ValueError(f"--points must be positive, got {args.points}")
    if args.iters is not None and args.iters < 1:
        raise ValueError(f"--iters must be positive, got {args.iters}")
    if not (args.device == "cpu" or args.device.startswith("cuda")):
        raise ValueError(f"--device must be cpu or cuda[:i], got {args.device!r}")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: no CUDA device is available to torch here")
    if args.device.startswith("cuda"):
        import kernels.op  # noqa: F401  (the fused corr4d kernel, where built, registers into the model)
    if args.threads:
        torch.set_num_threads(args.threads)
    from .latency import PeakMemory, check_schedule, describe_device, environment, measure_points, plot_results

    executor, model, weights, size, iters = _build(args)
    cfg = executor.cfg
    warmup = cfg.window_len if args.warmup is None else args.warmup
    measured = 2 * cfg.window_step if args.frames is None else args.frames
    check_schedule(cfg.window_len, cfg.window_step, warmup, measured, args.low_latency)
    frames, clip_len = _load_frames(args.video, size, warmup + measured)
    memory = PeakMemory(cuda=args.device.startswith("cuda") and args.backend == "torch")
    env = environment(args.device)
    schedule = "low-latency" if args.low_latency else "published"
    result = {
        "kind": "latency", "backend": args.backend, "device": args.device,
        "device_description": describe_device(env, args.device), "schedule": schedule,
        "image_size": list(size), "iters": iters, "window_len": cfg.window_len, "window_step": cfg.window_step,
        "runtime_windows_per_frame": 1.0 if args.low_latency else 1 / cfg.window_step,
        "warmup_frames": warmup, "measured_frames": measured,
        "video": str(args.video or "rt_edge sample clip (rt_edge.video.sample_clip_path())"),
        "video_frames_used": min(clip_len, warmup + measured), "looped": clip_len < warmup + measured,
        "weights": weights, "context_points": False, "points_layout": "uniform random (seed 0), queried on frame 0",
        "memory_method": memory.method, "environment": env,
        "threads": args.threads or "library default (torch / onnxruntime)",
        "reference": "off (--no-reference)" if args.no_reference else
        "benchmarks.schedules.reference_schedule with the same torch weights, same frames and points",
        "notes": [
            "per-frame latency is the wall time of OnlineTracker.push; encoder / window-step times are the "
            "executor's calls (device-synchronised)",
            "reference per-frame series: its window time on the frame where a window completes, 0 elsewhere "
            "(the reference does no work between windows), so its p50 is 0 and has no ratio",
            "ratios are reference / runtime: above 1 means the runtime is faster",
        ],
        "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
        "results": [],
    }
    for n in args.points:
        print(f"N={n} ...", file=sys.stderr, flush=True)
        result["results"].append(measure_points(executor, model, frames, n, iters, warmup, args.low_latency, memory,
                                                reference=not args.no_reference))
    _summary(result)
    suffix = "_lowlat" if args.low_latency else ""
    default = RESULTS / f"latency_{args.backend}_{args.device.replace(':', '')}{suffix}.json"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    png = out.with_suffix(".png")
    plot_results([result], png)
    print(f"wrote {out} and {png}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args
    from rt_edge.weights_args import add_weights_args

    p = sub.add_parser(
        "latency", help="per-frame latency (p50/p95/max/mean), encoder and window time, memory, FLOPs, vs reference",
        description="Push frames one by one through an OnlineTracker for each points count and time every push "
        "(steady state after --warmup frames), the encoder and window-step calls apart, peak memory and counted "
        "FLOPs; then the reference schedule (every window re-encoded) on the same frames, points and torch "
        "weights, so every figure has a ratio. Writes JSON and a PNG plot. Without --checkpoint: the package's "
        "default model at its own input size (--published: the published configuration with random weights, "
        "384x512). Defaults: iters 6, one warm-up window then two window steps of "
        "measured frames (32 frames in all) -- about a minute per points count on a 2-core CPU.")
    cli_args.add_backend(p, default=None, note="torch runs --checkpoint, --published or the default model, "
                         "onnxruntime / tensorrt the --model-dir export; required unless --plot-only")
    add_weights_args(p, "for the torch backend; with --model-dir, the reference schedule's",
                     default="default: the package's default model; with --model-dir, random weights of the "
                     "export's configuration")
    p.add_argument("--model-dir", help="an export directory (python -m export onnx / trt)")
    cli_args.add_device(p, default="cpu")
    p.add_argument("--points", nargs="+", type=int, default=DEFAULT_POINTS, metavar="N",
                   help=f"points counts (default {' '.join(map(str, DEFAULT_POINTS))})")
    cli_args.add_image_size(p, note="with --model-dir, an export's own (a different value is refused)")
    cli_args.add_iters(p, default=None, note="with --model-dir, an export's own (a different value is refused)")
    p.add_argument("--low-latency", action="store_true", help="run a window at every frame")
    p.add_argument("--frames", type=int, help="measured frames after warm-up (default 2 x window step = 16); a "
                   "multiple of the window step in the published schedule")
    p.add_argument("--warmup", type=int, help="frames pushed before measuring (default window_len = 16)")
    p.add_argument("--video", help="frames from this video (default: the shipped sample clip), looped if short")
    cli_args.add_threads(p, default=0)
    p.add_argument("--no-reference", action="store_true", help="skip the reference schedule (slow on a CPU)")
    p.add_argument("--out", help="JSON result (default benchmarks/results/latency_<backend>_<device>.json); "
                   "the PNG goes next to it. With --plot-only: the PNG to write")
    p.add_argument("--plot-only", nargs="+", metavar="FILE.json",
                   help="only merge these latency results into one PNG (default results/latency_merged.png)")
    p.set_defaults(func=run)
