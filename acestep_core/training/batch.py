"""Batches of encoded songs, padded as the original's `collate_fn` pads (zeros, mask 0).

The original pads the waveforms and marks every latent frame valid; we pad the latents instead and
keep a frame mask for the loss, so padding is not learnt as music. The transformer still sees every
frame, as in the original: a latent attention mask of 0 would leave the padded frames' cross-attention
rows fully masked (NaN). With one song per batch (the original's default) the two agree.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from ..conditioning import SPEAKER_DIM
from .encoded import EncodedSong


@dataclass
class TrainBatch:
    """The transformer's training inputs for B songs."""

    latents: torch.Tensor  # [B, 8, 16, T] float32
    frame_mask: torch.Tensor  # [B, T] float32, 1 = real frame
    text_states: torch.Tensor  # [B, Lt, D] float32
    text_mask: torch.Tensor  # [B, Lt] int64
    speaker: torch.Tensor  # [B, 512] zeros: the released model has no speaker embeddings
    lyric_ids: torch.Tensor  # [B, L] int64
    lyric_mask: torch.Tensor  # [B, L] int64

    def to(self, device: torch.device | str) -> TrainBatch:
        return TrainBatch(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _pad_last(tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
    """Right-pad along `dim` with zeros to the longest, then stack."""
    longest = max(t.shape[dim] for t in tensors)
    out = []
    for t in tensors:
        pad = [0, 0] * (t.ndim - 1 - dim % t.ndim) + [0, longest - t.shape[dim]]
        out.append(F.pad(t, pad))
    return torch.stack(out)


def collate(songs: list[EncodedSong], orders: Sequence[int] | int = 0) -> TrainBatch:
    """Stack songs into one batch, each with its tag order (one number for all, or one per song),
    zero-padding latents, text and lyrics to the longest."""
    orders = [orders] * len(songs) if isinstance(orders, int) else list(orders)
    prompts = [s.prompt(k) for s, k in zip(songs, orders, strict=True)]
    frames = [s.latents.shape[-1] for s in songs]
    t = max(frames)
    frame_mask = torch.stack([(torch.arange(t) < n).float() for n in frames])
    return TrainBatch(
        latents=_pad_last([s.latents for s in songs], -1),
        frame_mask=frame_mask,
        text_states=_pad_last([p.states for p in prompts], 0),
        text_mask=_pad_last([p.mask for p in prompts], 0),
        speaker=torch.zeros(len(songs), SPEAKER_DIM),
        lyric_ids=_pad_last([s.lyric_ids for s in songs], 0),
        lyric_mask=_pad_last([s.lyric_mask for s in songs], 0),
    )
