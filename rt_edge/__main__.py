"""`rt-edge` (also `python -m rt_edge`): the one command line.

    rt-edge track [SOURCE | --camera N] [--checkpoint CKPT] [--grid N | --points FILE.csv] [--out F] [--viz F]
    rt-edge info [--checkpoint CKPT | --published] [--image-size H W] [--points N ...] [--iters K] [--time]
    rt-edge export | train | bench | kernels ...   (registered by those packages: rt_edge.subcommands)
"""

from __future__ import annotations

import argparse
import json
import sys


def _fail(msg: str, code: int = 2) -> int:
    print(f"rt_edge: error: {msg}", file=sys.stderr)
    return code


def _info(args: argparse.Namespace) -> int:
    try:
        import torch
    except ImportError:
        return _fail("`info` needs PyTorch: pip install 'rt-edge[torch]'")
    from .model.cost import count_flops, parameter_table, time_pieces
    from .weights_args import load_weights

    if min(args.points) < 1:
        return _fail(f"--points must be positive, got {args.points}")
    try:
        model, origin = load_weights(args.checkpoint, args.published)
        origin = f"checkpoint {origin}" if not args.published else origin
    except (FileNotFoundError, ValueError) as e:
        return _fail(str(e))
    cfg = model.cfg
    H, W = args.image_size or cfg.image_size
    if H % cfg.stride or W % cfg.stride:
        return _fail(f"--image-size {H} {W}: both must be multiples of the stride {cfg.stride}")
    torch.set_num_threads(args.threads or torch.get_num_threads())

    report: dict = {"origin": origin, "config": cfg.to_dict(), "image_size": [H, W], "iters": args.iters}
    print(f"CoTracker3 — {origin}")
    print(
        f"config: window {cfg.window_len}, step {cfg.window_step}, stride {cfg.stride}, "
        f"radius {cfg.corr_radius} ({cfg.corr_window}x{cfg.corr_window}), levels {cfg.corr_levels}, "
        f"virtual tracks {cfg.num_virtual_tracks}, token size {cfg.input_dim}, "
        f"model resolution {cfg.model_resolution[0]}x{cfg.model_resolution[1]}"
    )
    params = parameter_table(model)
    report["parameters"] = dict(params)
    print(
        "parameters: "
        + ", ".join(f"{name} {n / 1e6:.2f} M" for name, n in params)
        + f" ({len(model.state_dict())} state-dict entries)"
    )
    print(f"cost at {H}x{W}, iters {args.iters} (FLOPs counted by torch's FlopCounterMode):")
    report["cost"] = []
    for n in args.points:
        c = count_flops(model, (H, W), n, args.iters)
        reenc = cfg.window_len * c.encoder_per_frame
        print(
            f"  N={n:<5d} encoder {c.encoder_per_frame / 1e9:6.1f} GFLOP/frame | window step "
            f"{c.window_step / 1e12:6.3f} TFLOP/window | re-encoding a whole window (reference loop) adds "
            f"{reenc / 1e12:.2f} TFLOP"
        )
        per_frame = c.per_frame(cfg.window_step)
        print(f"         per frame: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP" for k, v in per_frame.items())
              + f" (stream: {cfg.stream_iters} iteration(s) over {cfg.stream_refine} frame(s)"
              + (f", the later ones over the newest {cfg.stream_refine + 1})" if cfg.stream_reuse else ")"))
        report["cost"].append(
            {"points": n, "encoder_flops_per_frame": c.encoder_per_frame, "window_step_flops": c.window_step,
             "window_step_flops_by_op": c.window_step_by_op, "frame_step_flops": c.frame_step,
             "flops_per_frame": per_frame}
        )
    if args.time:
        report["timing"] = []
        print(f"time on this machine ({torch.get_num_threads()} threads, float32, CPU):")
        for n in args.points:
            t = time_pieces(model, (H, W), n, args.iters, repeats=args.repeats)
            once = t["encoder_per_frame_s"] + t["window_step_s"] / cfg.window_step
            reenc = (cfg.window_len * t["encoder_per_frame_s"] + t["window_step_s"]) / cfg.window_step
            print(
                f"  N={n:<5d} encoder {t['encoder_per_frame_s']:.3f} s/frame | window step "
                f"{t['window_step_s']:.3f} s/window | per frame (step {cfg.window_step}): {once:.3f} s encoding "
                f"each frame once, {reenc:.3f} s re-encoding every window (x{reenc / once:.2f})"
            )
            t.update(per_frame_encode_once_s=once, per_frame_reencode_window_s=reenc)
            report["timing"].append({"points": n, **t})
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _add_info(sub) -> None:
    from . import cli_args
    from .weights_args import add_weights_args

    info = sub.add_parser(
        "info",
        help="print the model's layout and cost (FLOPs, optionally CPU time)",
        description="Print the CoTracker3 layout (config, parameters) and its cost per frame and per window. "
        "Without --checkpoint: the package's default model; --published: random weights of the published "
        "configuration (layout and cost only).",
    )
    add_weights_args(info)
    cli_args.add_image_size(info, note="384 512 for the published configuration")
    info.add_argument("--points", nargs="+", type=int, default=[256], metavar="N",
                      help="numbers of tracked points to cost (default: 256)")
    cli_args.add_iters(info)
    info.add_argument("--time", action="store_true", help="also time the encoder and one window step on this CPU")
    info.add_argument("--repeats", type=int, default=2, help="timing repeats; the median is reported (default: 2)")
    cli_args.add_threads(info)
    info.add_argument("--json", help="also write the numbers to this JSON file")
    info.set_defaults(func=_info)


def build_parser(groups: dict | None = None, prog: str = "rt-edge") -> argparse.ArgumentParser:
    """`rt-edge`: track and info, then the command groups the installed packages register (listed only; each
    parses its own arguments)."""
    from .cli_track import add_parser as add_track
    from .subcommands import command_groups, group_help

    groups = command_groups() if groups is None else groups
    epilog = None if groups else ("export, train, bench and kernels are registered by the installed package "
                                  "(pip install -e .); from a bare source tree use python -m export|training|"
                                  "benchmarks")
    p = argparse.ArgumentParser(prog=prog, epilog=epilog,
                                description="rt-edge: real-time any-point tracking (CoTracker3). Every command "
                                "takes --help. Without --checkpoint, every command uses the package's default "
                                "model.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_track(sub)
    _add_info(sub)
    for name, module in groups.items():
        g = sub.add_parser(name, help=group_help(module), add_help=False)
        g.add_argument("rest", nargs=argparse.REMAINDER)
        g.group_entry = True  # main() hands `rt-edge NAME ...` to the group before this parser sees it
    return p


def main(argv: list[str] | None = None) -> int:
    from .subcommands import command_groups

    argv = sys.argv[1:] if argv is None else list(argv)
    groups = command_groups()
    if argv and argv[0] in groups:  # the group parses the rest itself
        return groups[argv[0]].main(argv[1:], prog=f"rt-edge {argv[0]}")
    args = build_parser(groups).parse_args(argv)
    if getattr(args, "iters", 1) < 1:
        return _fail(f"--iters must be positive, got {args.iters}")
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:  # bad input: one line, no traceback
        return _fail(str(e))


if __name__ == "__main__":
    sys.exit(main())
