"""The update transformer: time attention per track, space attention through virtual tracks.

Module names and shapes follow the published state dict (`updateformer.*`, including the
published spelling `virual_tracks`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2. `tanh_gelu` selects the tanh approximation (transformer blocks)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, tanh_gelu: bool):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)
        self.approximate = "tanh" if tanh_gelu else "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approximate))


class Attention(nn.Module):
    """Multi-head attention of x (M, P, D) over context (M, Q, D); keys and values from one projection."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.to_out = nn.Linear(dim, dim)

    def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """context (M, Q, D) -> keys, values (M, heads, Q, D/heads)."""
        M, Q, D = context.shape
        k, v = self.to_kv(context).reshape(M, Q, 2, self.heads, D // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        return k, v

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """x (M, P, D) over keys / values (M, heads, Q, D/heads) -> (M, P, D)."""
        M, P, D = x.shape
        q = self.to_q(x).reshape(M, P, self.heads, D // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)  # M h P D/h
        return self.to_out(out.transpose(1, 2).reshape(M, P, D))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.attend(x, *self.keys_values(x if context is None else context))


def _plain_norm(x: torch.Tensor, dim: int) -> torch.Tensor:
    return F.layer_norm(x, (dim,), eps=1e-6)


class AttnBlock(nn.Module):
    """Pre-norm self-attention block (parameter-free layer norms)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.dim = dim
        self.attn = Attention(dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim, tanh_gelu=True)

    def forward(self, x: torch.Tensor, last: int = 0) -> torch.Tensor:
        """x (M, P, D) -> (M, P, D); last > 0: only the last `last` rows' output (M, last, D), attending to all P."""
        return self.step(x, last)[0]

    def step(self, x: torch.Tensor, last: int = 0, earlier: tuple[torch.Tensor, torch.Tensor] | None = None):
        """`forward` over rows x (M, P, D) that follow the rows whose keys and values are `earlier` (M, heads,
        E, D/heads; attended to, not updated). Returns the output rows and the keys and values of all E + P rows."""
        normed = _plain_norm(x, self.dim)
        k, v = self.attn.keys_values(normed)
        if earlier is not None:
            k, v = torch.cat([earlier[0], k], dim=2), torch.cat([earlier[1], v], dim=2)
        if last:
            x, normed = x[:, -last:], normed[:, -last:]
        x = x + self.attn.attend(normed, k, v)
        return x + self.mlp(_plain_norm(x, self.dim)), (k, v)


class CrossAttnBlock(nn.Module):
    """Pre-norm cross-attention block; only the context norm has parameters."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.dim = dim
        self.norm_context = nn.LayerNorm(dim)
        self.cross_attn = Attention(dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dim, tanh_gelu=True)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = x + self.cross_attn(_plain_norm(x, self.dim), self.norm_context(context))
        return x + self.mlp(_plain_norm(x, self.dim))


class UpdateFormer(nn.Module):
    """tokens (B, N, T, input_dim) -> updates (B, N, T, 4): (dx, dy, dvis, dconf) in feature pixels / logits."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        D, heads, r = cfg.hidden_size, cfg.num_heads, cfg.mlp_ratio
        self.virual_tracks = nn.Parameter(torch.randn(1, cfg.num_virtual_tracks, 1, D))
        self.input_transform = nn.Linear(cfg.input_dim, D)
        self.flow_head = nn.Linear(D, 2)
        self.vis_conf_head = nn.Linear(D, 2)
        self.time_blocks = nn.ModuleList(AttnBlock(D, heads, r) for _ in range(cfg.time_depth))
        self.space_virtual_blocks = nn.ModuleList(AttnBlock(D, heads, r) for _ in range(cfg.space_depth))
        self.space_point2virtual_blocks = nn.ModuleList(CrossAttnBlock(D, heads, r) for _ in range(cfg.space_depth))
        self.space_virtual2point_blocks = nn.ModuleList(CrossAttnBlock(D, heads, r) for _ in range(cfg.space_depth))
        # space attention follows every `space_every`-th time block
        self.space_every = cfg.time_depth // cfg.space_depth if cfg.space_depth else 0

    def forward(self, tokens: torch.Tensor, last: int = 0) -> torch.Tensor:
        """last > 0: updates of the last `last` frames only (B, N, last, 4), the same values as those rows of
        the full output; the last time block and what follows it then run on those frames alone."""
        return self.run(tokens, last)[0]

    def run(self, tokens: torch.Tensor, last: int = 0, earlier: list | None = None, keep: bool = False):
        """`forward`, and with `keep` the keys and values of every time block (a list of (B*(N+V), heads, T,
        D/heads) pairs; None without).

        earlier: the list an earlier `run` over the whole window returned. tokens (B, N, m, input_dim) are
        then the window's newest m rows only; the rows before them enter every time block through their
        keys and values from that earlier run (they are not recomputed: the stream schedule's later passes).
        """
        x = self.input_transform(tokens)
        B, N, T, D = x.shape
        V = self.virual_tracks.shape[1]
        x = torch.cat([x, self.virual_tracks.expand(B, V, T, D)], dim=1)  # B (N+V) T D
        j, kept = 0, []
        for i, block in enumerate(self.time_blocks):
            trim = last if i == len(self.time_blocks) - 1 else 0
            before = None
            if earlier is not None:
                k, v = earlier[i]
                before = k[:, :, : k.shape[2] - T], v[:, :, : v.shape[2] - T]
            x, kv = block.step(x.reshape(B * (N + V), T, D), last=trim, earlier=before)
            if keep:
                kept.append(kv)
            T = x.shape[1]
            x = x.reshape(B, N + V, T, D)
            if self.space_every and i % self.space_every == 0:
                s = x.transpose(1, 2).reshape(B * T, N + V, D)
                points, virtual = s[:, :N], s[:, N:]
                virtual = self.space_virtual2point_blocks[j](virtual, points)
                virtual = self.space_virtual_blocks[j](virtual)
                points = self.space_point2virtual_blocks[j](points, virtual)
                x = torch.cat([points, virtual], dim=1).reshape(B, T, N + V, D).transpose(1, 2)
                j += 1
        x = x[:, :N]
        return torch.cat([self.flow_head(x), self.vis_conf_head(x)], dim=-1), kept if keep else None


def init_transformer_weights(former: UpdateFormer) -> None:
    """Xavier for linear layers, near-zero output heads, so an untrained model starts still."""
    for m in former.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for head in (former.flow_head, former.vis_conf_head):
        nn.init.trunc_normal_(head.weight, std=0.001)
