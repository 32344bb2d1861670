"""The verifier (Track-On-R, papers/002): scores M candidate tracks of a query per frame.

It does not track. Given a clip, a query and M candidate tracks (one per teacher), it rates
each candidate in each frame (softmax over the M candidates); `select` turns the ratings into
per-frame pseudo-labels: the best-rated candidate's position, visibility by majority vote.

Inputs it reads (all in pixels of its own input frames, `VerifierConfig.image_size`):
- appearance: the frozen CNN encoder (`fnet`) of a CoTracker3 checkpoint, through the model's
  own `encode` / `pyramid`. The query's feature is sampled at the query point in its frame, on
  every pyramid level; each candidate's features on a (2r+1)^2 neighbourhood around its position
  in every frame. Per token: the correlations (dot products) of the query feature with that
  neighbourhood, the element-wise product query x candidate feature (projected), and the
  cosine of the candidate's feature with its own feature in the previous and next frame.
- geometry: displacement to the query point, to the per-frame median of the candidates, the
  candidate's forward/backward motion and that motion relative to the candidates' median
  motion (all log-compressed), the share of other candidates within 1..32 px (agreement), the
  candidate's occlusion flag and the share of candidates flagging occlusion, time from the query
  frame (sin/cos). No candidate identity enters: the model is equivariant to candidate order.
Tokens (one per query x candidate x frame) pass `layers` rounds of two small transformer
blocks: candidates attend to each other within a frame, then each candidate attends along time.
A linear head gives one score per token; softmax over candidates.

Training target (corrupt-then-detect, training/corruptions.py), per visible frame:
`softmax(-d / (distance_unit_px * tau))` over candidates, d their distance to the ground truth in
pixels; loss = cross-entropy with the predicted softmax, averaged over ground-truth-visible frames.
The unit: the paper gives tau = 0.1 without a unit. In raw pixels that is a one-hot target
(a 1 px worse candidate gets e^-10 of the weight: below the ground truth's own precision); in
[0, 1]-normalised coordinates it is ~50 px at 512 wide, too flat to tell 2 px from 20 px. We keep
tau = 0.1 and measure distances in units of `distance_unit_px` = 10 px of the verifier's input
frames, so the target falls by a factor e per pixel of extra error (effective temperature 1 px).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rt_edge.config import ModelConfig
from rt_edge.image import pixel_scale, resize_aligned
from rt_edge.model import CoTracker3, load_checkpoint
from rt_edge.model.encoder import FeatureEncoder
from rt_edge.model.sampling import bilinear_sample, neighbourhood, sample_at_frames

from .checkpoints import save_atomic
from .corruptions import CorruptionConfig, make_candidates
from .options import LAST, VerifierTrainConfig

FORMAT = "rt_edge.verifier"
TIME_FREQS = 6  # sin/cos of (t - t_query) at periods 2, 4, ..., 64 frames
ENCODE_CHUNK = 8  # frames encoded at once in `scores` (bounds the encoder's activation memory)


@dataclass(frozen=True)
class VerifierConfig:
    """Sizes of the verifier head and the conventions of its input and target."""

    dim: int = 96  # token width
    heads: int = 4
    layers: int = 2  # rounds of (within-frame candidate attention, temporal attention)
    radius: int = 1  # correlation neighbourhood radius per pyramid level: (2r+1)^2 values
    levels: int = 4  # pyramid levels used (at most the tracker's corr_levels)
    image_size: tuple[int, int] = (256, 256)  # (H, W) frames are resized to; multiples of the tracker's stride
    tau: float = 0.1  # target temperature, in units of distance_unit_px
    distance_unit_px: float = 10.0  # see the module doc: effective temperature tau * unit = 1 px
    agree_radii_px: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        object.__setattr__(self, "agree_radii_px", tuple(float(v) for v in self.agree_radii_px))
        checks = {
            "dim": self.dim >= 1 and self.dim % self.heads == 0,
            "heads": self.heads >= 1,
            "layers": self.layers >= 1,
            "radius": self.radius >= 0,
            "levels": self.levels >= 1,
            "image_size": len(self.image_size) == 2 and min(self.image_size) >= 8,
            "tau": self.tau > 0,
            "distance_unit_px": self.distance_unit_px > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid VerifierConfig values: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_size"], d["agree_radii_px"] = list(self.image_size), list(self.agree_radii_px)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VerifierConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown VerifierConfig keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**d)


class FrozenEncoder(nn.Module):
    """A tracker's `fnet` alone, never trained; `encode` and `pyramid` are CoTracker3's own methods
    (they read only `fnet` and `cfg`), so the features are exactly the tracker's."""

    encode = CoTracker3.encode
    pyramid = CoTracker3.pyramid

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.fnet = FeatureEncoder(cfg)
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> FrozenEncoder:
        return super().train(False)  # no state changes with mode, but keep it out of training mode anyway


