"""CoTracker3 as the pieces the whole project calls: encode, pyramid, query_features, window_step
(the published sliding window) and frame_step (the stream schedule: the newest frame only).

Coordinates at every public boundary are (x, y) in pixels of the model's input frames;
`vis` and `conf` travel between windows as logits and leave `track` as probabilities.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .correlation import corr4d_auto, support_features
from .embeddings import fourier_encode, resample_time_embedding, time_embedding
from .encoder import FeatureEncoder, build_pyramid, init_encoder_weights, l2_normalise
from .transformer import Mlp, UpdateFormer, init_transformer_weights
from .tracking import track


class CoTracker3(nn.Module):
    """The published CoTracker3 (online and offline differ only in `time_emb` length)."""

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ModelConfig()
        self.fnet = FeatureEncoder(cfg)
        self.updateformer = UpdateFormer(cfg)
        self.corr_mlp = Mlp(cfg.corr_size, cfg.corr_hidden, cfg.corr_dim, tanh_gelu=False)
        self.register_buffer("time_emb", time_embedding(cfg.input_dim, cfg.window_len))
        init_encoder_weights(self.fnet)
        init_transformer_weights(self.updateformer)

    # ------------------------------------------------------------------ pieces
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 3, H, W) in [0, 255] -> unit-norm features (B, T, C, H/stride, W/stride)."""
        B, T = frames.shape[:2]
        x = frames.reshape(B * T, *frames.shape[2:]) * (2.0 / 255.0) - 1.0
        fmaps = l2_normalise(self.fnet(x), dim=1)
        return fmaps.reshape(B, T, *fmaps.shape[1:]).to(frames.dtype)

    def pyramid(self, fmaps: torch.Tensor) -> list[torch.Tensor]:
        """fmaps (B, T, C, h, w) -> corr_levels tensors (B, T, C, h/2^l, w/2^l)."""
        return build_pyramid(fmaps, self.cfg.corr_levels)

    def query_features(self, pyramid: list[torch.Tensor], frame_index: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """Support features around each query, sampled once.

        pyramid: levels (B, T, C, h_l, w_l); frame_index (B, N) int indices into T;
        xy (B, N, 2) input pixels. Returns (B, N, L, K, K, C), K = 2r+1.
        """
        r, s = self.cfg.corr_radius, self.cfg.stride
        feats = [
            support_features(level, frame_index, xy / (s * 2**lvl), r) for lvl, level in enumerate(pyramid)
        ]
        return torch.stack(feats, dim=2)

    def window_step(
        self,
        pyramid: list[torch.Tensor],
        coords: torch.Tensor,
        vis: torch.Tensor,
        conf: torch.Tensor,
        query_feats: torch.Tensor,
        iters: int,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """Refine one window of tracks `iters` times.

        pyramid: levels (B, S, C, h_l, w_l) of the window's frames; coords (B, S, N, 2)
        initial positions in input pixels; vis, conf (B, S, N) initial logits;
        query_feats (B, N, L, K, K, C) (zeros for points not yet queried).
        Returns per-iteration lists of coords (B, S, N, 2), vis and conf logits (B, S, N).
        """
        feat_coords = coords / self.cfg.stride
        vis, conf = vis[..., None], conf[..., None]
        out_coords, out_vis, out_conf = [], [], []
        for _ in range(iters):
            feat_coords = feat_coords.detach()
            corr = self.corr_embedding(pyramid, feat_coords, query_feats)
            delta, _ = self._update(feat_coords, vis, conf, corr)  # B S N 4
            feat_coords = feat_coords + delta[..., :2]
            vis = vis + delta[..., 2:3]
            conf = conf + delta[..., 3:4]
            out_coords.append(feat_coords * self.cfg.stride)
            out_vis.append(vis[..., 0])
            out_conf.append(conf[..., 0])
        return out_coords, out_vis, out_conf

    def frame_step(
        self,
        pyramid: list[torch.Tensor],
        past_corr: torch.Tensor,
        coords: torch.Tensor,
        vis: torch.Tensor,
        conf: torch.Tensor,
        query_feats: torch.Tensor,
        fresh: torch.Tensor,
        iters: int,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Refine the newest R frames of a window (the stream schedule's zone); the frames before are final.

        pyramid: levels (B, R, C, h_l, w_l) of the zone, oldest first (R >= 1); past_corr (B, S-1, N,
        L*corr_dim) the correlation embeddings of every frame but the newest at its current position; coords
        (B, S, N, 2) input pixels and vis, conf (B, S, N) logits: those frames' values and the newest frame's
        start; fresh (B, N) bool: points without history, whose earlier rows are their query position and
        take the newest frame's first embedding (a point at rest). Returns per-iteration lists of the zone's
        coords (B, R, N, 2), vis and conf logits (B, R, N), and the next past_corr (B, S-1, N, L*corr_dim):
        rolled by one frame, the zone embedded at its final positions last; every row of a fresh point holds
        the newest frame's embedding at its final position.
        """
        # S, R as Python ints from the config and the zone (an exported graph keeps static sizes)
        stride, R, S = self.cfg.stride, int(pyramid[0].shape[1]), self.cfg.window_len
        feat_coords = coords / stride
        vis, conf = vis[..., None], conf[..., None]
        fresh = fresh.bool()[:, None, :, None]
        # later passes: the zone and the frame before it (the only rows whose tokens changed), or all S rows
        rows = min(R + 1, S) if self.cfg.stream_reuse else S
        out_coords, out_vis, out_conf, first_pass = [], [], [], None
        for it in range(iters):
            feat_coords = feat_coords.detach()
            if it == 0:  # the older zone frames have not moved since the last push embedded them
                newest = self.corr_embedding([lvl[:, -1:] for lvl in pyramid], feat_coords[:, -1:], query_feats)
                past_corr = torch.where(fresh, newest, past_corr)
                zone_corr = torch.cat([past_corr[:, S - R:], newest], dim=1)  # B R N Dc
            else:
                zone_corr = self.corr_embedding(pyramid, feat_coords[:, -R:], query_feats)
            corr = torch.cat([past_corr[:, :S - R], zone_corr], dim=1)
            if it == 0 or rows == S:
                delta, first_pass = self._update(feat_coords, vis, conf, corr, last=R, keep=rows < S and iters > 1)
            else:
                delta, _ = self._update(feat_coords, vis, conf, corr, last=R, rows=rows, earlier=first_pass)
            zone_xy = feat_coords[:, -R:] + delta[..., :2]
            zone_vis = vis[:, -R:] + delta[..., 2:3]
            zone_conf = conf[:, -R:] + delta[..., 3:4]
            feat_coords = torch.cat([feat_coords[:, :-R], zone_xy], dim=1)
            vis = torch.cat([vis[:, :-R], zone_vis], dim=1)
            conf = torch.cat([conf[:, :-R], zone_conf], dim=1)
            out_coords.append(zone_xy * stride)
            out_vis.append(zone_vis[..., 0])
            out_conf.append(zone_conf[..., 0])
        zone_corr = self.corr_embedding(pyramid, feat_coords[:, -R:].detach(), query_feats)
        # a fresh point's earlier rows become its newest frame's final state, as the caller's coords/vis/conf do
        zone_corr = torch.where(fresh, zone_corr[:, -1:], zone_corr)
        kept = torch.where(fresh, zone_corr[:, -1:], past_corr[:, 1:S - R])
        return out_coords, out_vis, out_conf, torch.cat([kept, zone_corr], dim=1)

    # ------------------------------------------------------------------ shared by both steps
    def corr_embedding(self, pyramid: list[torch.Tensor], feat_coords: torch.Tensor,
                       query_feats: torch.Tensor) -> torch.Tensor:
        """pyramid levels (B, S, C, h_l, w_l), feat_coords (B, S, N, 2) feature pixels ->
        corr_mlp of every level's 4D correlation, concatenated: (B, S, N, L * corr_dim)."""
        r = self.cfg.corr_radius
        return torch.cat([
            self.corr_mlp(corr4d_auto(level, feat_coords / 2**lvl, query_feats[:, :, lvl], r))
            for lvl, level in enumerate(pyramid)
        ], dim=-1)

    def _update(self, feat_coords: torch.Tensor, vis: torch.Tensor, conf: torch.Tensor, corr: torch.Tensor,
                last: int = 0, rows: int = 0, earlier: list | None = None, keep: bool = False):
        """Tokens of a window (feat_coords (B, S, N, 2), vis / conf (B, S, N, 1), corr (B, S, N, Dc))
        through the update transformer -> (B, S, N, 4) updates ((B, last, N, 4) of the last frames with
        last > 0) and with `keep` the time blocks' keys and values (UpdateFormer.run). rows with `earlier` (an
        earlier pass's keys and values): only the newest `rows` tokens enter, the older from `earlier`."""
        cfg = self.cfg
        B, S, N = feat_coords.shape[:3]
        # displacements are measured in feature pixels scaled by the training resolution
        disp_scale = feat_coords.new_tensor([cfg.model_resolution[1], cfg.model_resolution[0]]) / cfg.stride
        time_emb = resample_time_embedding(self.time_emb, S).to(feat_coords.dtype)
        # with `earlier`, only the newest rows' tokens are built (one row more: its neighbour gives their motion)
        lo = 0 if earlier is None else max(S - rows - 1, 0)
        feat_coords, vis, conf, corr = (t[:, lo:] for t in (feat_coords, vis, conf, corr))
        time_emb = time_emb[:, lo:]
        zero = feat_coords.new_zeros(B, 1, N, 2)
        fwd = torch.cat([feat_coords[:, :-1] - feat_coords[:, 1:], zero], dim=1)
        bwd = torch.cat([zero, feat_coords[:, 1:] - feat_coords[:, :-1]], dim=1)
        motion = fourier_encode(torch.cat([fwd, bwd], dim=-1) / disp_scale.repeat(2), cfg.posenc_degrees)
        tokens = torch.cat([vis, conf, corr, motion], dim=-1)  # B S N input_dim
        tokens = tokens.transpose(1, 2) + time_emb[:, None]  # B N S input_dim
        if earlier is not None:
            tokens = tokens[:, :, S - rows - lo:]
        delta, kv = self.updateformer.run(tokens, last=last, earlier=earlier, keep=keep)
        return delta.transpose(1, 2), kv

    # ------------------------------------------------------------------ whole clips
    def track(self, video, queries, iters: int = 6, mode: str = "online", return_all_iters: bool = False):
        """Track query points through a clip. See `rt_edge.model.tracking.track`."""
        return track(self, video, queries, iters=iters, mode=mode, return_all_iters=return_all_iters)
