"""The lyric Conformer (spec §5.4): linear embed, 6 pre-norm blocks of rel-pos attention + FFN.

Upstream uses a WeNet/CosyVoice ``ConformerEncoder`` with everything but the input size at its
defaults: no convolution module, no macaron FFN, full (non-chunked) attention, SiLU activation.
Module names follow the checkpoint (``embed.out.{0,1}``, ``encoders.{j}.self_attn.linear_q`` ...).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .operations import Operations, TorchOps

DROPOUT = 0.1  # upstream ConformerEncoder's dropout_rate and positional_dropout_rate (training only)


class RelPositionTable:
    """ESPnet relative sinusoids: rows for relative positions ``T-1, T-2, ..., -(T-1)``.

    Upstream precomputes 5000 positions at init; each row is an elementwise function of its
    position, so building only the rows needed (cached, growing) yields the same values.
    """

    _ROUND = 256

    def __init__(self, d_model: int) -> None:
        self.d_model = d_model
        self._tables: dict[tuple[torch.dtype, torch.device], tuple[int, torch.Tensor]] = {}

    def _build(self, n: int, device: torch.device) -> torch.Tensor:
        """Full float32 table ``[2n-1, d]`` with relative position 0 at row ``n-1``."""
        position = torch.arange(0, n, dtype=torch.float32, device=device).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, self.d_model, 2, dtype=torch.float32, device=device)
                             * -(math.log(10000.0) / self.d_model))
        pos_angles = position * div_term
        neg_angles = -1 * position * div_term  # formed as upstream does (not as −pos_angles)
        positive = torch.stack((pos_angles.sin(), pos_angles.cos()), dim=-1).flatten(-2)
        negative = torch.stack((neg_angles.sin(), neg_angles.cos()), dim=-1).flatten(-2)
        return torch.cat((positive.flip(0), negative[1:]), dim=0)

    def get(self, length: int, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """``[1, 2*length-1, d]`` in ``dtype`` (computed in float32, then cast)."""
        device = torch.device(device)
        key = (dtype, device)
        have = self._tables.get(key)
        if have is None or have[0] < length:
            n = -(-length // self._ROUND) * self._ROUND
            have = (n, self._build(n, device).to(dtype))
            self._tables[key] = have
        n, table = have
        return table[n - length: n - 1 + length].unsqueeze(0)


def rel_shift(bd: torch.Tensor) -> torch.Tensor:
    """Pick ``bd[..., i, T-1-i+j]`` (relative position ``i-j``) from ``[B,H,T,2T-1]`` → ``[B,H,T,T]``.

    Same selection as Transformer-XL's pad-and-reshape trick, done as a strided view.
    """
    b, h, t, w = bd.shape
    bd = bd.contiguous()
    return bd.as_strided((b, h, t, t), (h * t * w, t * w, w - 1, 1), bd.storage_offset() + t - 1)


class RelPositionAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL relative position terms (``pos_bias_u/v``)."""

    def __init__(self, heads: int, dim: int, operations: Operations = TorchOps, **factory: Any) -> None:
        super().__init__()
        self.h, self.d_k = heads, dim // heads
        self.linear_q = operations.Linear(dim, dim, **factory)
        self.linear_k = operations.Linear(dim, dim, **factory)
        self.linear_v = operations.Linear(dim, dim, **factory)
        self.linear_out = operations.Linear(dim, dim, **factory)
        self.linear_pos = operations.Linear(dim, dim, bias=False, **factory)
        self.pos_bias_u = nn.Parameter(torch.empty(heads, self.d_k, **factory))
        self.pos_bias_v = nn.Parameter(torch.empty(heads, self.d_k, **factory))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """``x [B,T,D]``, ``pos_emb [1,2T-1,D]``, ``keep [B,1,T]`` bool (key columns to attend)."""
        b = x.size(0)
        q = self.linear_q(x).view(b, -1, self.h, self.d_k)  # [B,T,H,dk]; ERG scales this output
        k = self.linear_k(x).view(b, -1, self.h, self.d_k).transpose(1, 2)
        v = self.linear_v(x).view(b, -1, self.h, self.d_k).transpose(1, 2)
        p = self.linear_pos(pos_emb).view(pos_emb.size(0), -1, self.h, self.d_k).transpose(1, 2)
        ac = torch.matmul((q + self.pos_bias_u).transpose(1, 2), k.transpose(-2, -1))
        bd = torch.matmul((q + self.pos_bias_v).transpose(1, 2), p.transpose(-2, -1))
        if bd.shape != ac.shape:
            bd = rel_shift(bd)
        scores = (ac + bd) / math.sqrt(self.d_k)
        # Masked columns: −inf before the softmax, 0 after, so an all-masked row gives 0, not NaN.
        drop = keep.unsqueeze(1).eq(0)
        scores = scores.masked_fill(drop, -float("inf"))
        attn = torch.softmax(scores, dim=-1).masked_fill(drop, 0.0)
        out = torch.matmul(attn, v).transpose(1, 2).contiguous().view(b, -1, self.h * self.d_k)
        return self.linear_out(out)