class Verifier(nn.Module):
    """Frozen tracker encoder + a small candidate/time transformer (see the module doc)."""

    def __init__(self, cfg: VerifierConfig, tracker_cfg: ModelConfig):
        super().__init__()
        if cfg.levels > tracker_cfg.corr_levels:
            raise ValueError(f"verifier levels={cfg.levels} exceeds the tracker's corr_levels="
                             f"{tracker_cfg.corr_levels}")
        if any(s % tracker_cfg.stride for s in cfg.image_size):
            raise ValueError(f"image_size {cfg.image_size} must be multiples of the tracker's stride "
                             f"{tracker_cfg.stride}")
        self.cfg = cfg
        self.encoder = FrozenEncoder(tracker_cfg)
        L, C, Q = cfg.levels, tracker_cfg.latent_dim, (2 * cfg.radius + 1) ** 2
        self.register_buffer("offsets", neighbourhood(cfg.radius).reshape(Q, 2), persistent=False)
        geo = 2 + 3 + 4 + 4 + len(cfg.agree_radii_px) + 2 + 2 + 2 * TIME_FREQS
        self.embed = nn.Sequential(nn.Linear(L * Q + 2 * L + geo, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))
        self.embed_appearance = nn.Linear(L * C, cfg.dim)

        def block() -> nn.Module:
            return nn.TransformerEncoderLayer(cfg.dim, cfg.heads, 4 * cfg.dim, dropout=0.0, activation="gelu",
                                              batch_first=True, norm_first=True)

        self.frame_blocks = nn.ModuleList(block() for _ in range(cfg.layers))
        self.time_blocks = nn.ModuleList(block() for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, 1)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Everything but the frozen encoder (what the optimizer gets)."""
        return [p for name, p in self.named_parameters() if not name.startswith("encoder.")]

    @torch.no_grad()
    def features(self, video: torch.Tensor) -> list[torch.Tensor]:
        """video (B, T, 3, H, W) in [0, 255] -> the first `levels` pyramid levels (B, T, C, h_l, w_l), no grad."""
        return self.encoder.pyramid(self.encoder.encode(video))[: self.cfg.levels]

    def forward(self, pyramid: list[torch.Tensor], queries: torch.Tensor, candidates: torch.Tensor,
                occluded: torch.Tensor) -> torch.Tensor:
        """Candidate logits per frame.

        pyramid: levels (B, T, C, h_l, w_l) from `features`; queries (B, N, 3) rows (t, x, y);
        candidates (B, N, M, T, 2) and occluded (B, N, M, T) in the same pixels.
        Returns logits (B, N, T, M) (softmax over the last axis gives the scores).
        """
        B, N, M, T = candidates.shape[:4]
        scalars, products = self._appearance(pyramid, queries, candidates)
        tokens = torch.cat([scalars, _geometry(queries, candidates, occluded, self.cfg.agree_radii_px)], dim=-1)
        x = self.embed(tokens) + self.embed_appearance(products)  # (B, N, M, T, D)
        D = x.shape[-1]
        for frame_block, time_block in zip(self.frame_blocks, self.time_blocks, strict=True):
            x = frame_block(x.transpose(2, 3).reshape(B * N * T, M, D)).reshape(B, N, T, M, D).transpose(2, 3)
            x = time_block(x.reshape(B * N * M, T, D)).reshape(B, N, M, T, D)
        logits = self.head(self.norm(x))[..., 0]  # (B, N, M, T)
        return logits.transpose(2, 3)

    def _appearance(self, pyramid, queries, candidates) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (correlations and temporal self-similarity (B, N, M, T, L*Q + 2L),
        query x candidate centre-feature products (B, N, M, T, L*C))."""
        B, N, M, T = candidates.shape[:4]
        stride = self.encoder.cfg.stride
        q_t = queries[..., 0].round().long()
        corrs, selfsim, products = [], [], []
        for lvl, level in enumerate(pyramid):
            scale = stride * 2**lvl
            qf = sample_at_frames(level, q_t, queries[:, :, None, 1:] / scale)[:, :, 0]  # (B, N, C)
            C, h, w = level.shape[2:]
            pos = candidates.permute(0, 3, 1, 2, 4).reshape(B * T, N * M, 1, 2) / scale + self.offsets
            nb = bilinear_sample(level.reshape(B * T, C, h, w), pos)  # (B*T, C, N*M, Q)
            nb = nb.reshape(B, T, C, N, M, -1).permute(0, 3, 4, 1, 5, 2)  # (B, N, M, T, Q, C)
            qf = qf[:, :, None, None, :]  # (B, N, 1, 1, C)
            corrs.append(torch.einsum("bnmtqc,bnmtc->bnmtq", nb, qf.expand(B, N, M, T, C)))
            centre = nb[..., nb.shape[-2] // 2, :]  # (B, N, M, T, C)
            products.append(centre * qf)
            unit = F.normalize(centre, dim=-1)
            step = (unit[:, :, :, 1:] * unit[:, :, :, :-1]).sum(-1)  # cosine between consecutive frames
            one = step.new_ones(B, N, M, 1)
            selfsim += [torch.cat([one, step], dim=-1), torch.cat([step, one], dim=-1)]
        return torch.cat([*corrs, torch.stack(selfsim, dim=-1)], dim=-1), torch.cat(products, dim=-1)


def _compress(d: torch.Tensor) -> torch.Tensor:
    """Pixel quantities of any size on a common scale: sign(d) log(1 + |d|) / 4."""
    return torch.sign(d) * torch.log1p(d.abs()) / 4.0


def _geometry(queries: torch.Tensor, candidates: torch.Tensor, occluded: torch.Tensor,
              radii: tuple[float, ...]) -> torch.Tensor:
    """Geometric token features (B, N, M, T, G): see the module doc. Symmetric in the candidates."""
    B, N, M, T = candidates.shape[:4]
    q_t, q_xy = queries[..., 0], queries[..., 1:]
    rel_query = candidates - q_xy[:, :, None, None]
    median = candidates.quantile(0.5, dim=2, keepdim=True)  # mean of the middle two when M is even
    rel_median = candidates - median
    zero = candidates.new_zeros(B, N, M, 1, 2)
    fwd = torch.cat([candidates[:, :, :, 1:] - candidates[:, :, :, :-1], zero], dim=3)
    bwd = torch.cat([zero, candidates[:, :, :, 1:] - candidates[:, :, :, :-1]], dim=3)
    motion = torch.cat([fwd, bwd], dim=-1)
    rel_motion = motion - motion.quantile(0.5, dim=2, keepdim=True)
    dist = torch.linalg.vector_norm(candidates[:, :, :, None] - candidates[:, :, None], dim=-1)  # (B, N, M, M, T)
    others = max(M - 1, 1)
    agree = [((dist <= r).sum(dim=3) - 1).clamp(min=0) / others for r in radii]  # itself excluded
    occ = occluded.to(candidates.dtype)
    dt = torch.arange(T, device=candidates.device, dtype=candidates.dtype) - q_t[..., None]  # (B, N, T)
    periods = 2.0 ** torch.arange(1, TIME_FREQS + 1, device=candidates.device, dtype=candidates.dtype)
    angle = 2 * math.pi * dt[..., None] / periods
    time_feats = torch.cat([(dt / max(T - 1, 1))[..., None], (dt == 0).to(dt.dtype)[..., None],
                            angle.sin(), angle.cos()], dim=-1)  # (B, N, T, 2 + 2F)
    return torch.cat([
        _compress(rel_query),
        _compress(rel_median),
        torch.log1p(torch.linalg.vector_norm(rel_median, dim=-1, keepdim=True)) / 4.0,
        _compress(motion),
        _compress(rel_motion),
        torch.stack(agree, dim=-1),
        occ[..., None],
        occ.mean(dim=2, keepdim=True).expand(B, N, M, T)[..., None],
        time_feats[:, :, None].expand(B, N, M, T, time_feats.shape[-1]),
    ], dim=-1)


# ------------------------------------------------------------------ target and loss


def target_distribution(candidates: torch.Tensor, tracks: torch.Tensor, cfg: VerifierConfig) -> torch.Tensor:
    """softmax(-distance / (unit * tau)) over candidates: candidates (B, N, M, T, 2), ground-truth
    tracks (B, N, T, 2) -> (B, N, T, M)."""
    d = torch.linalg.vector_norm(candidates - tracks[:, :, None], dim=-1).transpose(2, 3)
    return torch.softmax(-d / (cfg.distance_unit_px * cfg.tau), dim=-1)


def verifier_loss(logits: torch.Tensor, target: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the predicted softmax against the target, mean over visible frames.

    logits, target (B, N, T, M); visible (B, N, T) bool (ground truth).
    """
    ce = -(target * torch.log_softmax(logits, dim=-1)).sum(-1)
    w = visible.to(ce.dtype)
    return (ce * w).sum() / w.sum().clamp(min=1.0)


def selection_metrics(probs: np.ndarray, candidates: np.ndarray, tracks: np.ndarray,
                      visible: np.ndarray) -> dict[str, float]:
    """How good the chosen candidates are, on visible frames (pixels).

    probs (N, T, M), candidates (M, N, T, 2), tracks (N, T, 2), visible (N, T). Returns the mean
    error of the verifier's pick, of a uniformly random pick (mean over candidates), of the
    per-frame coordinate-wise median of the candidates and of the best candidate (oracle), and
    the share of frames where the pick is the candidate nearest the ground truth.
    """
    err = np.linalg.norm(candidates - tracks[None], axis=-1).transpose(1, 2, 0)  # (N, T, M)
    pick = np.take_along_axis(err, probs.argmax(-1)[..., None], -1)[..., 0]
    median = np.linalg.norm(np.median(candidates, axis=0) - tracks, axis=-1)
    v = np.asarray(visible, bool)
    if not v.any():
        return {k: float("nan") for k in ("err_pick", "err_random", "err_median", "err_oracle", "acc_nearest")}
    return {"err_pick": float(pick[v].mean()), "err_random": float(err[v].mean()),
            "err_median": float(median[v].mean()), "err_oracle": float(err.min(-1)[v].mean()),
            "acc_nearest": float((probs.argmax(-1) == err.argmin(-1))[v].mean())}


# ------------------------------------------------------------------ checkpoints


def from_tracker(tracker: Any, cfg: VerifierConfig = VerifierConfig()) -> Verifier:
    """A fresh verifier on the frozen encoder of a tracker checkpoint (path or loaded CoTracker3)."""
    model = tracker if isinstance(tracker, CoTracker3) else load_checkpoint(tracker)
    verifier = Verifier(cfg, model.cfg)
    verifier.encoder.fnet.load_state_dict(model.fnet.state_dict())
    return verifier


def save_verifier(path: str | os.PathLike, verifier: Verifier, step: int = 0,
                  optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write the verifier (weights incl. its encoder, both configs, step, optimizer for resume) atomically."""
    state = {
        "format": FORMAT,
        "config": verifier.cfg.to_dict(),
        "tracker_config": verifier.encoder.cfg.to_dict(),
        "model": {k: v.detach().cpu() for k, v in verifier.state_dict().items()},
        "step": int(step),
        "torch_rng": torch.get_rng_state(),
        **({"optimizer": optimizer.state_dict()} if optimizer is not None else {}),
    }
    return save_atomic(state, path)


def _read(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"verifier checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle/zip errors: one clear line
        raise ValueError(f"{path} is not a readable weights-only PyTorch checkpoint: {e}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a verifier checkpoint (expected format {FORMAT!r}; train one with "
                         "`python -m training verifier`)")
    return state


def load_verifier(src: Any) -> Verifier:
    """A Verifier from a checkpoint path (read weights-only), or the Verifier itself; eval mode."""
    if isinstance(src, Verifier):
        return src.eval()
    if not isinstance(src, (str, os.PathLike)):
        raise ValueError(f"verifier must be a checkpoint path or a Verifier, got {type(src).__name__}")
    state = _read(src)
    verifier = Verifier(VerifierConfig.from_dict(state["config"]), ModelConfig.from_dict(state["tracker_config"]))
    verifier.load_state_dict(state["model"])
    return verifier.eval()


# ------------------------------------------------------------------ inference: scores and pseudo-labels


def _check_inputs(video, queries, candidates, occluded) -> tuple[np.ndarray, ...]:
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8 or len(video) == 0:
        raise ValueError(f"video must be (T, H, W, 3) uint8 RGB, got {video.shape} {video.dtype}")
    T = len(video)
    queries = np.asarray(queries, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=np.float64)
    occluded = np.asarray(occluded, dtype=bool)
    if queries.ndim != 2 or queries.shape[1] != 3 or len(queries) == 0:
        raise ValueError(f"queries must be (N, 3) rows (t, x, y), got {queries.shape}")
    N = len(queries)
    if candidates.ndim != 4 or candidates.shape[1:] != (N, T, 2) or len(candidates) == 0:
        raise ValueError(f"candidates must be (M, N, T, 2) = (M, {N}, {T}, 2), got {candidates.shape}")
    if occluded.shape != candidates.shape[:3]:
        raise ValueError(f"occluded must be (M, N, T) = {candidates.shape[:3]}, got {occluded.shape}")
    if not np.isfinite(queries).all() or not np.isfinite(candidates).all():
        raise ValueError("queries and candidates must be finite (every teacher must give a position in every frame)")
    t = queries[:, 0]
    bad = (t < 0) | (t > T - 1) | (t != np.round(t))
    if bad.any():
        raise ValueError(f"query frames must be frame indices of this {T}-frame video, got {t[bad][:4]}")
    return video, queries, candidates, occluded


@torch.no_grad()
def scores(verifier: Any, video: np.ndarray, queries: np.ndarray, candidates: np.ndarray, occluded: np.ndarray,
           chunk: int = 64, device: str | None = None) -> np.ndarray:
    """Per-frame candidate scores (N, T, M), each row a softmax over the M candidates.

    verifier: path or Verifier; video (T, H, W, 3) uint8; queries (N, 3) (t, x, y) and
    candidates (M, N, T, 2) in video pixels; occluded (M, N, T). Frames are resized to the
    verifier's image_size (aligned corners) and coordinates mapped with them; queries are
    scored `chunk` at a time (bounds memory).
    """
    verifier = load_verifier(verifier)
    video, queries, candidates, occluded = _check_inputs(video, queries, candidates, occluded)
    dev = torch.device(device) if device else next(verifier.parameters()).device
    verifier = verifier.to(dev)
    size = verifier.cfg.image_size
    sx, sy = pixel_scale(video.shape[1:3], size)
    frames = torch.from_numpy(np.stack([resize_aligned(f, size) for f in video]).transpose(0, 3, 1, 2))[None]
    levels = [verifier.features(frames[:, i:i + ENCODE_CHUNK].to(dev)) for i in range(0, frames.shape[1], ENCODE_CHUNK)]
    pyramid = [torch.cat(parts, dim=1) for parts in zip(*levels, strict=True)]
    scale = np.array([1.0, sx, sy])
    q = torch.from_numpy((queries * scale).astype(np.float32)).to(dev)
    c = torch.from_numpy((candidates * scale[1:]).astype(np.float32).transpose(1, 0, 2, 3)).to(dev)  # (N, M, T, 2)
    o = torch.from_numpy(occluded.transpose(1, 0, 2)).to(dev)
    out = []
    for i in range(0, len(q), chunk):
        logits = verifier(pyramid, q[None, i:i + chunk], c[None, i:i + chunk], o[None, i:i + chunk])
        out.append(torch.softmax(logits[0].float(), dim=-1).cpu().numpy())
    return np.concatenate(out, axis=0)


def majority_occluded(occluded: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Occlusion by majority vote of the candidates: occluded (M, N, T), chosen (N, T) index of the
    selected candidate (breaks ties when M is even) -> (N, T) bool."""
    M = occluded.shape[0]
    votes = occluded.sum(axis=0)
    tie = 2 * votes == M
    own = np.take_along_axis(occluded, chosen[None], axis=0)[0]
    return (2 * votes > M) | (tie & own)


def select(verifier_ckpt: Any, video: np.ndarray, queries: np.ndarray, candidates: np.ndarray,
           occluded: np.ndarray, **kw: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pseudo-labels from M teachers' tracks.

    verifier_ckpt: path or Verifier; video (T, H, W, 3) uint8; queries (N, 3) rows (t, x, y) in
    video pixels; candidates (M, N, T, 2) the teachers' tracks; occluded (M, N, T) their flags.
    Returns tracks (N, T, 2) float32 (in each frame the best-scored candidate's position, exactly)
    and occluded (N, T) bool (majority vote of the teachers; a tie goes to the chosen teacher's flag).
    Keyword arguments go to `scores` (chunk, device).
    """
    probs = scores(verifier_ckpt, video, queries, candidates, occluded, **kw)
    candidates = np.asarray(candidates)
    chosen = probs.argmax(-1)  # (N, T)
    tracks = np.take_along_axis(candidates.transpose(1, 2, 0, 3), chosen[..., None, None], axis=2)[:, :, 0]
    return tracks.astype(np.float32), majority_occluded(np.asarray(occluded, bool), chosen)


# ------------------------------------------------------------------ training


def training_example(data, k: int, seed: int, m: int, corruption: CorruptionConfig) -> dict[str, torch.Tensor]:
    """Example k of the stream: KubricDataset sample k plus its candidates, drawn from
    default_rng([seed, k]) (a pure function of (seed, k): resume sees the same examples).
    Tensors with a batch axis: video (1, T, 3, H, W), queries (1, N, 3), tracks (1, N, T, 2),
    visible (1, N, T), candidates (1, N, M, T, 2), occluded (1, N, M, T), clean (1, N)."""
    item = data.sample(k)
    tracks = item["tracks"].numpy().transpose(1, 0, 2)  # (N, T, 2)
    visible = item["visible"].numpy().T  # (N, T)
    queries = item["queries"]
    cand = make_candidates(np.random.default_rng([seed, k]), tracks, ~visible, queries[:, 0].numpy(), m, corruption)
    return {
        "video": item["video"][None].float(),
        "queries": queries[None].float(),
        "tracks": torch.from_numpy(tracks.astype(np.float32))[None],
        "visible": torch.from_numpy(visible)[None],
        "candidates": torch.from_numpy(cand.tracks.transpose(1, 0, 2, 3).copy())[None],
        "occluded": torch.from_numpy(cand.occluded.transpose(1, 0, 2).copy())[None],
        "clean": torch.from_numpy(cand.clean)[None],
    }


def dataset(root: str, size: tuple[int, int], frames: int, points: int, seed: int, augment: bool):
    """The clips the verifier trains on: queries uniform in time (the offline variant), fixed length."""
    from .kubric_data import KubricDataset

    return KubricDataset(root, variant="offline", frames=frames, size=tuple(size), points=points, seed=seed,
                         train=True, augment=augment)


def train_verifier(cfg: VerifierTrainConfig) -> Path:
    """Train (or resume) a verifier; returns OUT/last.pth. Writes OUT/log.jsonl and OUT/config.json."""
    from .loop import LoopSpec, StepResult, run_loop
    from .schedule import warmup_cosine

    cfg.validate()
    device = cfg.device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(cfg.out)
    torch.manual_seed(cfg.seed)
    start, state = 0, None
    if cfg.resume and (out / LAST).is_file():
        state = _read(out / LAST)
        verifier = Verifier(VerifierConfig.from_dict(state["config"]), ModelConfig.from_dict(state["tracker_config"]))
        verifier.load_state_dict(state["model"])
        start = int(state["step"])
    else:
        vcfg = VerifierConfig(dim=cfg.dim, layers=cfg.layers, image_size=tuple(cfg.size))
        tracker = load_checkpoint(cfg.tracker)
        verifier = from_tracker(tracker, dataclasses.replace(vcfg, levels=min(vcfg.levels, tracker.cfg.corr_levels)))
    if tuple(verifier.cfg.image_size) != tuple(cfg.size):
        raise ValueError(f"--size {tuple(cfg.size)} differs from the resumed verifier's {verifier.cfg.image_size}")
    verifier = verifier.to(device).train()
    opt = torch.optim.AdamW(verifier.trainable_parameters(), lr=cfg.lr, weight_decay=cfg.wd)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
    data = dataset(cfg.data, cfg.size, cfg.frames, cfg.points, cfg.seed, cfg.augment)
    corruption = cfg.corruption()
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({**asdict(cfg), "verifier": verifier.cfg.to_dict(),
                                                "tracker_config": verifier.encoder.cfg.to_dict()}, indent=2) + "\n")

    def step_fn(step: int) -> StepResult:
        ex = {k: v.to(device) for k, v in training_example(data, step, cfg.seed, cfg.candidates, corruption).items()}
        pyramid = verifier.features(ex["video"])
        logits = verifier(pyramid, ex["queries"], ex["candidates"], ex["occluded"])
        target = target_distribution(ex["candidates"], ex["tracks"], verifier.cfg)
        loss = verifier_loss(logits, target, ex["visible"])
        if not ((step + 1) % cfg.log_every == 0 or step == start or step + 1 == cfg.steps):
            return StepResult(loss, {"loss": loss}, row=None)
        metrics = selection_metrics(torch.softmax(logits.detach(), -1)[0].cpu().numpy(),
                                    ex["candidates"][0].cpu().numpy().transpose(1, 0, 2, 3),
                                    ex["tracks"][0].cpu().numpy(), ex["visible"][0].cpu().numpy())
        return StepResult(loss, {"loss": loss}, metrics)

    run_loop(LoopSpec(out, start, cfg.steps, cfg.steps, cfg.clip, cfg.save_every, cfg.log_every,
                      progress=cfg.progress),
             opt, verifier.trainable_parameters(), lambda step: cfg.lr * warmup_cosine(step, cfg.warmup, cfg.steps),
             step_fn, lambda done_steps: save_verifier(out / LAST, verifier, done_steps, opt))
    return out / LAST
