"""`python -m training package`: make the package's default weights from a training checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def run(args) -> int:
    from rt_edge.default_model import WEIGHTS

    from .package import package

    card = {}
    if args.card:
        text = Path(args.card).read_text() if Path(args.card).is_file() else args.card
        try:
            card = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"--card must be a JSON object or a file holding one: {e}") from None
        if not isinstance(card, dict):
            raise ValueError(f"--card must be a JSON object, got {type(card).__name__}")
    out = Path(args.out or WEIGHTS)
    summary = package(args.checkpoint, out, image_size=args.image_size, card=card)
    H, W = summary["image_size"]
    print(f"wrote {summary['out']}: {summary['bytes'] / 2**20:.1f} MiB, {summary['parameters'] / 1e6:.2f} M parameters "
          f"in fp16 (worst rounding {summary['max_fp16_rounding']:.2e}), default input {H}x{W}")
    return 0


def register(sub) -> None:
    from rt_edge import cli_args

    p = sub.add_parser(
        "package", help="fp16 default weights (config and model card inside) from a training checkpoint",
        description="Write the weights `rt_edge.OnlineTracker.load()` and `python -m rt_edge track` use when no "
        "checkpoint is named: the model in fp16 with its config, the input size it runs best at, and a model "
        "card; optimizer state is dropped. Ship them only once the model beats the README's bar.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("checkpoint", help="training checkpoint (OUT/last.pth of `python -m training kubric`)")
    p.add_argument("--out", help="output file (default: the package's rt_edge/assets/default_model.pth)")
    cli_args.add_image_size(p, note="the size loaders use by default; none given: the model_resolution it "
                            "trained with")
    p.add_argument("--card", metavar="JSON", help="model card: a JSON object or a file holding one")
    p.set_defaults(func=run)
