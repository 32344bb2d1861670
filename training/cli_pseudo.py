"""`python -m training pseudo`: fine-tune a student on unlabelled real videos with teacher pseudo-labels."""

from __future__ import annotations

import importlib


def run(args) -> int:
    from .pseudo_trainer import PseudoConfig, train_pseudo

    for module in args.imports or []:
        try:
            importlib.import_module(module)  # registers teachers with training.teachers.register_teacher
        except ImportError as e:
            raise ValueError(f"--import {module}: {e}") from None
    cfg = PseudoConfig(
        videos=args.videos, teachers=args.teachers, init=args.init, selection=args.selection, verifier=args.verifier,
        cache=args.cache, clips_per_video=args.clips_per_video, out=args.out, variant=args.variant, steps=args.steps,
        batch=args.batch, size=tuple(args.size), clip_frames=args.clip_frames, points=args.points,
        keyframes=args.keyframes, iters=args.iters, lr=args.lr, wd=args.wd, clip=args.clip, bf16=args.bf16,
        seed=args.seed, resume=args.resume, stop_at=args.stop_at, save_every=args.save_every, device=args.device,
        augment=args.augment, progress=not args.quiet,
    )
    last = train_pseudo(cfg)
    print(f"last checkpoint: {last}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser(
        "pseudo", help="fine-tune on unlabelled real videos with pseudo-labels from frozen teachers",
        description="CoTracker3's pseudo-label fine-tuning. Random temporal crops of the videos in --videos "
        "(resized to --size) get --points SIFT queries on --keyframes frames drawn with P(t) ~ (T - t)^2, biased "
        "toward the clip's start (a clip where a keyframe has too few SIFT points is skipped and counted); frozen "
        "teachers track them; the student "
        "(from --init) learns the track loss only, against the label chosen by --selection, with its "
        "visibility/confidence head frozen. AdamW, cosine decay without warm-up. Labels are made on the fly "
        "(random: one teacher per batch) or once into --cache and reused. Writes OUT/last.pth (published layout), "
        "OUT/config.json, OUT/log.jsonl (track loss; 'visibility'/'confidence' are the frozen head's BCE against "
        "the labels, logged, not trained). Launch with `torchrun --nproc_per_node=K -m training pseudo ...` for "
        "data parallelism; cache labelling is then split over the ranks.")
    p.add_argument("--videos", required=True, metavar="DIR", help="folder of videos (.mp4 .avi .mov .mkv .webm .m4v) "
                   "or of image folders")
    p.add_argument("--teachers", required=True, nargs="+", metavar="SPEC",
                   help="teachers: ckpt:PATH[:online|offline][:iters=6,size=HxW,support=joint,backward=1], "
                   "onnx:DIR, trt:DIR, lk[:win=21,levels=3,fb=1.0], "
                   "flow[:method=dis|farneback,fb=1.0], or a name registered by an --import module")
    p.add_argument("--init", required=True, metavar="CKPT", help="student checkpoint to start from (config included)")
    p.add_argument("--selection", choices=["random", "verifier", "mean", "median"], default="random",
                   help="random: one teacher per batch (the paper); mean/median: per-frame coordinate-wise over "
                   "teachers, visibility by majority vote; verifier: a learned per-frame choice (needs --verifier)")
    p.add_argument("--verifier", metavar="CKPT", help="verifier checkpoint (python -m training verifier)")
    p.add_argument("--cache", metavar="DIR", help="label --clips-per-video clips of every video once with all "
                   "teachers into DIR, reuse them (and any existing labels there) for training")
    p.add_argument("--clips-per-video", type=int, default=4, metavar="K", help="cached clips per video (default 4)")
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import MODULE first (it may call training.teachers.register_teacher); repeatable")
    p.add_argument("--variant", choices=["online", "offline"], default="online", help="how the student runs")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=1, help="clips per step per process")
    p.add_argument("--size", nargs=2, type=int, default=[384, 512], metavar=("H", "W"), help="clip size")
    p.add_argument("--clip-frames", type=int, metavar="T", help="clip length (default: 4 windows online, a multiple "
                   "of the window length; one window offline)")
    p.add_argument("--points", type=int, default=384, help="SIFT queries per clip (default 384)")
    p.add_argument("--keyframes", type=int, default=8, help="frames SIFT runs on (default 8)")
    cli_args.add_iters(p, default=4, note="unrolled in training")
    p.add_argument("--augment", action="store_true", help="mirror, transpose (square clips) and/or reverse each "
                   "labelled clip at random, labels exactly with it: motions your few videos never show (meant "
                   "against fitting their particular motions; on the six videos in the README it did not help)")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--wd", type=float, default=1e-5)
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only; ignored on CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/pseudo", help="output directory (default runs/pseudo)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pth if it exists")
    p.add_argument("--stop-at", type=int, metavar="STEP", help="stop after STEP (the schedule still spans --steps)")
    p.add_argument("--save-every", type=int, default=500)
    cli_args.add_device(p, default=None, note="the student's; teachers run on CPU")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
