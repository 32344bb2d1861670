"""Fine-tuning on unlabelled real videos with teacher pseudo-labels (CoTracker3 section 3.1 and appendix).

The student starts from a (Kubric/synthetic-trained) checkpoint and learns the track loss of the
supervised trainer only, against pseudo-labels, with the occlusion flags of the label weighting
visible and occluded frames; the visibility/confidence head (`updateformer.vis_conf_head`) is
frozen: requires_grad off and left out of the optimizer, so it stays bit-identical. AdamW at 5e-5
with cosine decay and no warm-up, gradient clipping, bf16 autocast on CUDA.

Clips are random temporal crops (online: a multiple of the window length) resized to --size,
queried with SIFT (training.sift_queries); with --augment each labelled clip is mirrored, transposed
and/or reversed in time at random (training.clip_augment), labels exactly with it. Labels
(training.pseudo_labels) are either made on the fly, per batch (random selection: one teacher drawn
per batch and only it runs), or read from a cache built once before training, each rank labelling
the videos rank::world; teachers run on the CPU (rt_edge.evaluation.trackers.rt_edge_predictor has no
device option).

As in the supervised trainer, the batch of every (step, rank) is a pure function of (seed, step,
rank), so --stop-at / --resume continue exactly; torchrun gives data parallelism (DDP).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from rt_edge.model import CoTracker3, load_checkpoint

from . import checkpoints, clip_augment, distributed
from .losses import sequence_losses
from .pseudo_labels import (
    ClipSpec,
    build_cache,
    cached_clips,
    draw_clip,
    label_clip,
    list_videos,
    load_labelled,
    select,
    video_length,
)
from .loop import LoopSpec, StepResult, run_loop
from .run_utils import Unrolled, tensorboard_writer, weights_digest
from .schedule import warmup_cosine
from .teachers import load_teachers
from .options import LAST, PseudoConfig

FROZEN_PREFIX = "updateformer.vis_conf_head."
ONLINE_WINDOWS = 4  # default online clip length in windows (64 frames for the published window of 16)


def freeze_vis_conf_head(model: CoTracker3) -> list[str]:
    """requires_grad off for the visibility/confidence head; returns the frozen parameter names."""
    names = [n for n, p in model.named_parameters() if n.startswith(FROZEN_PREFIX)]
    if not names:
        raise ValueError(f"model has no parameters under {FROZEN_PREFIX!r}; not a CoTracker3?")
    for n, p in model.named_parameters():
        if n.startswith(FROZEN_PREFIX):
            p.requires_grad_(False)
    return names


def _clip_spec(cfg: PseudoConfig, model: CoTracker3) -> ClipSpec:
    mc = model.cfg
    T = cfg.clip_frames or (ONLINE_WINDOWS * mc.window_len if cfg.variant == "online" else mc.window_len)
    if cfg.variant == "online" and T % mc.window_len:
        raise ValueError(f"--clip-frames {T} must be a multiple of the online window length {mc.window_len}")
    H, W = cfg.size
    min_size = mc.stride * 2 ** (mc.corr_levels - 1)
    if H % mc.stride or W % mc.stride or H < min_size or W < min_size:
        raise ValueError(f"--size {H} {W}: both must be multiples of {mc.stride} and at least {min_size}")
    return ClipSpec(frames=T, size=(H, W), points=cfg.points, keyframes=cfg.keyframes)


class _OnTheFly:
    """Batch slots labelled when drawn: slot k tries clips of videos k, k+1, ... (mod V) until SIFT keeps one."""

    def __init__(self, cfg: PseudoConfig, spec: ClipSpec):
        self.cfg, self.spec = cfg, spec
        self.videos = list_videos(cfg.videos)
        self.lengths = {v: video_length(v) for v in self.videos}
        self.teachers = load_teachers(cfg.teachers)

    def clip(self, slot: int) -> tuple[dict, list[str]]:
        reasons = []
        for a in range(self.cfg.attempts):
            video = self.videos[(slot + a) % len(self.videos)]
            clip, reason = draw_clip(video, self.lengths[video], np.random.default_rng([self.cfg.seed, slot, a]),
                                     self.spec)
            if clip is not None:
                return clip, reasons
            reasons.append(reason)
        raise ValueError(f"SIFT skipped {self.cfg.attempts} clips in a row (last: {reasons[-1]}); the videos have "
                         "too little texture at this --size, or lower --points")

    def labelled(self, slot: int, teacher: int) -> tuple[dict, list[str]]:
        clip, reasons = self.clip(slot)
        if self.cfg.selection == "random":  # the batch's teacher, the only one that runs
            tracks, occ = self.teachers[teacher](clip["frames"], clip["queries"])
        else:
            tracks, occ, _ = label_clip(clip, self.teachers, self.cfg.selection, None, self.cfg.verifier)
        return {**clip, "tracks": tracks, "occluded": occ}, reasons


class _Cached:
    """Batch slot k reads cached clip k mod C; the selection is made from its stored candidates."""

    def __init__(self, cfg: PseudoConfig, spec: ClipSpec, world: distributed.World):
        self.cfg = cfg
        videos = list_videos(cfg.videos)
        self.stats = build_cache(cfg.cache, videos, lambda: load_teachers(cfg.teachers), cfg.teachers, spec, cfg.seed,
                                 cfg.clips_per_video, world.rank, world.size, progress=cfg.progress)
        if world.size > 1:
            torch.distributed.barrier()  # every rank's share is on disk before anyone reads
        self.files = cached_clips(cfg.cache, videos, cfg.clips_per_video)
        if not self.files:
            raise ValueError(f"no labelled clip in --cache {cfg.cache}: SIFT skipped every clip of the {len(videos)} "
                             "videos (see the *.skip.json files); lower --points or use a larger --size")
        self.without = [v.name for v in videos if not cached_clips(cfg.cache, [v], cfg.clips_per_video)]
        self.skipped = sorted(Path(cfg.cache).glob("*.skip.json"))
        self._chosen: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # verifier labels, made once per clip

    def labelled(self, slot: int, teacher: int) -> tuple[dict, list[str]]:
        i = slot % len(self.files)
        item = load_labelled(self.files[i])
        cand, occ = item["candidates"], item["occluded"]
        if self.cfg.selection == "random":
            tracks, occluded = cand[teacher], occ[teacher]
        elif self.cfg.selection == "verifier":
            if i not in self._chosen:
                self._chosen[i] = select("verifier", cand, occ, None, item["frames"], item["queries"],
                                         self.cfg.verifier)[:2]
            tracks, occluded = self._chosen[i]
        else:
            tracks, occluded, _ = select(self.cfg.selection, cand, occ, None)
        return {**item, "tracks": tracks, "occluded": occluded}, []


def _batch(items: list[dict], device: str) -> dict[str, torch.Tensor]:
    """Labelled clips -> video (B, T, 3, H, W) float, queries (B, N, 3), tracks (B, T, N, 2), visible (B, T, N)."""
    video = np.stack([it["frames"] for it in items]).transpose(0, 1, 4, 2, 3)
    tracks = np.stack([it["tracks"] for it in items]).transpose(0, 2, 1, 3)
    visible = ~np.stack([it["occluded"] for it in items]).transpose(0, 2, 1)
    queries = np.stack([it["queries"] for it in items])
    out = dict(video=torch.from_numpy(np.ascontiguousarray(video)).float(), queries=torch.from_numpy(queries).float(),
               tracks=torch.from_numpy(np.ascontiguousarray(tracks)).float(),
               visible=torch.from_numpy(np.ascontiguousarray(visible)))
    return {k: v.to(device) for k, v in out.items()}


def train_pseudo(cfg: PseudoConfig) -> Path:
    """Run (or resume) pseudo-label fine-tuning; returns OUT/last.pth (published layout, loadable by
    rt_edge.model.load_checkpoint)."""
    cfg.validate()
    world, device = distributed.setup(cfg.device)
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    model = load_checkpoint(cfg.init).to(device).train()
    spec = _clip_spec(cfg, model)
    frozen = freeze_vis_conf_head(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.wd)
    start = checkpoints.resume(out / LAST, model, opt) if cfg.resume and (out / LAST).is_file() else 0
    source = _Cached(cfg, spec, world) if cfg.cache else _OnTheFly(cfg, spec)
    net = distributed.wrap(Unrolled(model, cfg.variant, cfg.iters), world, device)
    writer = tensorboard_writer(out) if world.main else None
    if world.main:
        out.mkdir(parents=True, exist_ok=True)
        info = {**asdict(cfg), "model": model.cfg.to_dict(), "clip_spec": asdict(spec), "frozen": frozen,
                "world_size": world.size}
        if cfg.cache:
            info["label_cache"] = {"clips": len(source.files), "skipped_clips": len(source.skipped),
                             "videos_without_clips": source.without}
            print(f"label cache {cfg.cache}: {len(source.files)} clips ({source.stats['labelled']} labelled by rank 0 "
                  f"now), {len(source.skipped)} skipped by SIFT, videos without a clip: {source.without or 'none'}")
        (out / "config.json").write_text(json.dumps(info, indent=2) + "\n")
    end = min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.bf16 and device.startswith("cuda"))
    skipped_total = 0

    def step_fn(step: int) -> StepResult:
        nonlocal skipped_total
        teacher = int(np.random.default_rng([cfg.seed, step, world.rank]).integers(len(cfg.teachers)))
        items, skipped, transforms = [], [], []
        for b in range(cfg.batch):
            item, reasons = source.labelled((step * world.size + world.rank) * cfg.batch + b, teacher)
            if cfg.augment:
                item, names = clip_augment.augment(item, np.random.default_rng([cfg.seed, step, world.rank, b, 1]))
                transforms.append(names)
            items.append(item)
            skipped += reasons
        skipped_total += len(skipped)
        batch = _batch(items, device)
        with autocast:
            windows = net(batch["video"], batch["queries"])
        losses = sequence_losses(windows, batch["tracks"], batch["visible"], batch["queries"][..., 0].long(),
                                 online=cfg.variant == "online")
        row = {"teacher": cfg.teachers[teacher] if cfg.selection == "random" else cfg.selection}
        if skipped:
            row["skipped"] = skipped
        if cfg.augment:
            row["transforms"] = transforms
        # tracks only: visibility/confidence are not supervised (logged as the frozen head's BCE)
        return StepResult(losses["track"], {k: v for k, v in losses.items() if k != "total"}, row)

    run_loop(LoopSpec(out, start, end, cfg.steps, cfg.clip, cfg.save_every, cfg.log_every, world, writer,
                      tb_prefix="pseudo", progress=cfg.progress),
             opt, trainable, lambda step: cfg.lr * warmup_cosine(step, 0, cfg.steps), step_fn,
             lambda done_steps: checkpoints.save(out / LAST, model, opt, done_steps))
    if writer:
        writer.close()
    if world.main and not cfg.cache and skipped_total:
        print(f"SIFT skipped {skipped_total} clips on rank 0 (reasons in {out / 'log.jsonl'})")
    if world.size > 1:
        (out / f"weights_rank{world.rank}.sha256").write_text(weights_digest(model) + "\n")
    del net  # DDP's reducer holds the process group: release it before the group is destroyed
    distributed.close(world)
    return out / LAST
