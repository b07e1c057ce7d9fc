"""Condition dropout, so the LoRA'd model still works unconditionally (classifier-free guidance).

The original trainer zeroes, per batch item and independently: the UMT5 prompt states with
p = 0.15, the speaker embedding with p = 0.5, and the lyric token ids together with their mask with
p = 0.15. It draws three uniform vectors in that order (text, speaker, lyrics); an item is dropped
where its draw is below p. The text attention mask is kept (the states are zero, not masked).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

TEXT_DROP_P = 0.15
SPEAKER_DROP_P = 0.5
LYRIC_DROP_P = 0.15


@dataclass(frozen=True)
class DropoutRates:
    """Per-item probabilities of zeroing each condition (the original's defaults)."""

    text: float = TEXT_DROP_P
    speaker: float = SPEAKER_DROP_P
    lyrics: float = LYRIC_DROP_P


@dataclass(frozen=True)
class DropoutMasks:
    """1 = keep, 0 = drop, per batch item, as long tensors [B]."""

    text: torch.Tensor
    speaker: torch.Tensor
    lyrics: torch.Tensor


def masks_from_uniforms(text: torch.Tensor, speaker: torch.Tensor, lyrics: torch.Tensor,
                        rates: DropoutRates | None = None) -> DropoutMasks:
    """The original's rule for each condition's uniform draws [B]: an item is kept where its draw ≥ p."""
    rates = rates or DropoutRates()
    return DropoutMasks(*((u >= p).long() for u, p in zip((text, speaker, lyrics),
                                                          (rates.text, rates.speaker, rates.lyrics))))


def draw_dropout(batch: int, generator: torch.Generator, rates: DropoutRates | None = None) -> DropoutMasks:
    """Three uniform draws of size `batch` in the original's order (text, speaker, lyrics)."""
    return masks_from_uniforms(*(torch.rand(batch, generator=generator) for _ in range(3)), rates)


def apply_dropout(masks: DropoutMasks, text_states: torch.Tensor, speaker: torch.Tensor,
                  lyric_ids: torch.Tensor, lyric_mask: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero the dropped items' text states [B,Lt,D], speaker [B,S], lyric ids and mask [B,L]."""
    def keep(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        m = mask.to(x.device).bool().reshape(-1, *([1] * (x.ndim - 1)))
        return torch.where(m, x, torch.zeros_like(x))

    return (keep(masks.text, text_states), keep(masks.speaker, speaker),
            keep(masks.lyrics, lyric_ids), keep(masks.lyrics, lyric_mask))
