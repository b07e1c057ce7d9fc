"""The working memory of one training step beyond the frozen weights, for hosts that reserve it first.

Measured at full size on the CPU (bench/RESULTS.md, session 12: one step on a 30 s clip): beside
the weights, a step holds about 43 (float32) / 26 (bfloat16) float32 copies of the DiT's hidden
states per block with gradient checkpointing, 78 / 54 without; the LoRA adds its weights, their
gradients and AdamW's two moments, all float32. The factors below round those up.
"""
from __future__ import annotations

from torch import nn

from .lora_config import LoraSpec

HIDDEN_COPIES_CHECKPOINTED = 48
HIDDEN_COPIES_FULL = 88
LORA_BYTES_PER_PARAM = 16  # float32 weight + gradient + AdamW exp_avg + exp_avg_sq


def lora_parameter_count(model: nn.Module, spec: LoraSpec) -> int:
    """Parameters the LoRA will add to `model`: r·(in + out) for every targeted Linear."""
    return sum(spec.r * (m.in_features + m.out_features) for path, m in model.named_modules()
               if path and spec.matches(path) and isinstance(m, nn.Linear))


def training_step_bytes(model: nn.Module, spec: LoraSpec, frames: int, batch: int = 1,
                        gradient_checkpointing: bool = True) -> int:
    """Bytes one optimizer step needs beside `model`'s weights, for `batch` clips of `frames` latent frames."""
    copies = HIDDEN_COPIES_CHECKPOINTED if gradient_checkpointing else HIDDEN_COPIES_FULL
    hidden = batch * max(int(frames), 1) * model.inner_dim * len(model.transformer_blocks) * 4
    return int(hidden * copies + lora_parameter_count(model, spec) * LORA_BYTES_PER_PARAM)
