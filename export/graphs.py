"""The graphs a deployed tracker runs, as plain nn.Modules over the model's pieces.

Batch is 1 and dropped from every interface (a robot tracks one stream per session):
  encoder:      image (1, 3, H, W) float [0, 255] -> fmap_0..fmap_{L-1}, each (C, h_l, w_l)
  query:        fmap_0..fmap_{L-1} of one frame, xy (K, 2) -> query_feats (K, L, k, k, C)
  window_step:  fmap_l (S, C, h_l, w_l) per level, coords (S, N, 2), vis (S, N), conf (S, N),
                query_feats (N, L, k, k, C), active (N,) -> coords, vis, conf after `iters`
  frame_step:   fmaps_l (R, C, h_l, w_l) of the newest R = stream_refine frames, past_corr (S-1, N, L*corr_dim),
                coords (S, N, 2), vis (S, N), conf (S, N), query_feats (N, L, k, k, C), fresh (N,) 1.0 for
                points without history -> those R frames' coords (R, N, 2), vis (R, N), conf (R, N) after
                `iters`, and the next past_corr (S-1, N, L*corr_dim) (the stream schedule)
"""

from __future__ import annotations

import torch
from torch import nn

from rt_edge.model import CoTracker3


class EncoderGraph(nn.Module):
    def __init__(self, model: CoTracker3):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        return tuple(level[0, 0] for level in self.model.pyramid(self.model.encode(image[None])))


class QueryGraph(nn.Module):
    def __init__(self, model: CoTracker3):
        super().__init__()
        self.model = model

    def forward(self, *args: torch.Tensor):
        *levels, xy = args
        t = torch.zeros_like(xy[None, :, 0], dtype=torch.long)
        return self.model.query_features([lvl[None, None] for lvl in levels], t, xy[None])[0]


class _StepGraph(nn.Module):
    """A model step with its iteration count fixed into the graph."""

    def __init__(self, model: CoTracker3, iters: int):
        super().__init__()
        self.model = model
        self.iters = iters


class WindowStepGraph(_StepGraph):
    def forward(self, *args: torch.Tensor):
        *levels, coords, vis, conf, query_feats, active = args
        qf = query_feats * active[:, None, None, None, None]
        c, v, f = self.model.window_step([lvl[None] for lvl in levels], coords[None], vis[None], conf[None],
                                         qf[None], self.iters)
        return c[-1][0], v[-1][0], f[-1][0]


class FrameStepGraph(_StepGraph):
    def forward(self, *args: torch.Tensor):
        *levels, past_corr, coords, vis, conf, query_feats, fresh = args
        c, v, f, hist = self.model.frame_step([lvl[None] for lvl in levels], past_corr[None], coords[None],
                                              vis[None], conf[None], query_feats[None], fresh[None] > 0.5, self.iters)
        # the zone size as a constant: with R=1 the traced shapes broadcast it away and the outputs' first axis
        # would be declared dynamic (TensorRT profiles need it fixed)
        R = int(levels[0].shape[0])
        return c[-1][0].reshape(R, -1, 2), v[-1][0].reshape(R, -1), f[-1][0].reshape(R, -1), hist[0]
