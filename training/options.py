"""The options of the three trainers, one dataclass each; every field is also a command-line flag.

Torch-free, so every `--help` builds without torch: the flags, their help and defaults come from these fields
(training.config_args), and each run writes its resolved options to OUT/config.json, which `--config` reads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .config_args import option
from .corruptions import KINDS

if TYPE_CHECKING:
    from .corruptions import CorruptionConfig

VARIANTS = ("online", "offline")
SELECTIONS = ("random", "verifier", "mean", "median")  # how a pseudo-label is chosen from the teachers' tracks
HUBER_DELTA = 6.0  # the track loss's Huber threshold, px of the training crop (the paper's)
LAST = "last.pth"  # every trainer's checkpoint, OUT/last.pth


@dataclass
class TrainConfig:
    """`python -m training kubric` options."""

    data: str = option(help="directory of training sequences (Kubric format)")
    variant: str = option("online", "which model trains", choices=VARIANTS)
    out: str = option("runs/kubric", "output directory")
    init: str | None = option(None, "start from these weights (config taken from the checkpoint)", metavar="CKPT")
    model_config: dict | None = option(None, "ModelConfig fields for a fresh model, as a file or a JSON string "
                                       "(default: the published architecture)")
    steps: int = option(1000, "length of the lr schedule in steps")
    batch: int = option(1, "clips per step per process")
    size: tuple[int, int] = option((384, 512), "training crop size", metavar=("H", "W"))
    frames: int | None = option(None, "clip length (default: 64 online; 30-60 at random offline)")
    points: int | None = option(None, "tracks per clip (default: 384 online, 512 offline)")
    iters: int = option(4, "unrolled in training")
    lr: float = option(5e-4, "AdamW peak learning rate")
    wd: float = option(1e-5, "AdamW weight decay")
    warmup: int = option(1000, "linear warm-up steps")
    clip: float = option(1.0, "gradient-norm clipping")
    huber_delta: float = option(HUBER_DELTA, "track loss Huber threshold in px of the crop (the paper's by "
                                "default); a smaller one weighs sub-pixel precision more against gross errors",
                                metavar="PX")
    bf16: bool = option(False, "bf16 autocast (CUDA only; ignored on CPU)")
    seed: int = option(0, "seed of the data order, augmentation and a fresh model")
    resume: bool = option(False, "continue from OUT/last.pth if it exists")
    stop_at: int | None = option(None, "stop this process after STEP (the schedule still spans --steps); continue "
                                 "later with --resume: CPU training in several sittings", metavar="STEP")
    start_step: int = option(0, "begin at STEP of the --steps schedule (its lr and data order), to continue a "
                             "snapshot given with --init whose optimizer state is gone (`python -m training "
                             "package` keeps the step); the lr ramps up again over --warmup steps from there. "
                             "--resume of OUT/last.pth wins", metavar="STEP")
    save_every: int = option(500, "write OUT/last.pth every this many steps (and at the end)")
    eval_data: str | None = option(None, "held-out sequences scored with TAP-Vid metrics (AJ, delta_avg, OA)")
    eval_every: int = option(500, "score --eval-data every this many steps (and at the end)")
    eval_clips: int = option(4, "held-out clips scored")
    log_every: int = option(10, "TensorBoard scalars every this many steps (log.jsonl gets every step)")
    device: str | None = option(None)
    progress: bool = option(True, "no progress bar", flag="--quiet")
    augment: bool = option(True, "no photometric or spatial augmentation")

    def validate(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        for name in ("steps", "batch", "iters", "save_every", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.huber_delta <= 0:
            raise ValueError(f"--huber-delta must be > 0 px, got {self.huber_delta}")
        if self.lr <= 0 or self.wd < 0 or self.warmup < 0 or self.clip <= 0:
            raise ValueError(f"need lr > 0, wd >= 0, warmup >= 0, clip > 0; got {self.lr}, {self.wd}, "
                             f"{self.warmup}, {self.clip}")
        if self.start_step < 0:
            raise ValueError(f"--start-step must be >= 0, got {self.start_step}")
        if self.start_step >= self.steps:
            raise ValueError(f"--start-step {self.start_step} is past the end of a {self.steps}-step schedule "
                             "(--steps): nothing to train")
        if self.start_step and not self.init:
            raise ValueError(f"--start-step {self.start_step} continues trained weights: give them with --init")
        if not Path(self.data).is_dir():
            raise FileNotFoundError(f"--data {self.data} is not a directory of sequences")


@dataclass
class PseudoConfig:
    """`python -m training pseudo` options."""

    videos: str = option(help="folder of videos (.mp4 .avi .mov .mkv .webm .m4v) or of image folders",
                         metavar="DIR")
    teachers: list[str] = option(help="teachers: ckpt:PATH[:online|offline][:iters=6,size=HxW,support=joint,"
                                 "backward=1], onnx:DIR, trt:DIR, lk[:win=21,levels=3,fb=1.0], flow[:method=dis|"
                                 "farneback,fb=1.0], or a name registered by an --import module", metavar="SPEC")
    init: str = option(help="student checkpoint to start from (config included)", metavar="CKPT")
    selection: str = option("random", "random: one teacher per batch (the paper); mean/median: per-frame "
                            "coordinate-wise over teachers, visibility by majority vote; verifier: a learned "
                            "per-frame choice (needs --verifier)", choices=SELECTIONS)
    verifier: str | None = option(None, "verifier checkpoint (python -m training verifier)", metavar="CKPT")
    cache: str | None = option(None, "label --clips-per-video clips of every video once with all teachers into "
                               "DIR, reuse them (and any existing labels there) for training; none: label on the "
                               "fly", metavar="DIR")
    clips_per_video: int = option(4, "cached clips per video", metavar="K")
    out: str = option("runs/pseudo", "output directory")
    variant: str = option("online", "how the student runs", choices=VARIANTS)
    steps: int = option(1000, "length of the lr schedule in steps")
    batch: int = option(1, "clips per step per process")
    size: tuple[int, int] = option((384, 512), "clip size", metavar=("H", "W"))
    clip_frames: int | None = option(None, "clip length (default: 4 windows online, a multiple of the window "
                                     "length; one window offline)", metavar="T")
    points: int = option(384, "SIFT queries per clip")
    keyframes: int = option(8, "frames SIFT runs on")
    iters: int = option(4, "unrolled in training")
    lr: float = option(5e-5, "AdamW peak learning rate (cosine decay, no warm-up)")
    wd: float = option(1e-5, "AdamW weight decay")
    clip: float = option(1.0, "gradient-norm clipping")
    bf16: bool = option(False, "bf16 autocast (CUDA only; ignored on CPU)")
    seed: int = option(0, "seed of the clips, the teacher draws and augmentation")
    resume: bool = option(False, "continue from OUT/last.pth if it exists")
    stop_at: int | None = option(None, "stop after STEP (the schedule still spans --steps)", metavar="STEP")
    save_every: int = option(500, "write OUT/last.pth every this many steps (and at the end)")
    log_every: int = option(10, "TensorBoard scalars every this many steps (log.jsonl gets every step)")
    attempts: int = option(8, "on the fly: clips tried for a batch slot (the next videos) when SIFT skips one")
    augment: bool = option(False, "mirror, transpose (square clips) and/or reverse each labelled clip at random, "
                           "labels exactly with it: motions your few videos never show (meant against fitting "
                           "their particular motions; on the six videos in the README it did not help)")
    device: str | None = option(None, "the student's; teachers run on CPU")
    progress: bool = option(True, "no progress bars", flag="--quiet")

    def validate(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"--selection must be one of {SELECTIONS}, got {self.selection!r}")
        if (self.selection == "verifier") != (self.verifier is not None):
            raise ValueError("--verifier CKPT is needed with --selection verifier and only then "
                             f"(selection {self.selection!r}, verifier {self.verifier!r})")
        if self.verifier is not None and not Path(self.verifier).is_file():
            raise FileNotFoundError(f"--verifier {self.verifier} not found")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        for name in ("steps", "batch", "iters", "save_every", "log_every", "points", "keyframes",
                     "clips_per_video", "attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.wd < 0 or self.clip <= 0:
            raise ValueError(f"need lr > 0, wd >= 0, clip > 0; got {self.lr}, {self.wd}, {self.clip}")
        if not Path(self.init).is_file():
            raise FileNotFoundError(f"--init {self.init} not found (a checkpoint to start the student from)")
        if not self.teachers:
            raise ValueError("give at least one teacher SPEC (--teachers)")
        from rt_edge.video import list_clips

        from .teachers import parse_spec

        for spec in self.teachers:
            parse_spec(spec)  # unknown kinds and bad options fail before anything is loaded
        if not Path(self.videos).is_dir():
            raise FileNotFoundError(f"--videos {self.videos} is not a directory")
        list_clips(self.videos, image_folders=True)  # fails when it holds no clip


@dataclass
class VerifierTrainConfig:
    """`python -m training verifier` options."""

    data: str = option(help="directory of training sequences (Kubric format: the release or `python -m training "
                       "synthetic`)")
    tracker: str = option(help="CoTracker3 checkpoint whose encoder the verifier reads (frozen)", metavar="CKPT")
    out: str = option("runs/verifier", "output directory")
    steps: int = option(2000, "training steps, one clip each")
    lr: float = option(3e-4, "AdamW learning rate (warm-up then cosine)")
    wd: float = option(1e-4, "weight decay")
    warmup: int = option(100, "linear warm-up steps")
    clip: float = option(1.0, "gradient-norm clipping")
    candidates: int = option(6, "candidate tracks per query", metavar="M")
    size: tuple[int, int] = option((256, 256), "frame size the clips are cropped/resized to; also the verifier's "
                                   "input size at inference (multiples of 4)", metavar=("H", "W"))
    frames: int = option(24, "frames per training clip", metavar="T")
    points: int = option(64, "queries per training clip", metavar="N")
    kinds: tuple[str, ...] = option(KINDS, "corruption types to use", choices=KINDS)
    magnitude: tuple[float, float] = option((1.0, 128.0), "corruption size range in pixels, log-uniform",
                                            metavar=("LO", "HI"))
    clean_prob: float = option(0.5, "share of queries with the clean track among their candidates")
    dup_prob: float = option(0.25, "chance that a corrupted candidate repeats an earlier one's corruption: real "
                             "teachers make correlated errors")
    dim: int = option(96, "token width")
    layers: int = option(2, "rounds of candidate + temporal attention")
    seed: int = option(0, "seed of the clips, corruptions and the fresh layers")
    resume: bool = option(False, "continue from OUT/last.pth if it exists")
    save_every: int = option(500, "write OUT/last.pth every this many steps (and at the end)")
    log_every: int = option(10, "log.jsonl row (loss and selection errors) every this many steps")
    augment: bool = option(True, "no photometric or spatial augmentation")
    device: str | None = option(None)
    progress: bool = option(True, "no progress bar", flag="--quiet")

    def validate(self) -> None:
        for name in ("steps", "candidates", "frames", "points", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.candidates < 2:
            raise ValueError(f"--candidates must be >= 2 (there is nothing to choose from one), got {self.candidates}")
        if self.lr <= 0 or self.wd < 0 or self.warmup < 0 or self.clip <= 0:
            raise ValueError(f"need lr > 0, wd >= 0, warmup >= 0, clip > 0; got {self.lr}, {self.wd}, {self.warmup}, "
                             f"{self.clip}")
        if not Path(self.data).is_dir():
            raise FileNotFoundError(f"--data {self.data} is not a directory of sequences")
        if not Path(self.tracker).is_file() and not (self.resume and (Path(self.out) / LAST).is_file()):
            raise FileNotFoundError(f"--tracker checkpoint not found: {self.tracker}")

    def corruption(self) -> CorruptionConfig:
        from .corruptions import CorruptionConfig

        return CorruptionConfig(kinds=tuple(self.kinds), magnitude=tuple(self.magnitude), clean_prob=self.clean_prob,
                                dup_prob=self.dup_prob)
