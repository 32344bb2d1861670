"""`python -m training verifier`: train the candidate-track verifier on synthetic (Kubric-format) clips."""

from __future__ import annotations


def run(args) -> int:
    from .config_args import config_from_args
    from .options import VerifierTrainConfig
    from .verifier import train_verifier

    cfg = config_from_args(VerifierTrainConfig, args)
    last = train_verifier(cfg)
    print(f"last checkpoint: {last}")
    return 0


def register(sub) -> None:
    from .config_args import add_config_args
    from .options import VerifierTrainConfig

    p = sub.add_parser(
        "verifier", help="train the verifier that scores teachers' candidate tracks per frame (corrupt-then-detect)",
        description="Train the verifier of training/verifier.py (Track-On-R): ground-truth tracks of Kubric-format "
        "clips (the release or `python -m training synthetic`) are corrupted into M candidates per query (drift, "
        "jumps, identity switches, occlusion flips, jitter, frozen tracks; 1-128 px log-uniform), and the verifier "
        "learns to score them per frame: target softmax(-distance / (10 px * 0.1)), cross-entropy on visible frames. "
        "It reads the frozen encoder of --tracker (never trained; stored in the verifier checkpoint). Writes "
        "OUT/last.pth (weights-only loadable; use it with `training.verifier.select` or `--selection verifier`), "
        "OUT/log.jsonl (loss and, every --log-every steps, the error of the picked candidate vs a random pick, "
        "the candidates' median and the best candidate) and OUT/config.json (every option, resolved: usable as --config).")
    add_config_args(p, VerifierTrainConfig)
    p.set_defaults(func=run)
