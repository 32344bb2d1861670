"""`python -m training kubric`: supervised training on Kubric-format clips (also under torchrun)."""

from __future__ import annotations

import json
from pathlib import Path


def run(args) -> int:
    from .trainer import TrainConfig, train

    model_config = None
    if args.model_config:
        p = Path(args.model_config)
        model_config = json.loads(p.read_text()) if p.is_file() else json.loads(args.model_config)
    cfg = TrainConfig(
        data=args.data, variant=args.variant, out=args.out, init=args.init, model_config=model_config,
        steps=args.steps, batch=args.batch, size=tuple(args.size), frames=args.frames, points=args.points,
        iters=args.iters, lr=args.lr, wd=args.wd, warmup=args.warmup, clip=args.clip, bf16=args.bf16,
        seed=args.seed, resume=args.resume, stop_at=args.stop_at, start_step=args.start_step,
        save_every=args.save_every, eval_data=args.eval_data,
        eval_every=args.eval_every, eval_clips=args.eval_clips, device=args.device, augment=not args.no_augment,
        progress=not args.quiet,
        **({} if args.huber_delta is None else {"huber_delta": args.huber_delta}),
    )
    last = train(cfg)
    print(f"last checkpoint: {last}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser(
        "kubric", help="supervised training on Kubric-format clips (online or offline model)",
        description="Train CoTracker3 on <data>/<seq>/frames/*.png + <seq>.npy clips (the published Kubric "
        "release or `python -m training synthetic`). AdamW, linear warm-up then cosine, gradient clipping, "
        "bf16 autocast on CUDA. Writes OUT/last.pth (the published layout plus optimizer state; loadable by "
        "rt_edge.model.load_checkpoint), OUT/log.jsonl, TensorBoard scalars under OUT/tb. Launch with "
        "`torchrun --nproc_per_node=K -m training kubric ...` for data-parallel training (gloo on CPU, nccl on CUDA).")
    p.add_argument("--data", required=True, help="directory of training sequences")
    p.add_argument("--variant", choices=["online", "offline"], default="online")
    p.add_argument("--init", metavar="CKPT", help="start from these weights (config taken from the checkpoint)")
    p.add_argument("--model-config", metavar="JSON", help="ModelConfig fields for a fresh model, as a file or a "
                   "JSON string (default: the published architecture)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=1, help="clips per step per process")
    p.add_argument("--size", nargs=2, type=int, default=[384, 512], metavar=("H", "W"), help="training crop size")
    p.add_argument("--frames", type=int, help="clip length (default: 64 online; 30-60 at random offline)")
    p.add_argument("--points", type=int, help="tracks per clip (default: 384 online, 512 offline)")
    cli_args.add_iters(p, default=4, note="unrolled in training")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--wd", type=float, default=1e-5)
    p.add_argument("--warmup", type=int, default=1000, help="linear warm-up steps")
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    p.add_argument("--huber-delta", type=float, metavar="PX",
                   help="track loss Huber threshold in px of the crop (default: the paper's, training.losses."
                   "HUBER_DELTA); a smaller one weighs sub-pixel precision more against gross errors")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only; ignored on CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/kubric", help="output directory (default runs/kubric)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pth if it exists")
    p.add_argument("--stop-at", type=int, metavar="STEP", help="stop this process after STEP (the schedule still "
                   "spans --steps); continue later with --resume: CPU training in several sittings")
    p.add_argument("--start-step", type=int, default=0, metavar="STEP",
                   help="begin at STEP of the --steps schedule (its lr and data order), to continue a snapshot "
                   "given with --init whose optimizer state is gone (`python -m training package` keeps the "
                   "step); the lr ramps up again over --warmup steps from there. --resume of OUT/last.pth wins")
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--eval-data", help="held-out sequences scored with TAP-Vid metrics (AJ, delta_avg, OA)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-clips", type=int, default=4)
    cli_args.add_device(p, default=None)
    p.add_argument("--no-augment", action="store_true", help="no photometric or spatial augmentation")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
