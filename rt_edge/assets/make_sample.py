"""Regenerate rt_edge/assets/sample.mp4 from a source video.

    python rt_edge/assets/make_sample.py /path/to/bear.mp4 [--frames 48] [--width 384] [--out PATH]

Takes the first `--frames` frames, resizes them to `--width` pixels wide keeping the aspect ratio
(cv2.INTER_AREA, height rounded to even), and writes them with OpenCV (fourcc mp4v) at the
source's fps. Fails if the result is not under 1.5 MB, the budget for a file shipped in the package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

MAX_BYTES = 1_500_000


def make_sample(src: Path, out: Path, frames: int = 48, width: int = 384) -> int:
    """Write the sample clip; returns its size in bytes."""
    if not src.is_file():
        raise FileNotFoundError(f"source video not found: {src}")
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    if not cap.isOpened() or not fps or fps <= 0:
        raise ValueError(f"cannot read video: {src}")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    n = 0
    while n < frames:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        height = max(2, round(h * width / w / 2) * 2)
        small = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            if not writer.isOpened():
                raise ValueError(f"cannot open video writer for {out}")
        writer.write(small)
        n += 1
    cap.release()
    if writer is not None:
        writer.release()
    if n < frames:
        raise ValueError(f"{src} has only {n} readable frames, {frames} needed")
    size = out.stat().st_size
    if size >= MAX_BYTES:
        raise ValueError(f"{out} is {size} bytes, over the {MAX_BYTES}-byte budget")
    return size


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", type=Path, help="source video, e.g. ../shared/videos/bear.mp4")
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--width", type=int, default=384)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "sample.mp4")
    args = p.parse_args(argv)
    try:
        size = make_sample(args.source, args.out, args.frames, args.width)
    except (FileNotFoundError, ValueError) as e:
        print(f"make_sample: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({args.frames} frames, {size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
