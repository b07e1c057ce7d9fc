"""The working memory of one training step beyond the frozen weights, for hosts that reserve it first.

Measured at full size on the CPU (bench/RESULTS.md, session 12: one step on a 30 s clip): beside
the weights, a step holds about 32 (float32) / 23 (bfloat16) float32 copies of the DiT's hidden
states per block with gradient checkpointing, 78 / 54 without (640 lyric tokens included); the LoRA adds its weights, their
gradients and AdamW's two moments, all float32. Long lyrics add the lyric Conformer's L×L attention
maps (16 heads): measured on its own in float32 (forward and backward with a LoRA on its q/k/v), a
song's lyrics of L tokens need about 357·L² + 470 000·L bytes with checkpointing (0.9 / 2.5 /
7.9 GB at 1024 / 2048 / 4096 tokens) and 1 000·L² + 740 000·L without (1.8 / 5.7 / 19.8 GB). The
factors below round those up (the bench's 640 tokens are counted twice: an estimate errs high).
"""
from __future__ import annotations

from torch import nn

from .lora_config import LoraSpec

HIDDEN_COPIES_CHECKPOINTED = 48
HIDDEN_COPIES_FULL = 88
LORA_BYTES_PER_PARAM = 16  # float32 weight + gradient + AdamW exp_avg + exp_avg_sq
LYRIC_BYTES_CHECKPOINTED = (400, 500_000)  # bytes per (token², token) of one song's lyrics
LYRIC_BYTES_FULL = (1_050, 760_000)


def lora_parameter_count(model: nn.Module, spec: LoraSpec) -> int:
    """Parameters the LoRA will add to `model`: r·(in + out) for every targeted Linear."""
    return sum(spec.r * (m.in_features + m.out_features) for path, m in model.named_modules()
               if path and spec.matches(path) and isinstance(m, nn.Linear))


def training_step_bytes(model: nn.Module, spec: LoraSpec, frames: int, batch: int = 1,
                        gradient_checkpointing: bool = True, lyric_tokens: int = 0) -> int:
    """Bytes one optimizer step needs beside `model`'s weights, for `batch` clips of `frames` latent
    frames whose longest lyrics have `lyric_tokens` tokens."""
    copies = HIDDEN_COPIES_CHECKPOINTED if gradient_checkpointing else HIDDEN_COPIES_FULL
    hidden = batch * max(int(frames), 1) * model.inner_dim * len(model.transformer_blocks) * 4
    square, linear = LYRIC_BYTES_CHECKPOINTED if gradient_checkpointing else LYRIC_BYTES_FULL
    lyrics = batch * (square * lyric_tokens**2 + linear * lyric_tokens)
    return int(hidden * copies + lyrics + lora_parameter_count(model, spec) * LORA_BYTES_PER_PARAM)
