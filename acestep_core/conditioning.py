"""What the DiT is conditioned on, and the condition variants guidance and ERG need (spec §5.3, §8.6).

`PromptConditioning` and `LyricTokens` are cheap, model-independent outputs of the text stages
(ComfyUI's conditioning nodes pass them along); `build_contexts` turns them into the transformer's
cross-attention contexts for one generation.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from .models.text_encoder import ERG_TAU, TextEncoding

SPEAKER_DIM = 512
ERG_LYRIC_LAYERS = (4, 5)  # Conformer blocks whose linear_q is scaled (spec §8.6)
ERG_DIFFUSION_LAYERS = range(15, 20)  # DiT blocks whose self/cross to_q are scaled
# The longest lyrics (in tokens, [START] included) the lyric encoder accepts. ACE-Step v1 was trained on
# lyrics cut at 4096 tokens, and the encoder's attention memory grows with the square of the length:
# at 4096 tokens one pass needs about 6.6 GiB per batch item in float32 (half in bfloat16); a few
# thousand lines (50,000 tokens) would need about a terabyte. The original has no limit and dies there.
MAX_LYRIC_TOKENS = 4096


@dataclass
class PromptConditioning:
    """UMT5 states of the tags (batch 1) and, when computed, the ERG-tag weak states."""

    text: TextEncoding
    text_erg: TextEncoding | None = None


def check_lyric_length(count: int) -> None:
    """Refuse lyrics longer than MAX_LYRIC_TOKENS before the encoder tries to allocate for them."""
    if count > MAX_LYRIC_TOKENS:
        raise ValueError(
            f"the lyrics are {count} tokens long, more than the lyric encoder's limit of {MAX_LYRIC_TOKENS} "
            "(acestep_core.MAX_LYRIC_TOKENS: ACE-Step v1 was trained on lyrics cut there, and the encoder's memory "
            f"grows with the square of the length). Shorten the lyrics ({MAX_LYRIC_TOKENS} tokens is roughly 250 "
            "sung lines), or split the song and generate it in parts (e.g. with extend).")


@dataclass
class LyricTokens:
    """Lyric token ids and mask, int64 [1, L]. Empty lyrics are ([0], [0]) as upstream (spec §4.1).

    L is at most MAX_LYRIC_TOKENS, checked here so that every path to the lyric encoder is covered.
    """

    ids: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self) -> None:
        check_lyric_length(int(self.ids.shape[-1]))

    @classmethod
    def from_lists(cls, ids: list[int], mask: list[int]) -> "LyricTokens":
        return cls(torch.tensor([ids], dtype=torch.long), torch.tensor([mask], dtype=torch.long))

    def repeat(self, batch_size: int) -> "LyricTokens":
        return LyricTokens(self.ids.repeat(batch_size, 1), self.mask.repeat(batch_size, 1))


@dataclass
class Contexts:
    """Cross-attention contexts for one generation: conditional, null, text-only, and the shared mask."""

    cond: torch.Tensor
    mask: torch.Tensor
    null: torch.Tensor | None = None
    no_lyric: torch.Tensor | None = None


def _scale_output_hook(tau: float, rows: slice):
    def hook(_module, _inputs, output):
        output[rows].mul_(tau)  # in place, as upstream's `output[:] *= tau`
        return output

    return hook


@contextmanager
def scaled_queries(model: nn.Module, paths: list[str], tau: float = ERG_TAU,
                   rows: slice = slice(None)) -> Iterator[None]:
    """Temporarily multiply the outputs of the named Linear modules by tau (the ERG mechanism).

    `rows` limits the scaling to those batch rows, so a batched guidance pass can apply it to its
    unconditional rows only.
    """
    handles = [model.get_submodule(p).register_forward_hook(_scale_output_hook(tau, rows)) for p in paths]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def erg_lyric_paths() -> list[str]:
    return [f"lyric_encoder.encoders.{i}.self_attn.linear_q" for i in ERG_LYRIC_LAYERS]


def erg_diffusion_paths() -> list[str]:
    return [f"transformer_blocks.{i}.{a}.to_q" for i in ERG_DIFFUSION_LAYERS for a in ("attn", "cross_attn")]


@dataclass
class EncoderInputs:
    """The five tensors `transformer.encode` takes, on the model's device and dtype."""

    text: torch.Tensor
    text_mask: torch.Tensor
    speaker: torch.Tensor
    lyric_ids: torch.Tensor
    lyric_mask: torch.Tensor

    @classmethod
    def make(cls, prompt: PromptConditioning, lyrics: LyricTokens, batch_size: int, device, dtype) -> "EncoderInputs":
        """Prompt and lyrics broadcast over the batch; the speaker is always zeros (spec §5.3)."""
        text = prompt.text.repeat(batch_size)
        lyr = lyrics.repeat(batch_size)
        return cls(text.hidden_states.to(device=device, dtype=dtype), text.attention_mask.to(device),
                   torch.zeros(batch_size, SPEAKER_DIM, device=device, dtype=dtype), lyr.ids.to(device),
                   lyr.mask.to(device))

    def astuple(self) -> tuple[torch.Tensor, ...]:
        return self.text, self.text_mask, self.speaker, self.lyric_ids, self.lyric_mask


@torch.no_grad()
def build_contexts(transformer: nn.Module, prompt: PromptConditioning, lyrics: LyricTokens, *, batch_size: int,
                   use_erg_tag: bool, use_erg_lyric: bool, with_null: bool = True,
                   with_no_lyric: bool = False) -> Contexts:
    """Encode the condition variants of spec §8.6 for a batch of `batch_size`."""
    param = next(transformer.parameters())
    device, dtype = param.device, param.dtype
    h_text, t_mask, speaker, ids, l_mask = EncoderInputs.make(prompt, lyrics, batch_size, device, dtype).astuple()

    cond, mask = transformer.encode(h_text, t_mask, speaker, ids, l_mask)
    out = Contexts(cond=cond, mask=mask)
    if with_null:
        if use_erg_lyric:
            if use_erg_tag:
                if prompt.text_erg is None:
                    raise ValueError("use_erg_tag needs the ERG-tag text states; encode the prompt with erg=True")
                weak = prompt.text_erg.repeat(batch_size).hidden_states.to(device=device, dtype=dtype)
            else:
                weak = torch.zeros_like(h_text)
            with scaled_queries(transformer, erg_lyric_paths()):
                out.null, _ = transformer.encode(weak, t_mask, torch.zeros_like(speaker), ids, l_mask)
        else:
            out.null, _ = transformer.encode(torch.zeros_like(h_text), t_mask, torch.zeros_like(speaker),
                                             torch.zeros_like(ids), l_mask)
    if with_no_lyric:
        if use_erg_lyric:
            with scaled_queries(transformer, erg_lyric_paths()):
                out.no_lyric, _ = transformer.encode(h_text, t_mask, torch.zeros_like(speaker), ids, l_mask)
        else:
            out.no_lyric, _ = transformer.encode(h_text, t_mask, torch.zeros_like(speaker),
                                                 torch.zeros_like(ids), l_mask)
    return out
