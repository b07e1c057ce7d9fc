"""Gradient checkpointing of the DiT's blocks, as the original's `enable_gradient_checkpointing()`.

Each block's activations are recomputed in the backward pass instead of kept (non-reentrant
`torch.utils.checkpoint`, as upstream). We wrap the blocks for the duration of training rather
than edit the model: the inference model stays as it is, and the wrapper goes away afterwards.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class CheckpointedBlock(nn.Module):
    """Runs `block` under activation checkpointing while gradients are being recorded."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def __getattr__(self, name: str):
        # The transformer also reads its blocks' submodules (e.g. cross_attn to project the context).
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("block"), name)

    def forward(self, *args, **kwargs):
        if torch.is_grad_enabled():
            return checkpoint(self.block, *args, use_reentrant=False, **kwargs)
        return self.block(*args, **kwargs)


@contextmanager
def checkpointed_blocks(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Wrap every `model.transformer_blocks[i]` in a CheckpointedBlock; restored on exit."""
    blocks = getattr(model, "transformer_blocks", None)
    if not enabled or blocks is None:
        yield model
        return
    originals = list(blocks)
    try:
        for i, block in enumerate(originals):
            blocks[i] = CheckpointedBlock(block)
        yield model
    finally:
        for i, block in enumerate(originals):
            blocks[i] = block
