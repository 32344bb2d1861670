"""`python -m training verifier`: train the candidate-track verifier on synthetic (Kubric-format) clips."""

from __future__ import annotations


def run(args) -> int:
    from .verifier import VerifierTrainConfig, train_verifier

    cfg = VerifierTrainConfig(
        data=args.data, tracker=args.tracker, out=args.out, steps=args.steps, lr=args.lr, wd=args.wd,
        warmup=args.warmup, candidates=args.candidates, size=tuple(args.size), frames=args.frames, points=args.points,
        kinds=tuple(args.kinds), magnitude=tuple(args.magnitude), clean_prob=args.clean_prob,
        dup_prob=args.dup_prob, dim=args.dim,
        layers=args.layers, seed=args.seed, resume=args.resume, save_every=args.save_every, log_every=args.log_every,
        augment=not args.no_augment, device=args.device, progress=not args.quiet,
    )
    last = train_verifier(cfg)
    print(f"last checkpoint: {last}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    from .corruptions import KINDS

    p = sub.add_parser(
        "verifier", help="train the verifier that scores teachers' candidate tracks per frame (corrupt-then-detect)",
        description="Train the verifier of training/verifier.py (Track-On-R): ground-truth tracks of Kubric-format "
        "clips (the release or `python -m training synthetic`) are corrupted into M candidates per query (drift, "
        "jumps, identity switches, occlusion flips, jitter, frozen tracks; 1-128 px log-uniform), and the verifier "
        "learns to score them per frame: target softmax(-distance / (10 px * 0.1)), cross-entropy on visible frames. "
        "It reads the frozen encoder of --tracker (never trained; stored in the verifier checkpoint). Writes "
        "OUT/last.pth (weights-only loadable; use it with `training.verifier.select` or `--selection verifier`), "
        "OUT/log.jsonl (loss and, every --log-every steps, the error of the picked candidate vs a random pick, "
        "the candidates' median and the best candidate) and OUT/config.json.")
    p.add_argument("--data", required=True, help="directory of training sequences")
    p.add_argument("--tracker", required=True, metavar="CKPT", help="CoTracker3 checkpoint whose encoder is used "
                   "(frozen)")
    p.add_argument("--steps", type=int, default=2000, help="training steps, one clip each (default 2000)")
    p.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate (default 3e-4; warm-up then cosine)")
    p.add_argument("--wd", type=float, default=1e-4, help="weight decay (default 1e-4)")
    p.add_argument("--warmup", type=int, default=100, help="linear warm-up steps (default 100)")
    p.add_argument("--candidates", type=int, default=6, metavar="M", help="candidate tracks per query (default 6)")
    p.add_argument("--size", nargs=2, type=int, default=[256, 256], metavar=("H", "W"),
                   help="frame size the clips are cropped/resized to; also the verifier's input size at inference "
                   "(multiples of 4; default 256 256)")
    p.add_argument("--frames", type=int, default=24, metavar="T", help="frames per training clip (default 24)")
    p.add_argument("--points", type=int, default=64, metavar="N", help="queries per training clip (default 64)")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="corruption types to use "
                   "(default all)")
    p.add_argument("--magnitude", nargs=2, type=float, default=[1.0, 128.0], metavar=("LO", "HI"),
                   help="corruption size range in pixels, log-uniform (default 1 128)")
    p.add_argument("--clean-prob", type=float, default=0.5, help="share of queries with the clean track among their "
                   "candidates (default 0.5)")
    p.add_argument("--dup-prob", type=float, default=0.25, help="chance that a corrupted candidate repeats an "
                   "earlier one's corruption: real teachers make correlated errors (default 0.25)")
    p.add_argument("--dim", type=int, default=96, help="token width (default 96)")
    p.add_argument("--layers", type=int, default=2, help="rounds of candidate + temporal attention (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/verifier", help="output directory (default runs/verifier)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pth if it exists")
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--no-augment", action="store_true", help="no photometric or spatial augmentation")
    cli_args.add_device(p, default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