class PositionwiseFeedForward(nn.Module):
    """``w_2(dropout(SiLU(w_1(x))))``."""

    def __init__(self, dim: int, hidden: int, dropout: float = DROPOUT, operations: Operations = TorchOps,
                 **factory: Any) -> None:
        super().__init__()
        self.w_1 = operations.Linear(dim, hidden, **factory)
        self.dropout = nn.Dropout(dropout)
        self.w_2 = operations.Linear(hidden, dim, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.dropout(F.silu(self.w_1(x))))


class ConformerLayer(nn.Module):
    """Pre-norm block: ``x += dropout(MHA(LN(x)))``; ``x += dropout(FFN(LN(x)))`` (no conv, no macaron)."""

    def __init__(self, dim: int, heads: int, hidden: int, dropout: float = DROPOUT,
                 operations: Operations = TorchOps, **factory: Any) -> None:
        super().__init__()
        self.self_attn = RelPositionAttention(heads, dim, operations, **factory)
        self.feed_forward = PositionwiseFeedForward(dim, hidden, dropout, operations, **factory)
        self.norm_ff = operations.LayerNorm(dim, eps=1e-5, **factory)
        self.norm_mha = operations.LayerNorm(dim, eps=1e-5, **factory)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pos_emb: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.self_attn(self.norm_mha(x), pos_emb, keep))
        return x + self.dropout(self.feed_forward(self.norm_ff(x)))


class LinearEmbed(nn.Module):
    """``embed.out``: Linear, LayerNorm, Dropout (the dropout has no weights: keys ``out.0``, ``out.1``)."""

    def __init__(self, idim: int, odim: int, dropout: float = DROPOUT, operations: Operations = TorchOps,
                 **factory: Any) -> None:
        super().__init__()
        self.out = nn.Sequential(operations.Linear(idim, odim, **factory),
                                 operations.LayerNorm(odim, eps=1e-5, **factory),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x)


class LyricConformer(nn.Module):
    """Lyric embeddings ``[B,T,input]`` + mask ``[B,T]`` → encoded ``[B,T,output]`` (not masked after).

    Dropout (upstream's defaults: 0.1 after the embedding, on the scaled input and on the position
    table, after attention, inside and after the FFN; none on the attention weights) acts only in
    training mode, in upstream's order, so a seeded training step draws the same masks as the original.
    """

    def __init__(self, input_size: int = 1024, output_size: int = 1024, attention_heads: int = 16,
                 linear_units: int = 4096, num_blocks: int = 6, dropout: float = DROPOUT,
                 positional_dropout: float = DROPOUT, operations: Operations = TorchOps, **factory: Any) -> None:
        super().__init__()
        self.xscale = math.sqrt(output_size)
        self.embed = LinearEmbed(input_size, output_size, dropout, operations, **factory)
        self.pos_dropout = nn.Dropout(positional_dropout)
        self.encoders = nn.ModuleList(
            ConformerLayer(output_size, attention_heads, linear_units, dropout, operations, **factory)
            for _ in range(num_blocks)
        )
        self.after_norm = operations.LayerNorm(output_size, eps=1e-5, **factory)
        self.pos_table = RelPositionTable(output_size)

    def forward(self, xs: torch.Tensor, pad_mask: torch.Tensor) -> torch.Tensor:
        keep = pad_mask.to(torch.bool).unsqueeze(1)  # [B,1,T]
        x = self.pos_dropout(self.embed(xs) * self.xscale)
        pos_emb = self.pos_dropout(self.pos_table.get(x.size(1), x.dtype, x.device))
        for layer in self.encoders:
            x = layer(x, pos_emb, keep)
        return self.after_norm(x)
