"""`python -m training pseudo`: fine-tune a student on unlabelled real videos with teacher pseudo-labels."""

from __future__ import annotations

import importlib


def run(args) -> int:
    from .config_args import config_from_args
    from .options import PseudoConfig
    from .pseudo_trainer import train_pseudo

    for module in args.imports or []:
        try:
            importlib.import_module(module)  # registers teachers with training.teachers.register_teacher
        except ImportError as e:
            raise ValueError(f"--import {module}: {e}") from None
    cfg = config_from_args(PseudoConfig, args)
    last = train_pseudo(cfg)
    print(f"last checkpoint: {last}")
    return 0


def register(sub) -> None:
    from .config_args import add_config_args
    from .options import PseudoConfig

    p = sub.add_parser(
        "pseudo", help="fine-tune on unlabelled real videos with pseudo-labels from frozen teachers",
        description="CoTracker3's pseudo-label fine-tuning. Random temporal crops of the videos in --videos "
        "(resized to --size) get --points SIFT queries on --keyframes frames drawn with P(t) ~ (T - t)^2, biased "
        "toward the clip's start (a clip where a keyframe has too few SIFT points is skipped and counted); frozen "
        "teachers track them; the student "
        "(from --init) learns the track loss only, against the label chosen by --selection, with its "
        "visibility/confidence head frozen. AdamW, cosine decay without warm-up. Labels are made on the fly "
        "(random: one teacher per batch) or once into --cache and reused. Writes OUT/last.pth (published layout), "
        "OUT/config.json (every option, resolved: usable as --config), OUT/log.jsonl (track loss; 'visibility'/'confidence' are the frozen head's BCE against "
        "the labels, logged, not trained). Launch with `torchrun --nproc_per_node=K -m training pseudo ...` for "
        "data parallelism; cache labelling is then split over the ranks.")
    add_config_args(p, PseudoConfig)
    p.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                   help="import MODULE first (it may call training.teachers.register_teacher); repeatable")
    p.set_defaults(func=run)
