"""Gradient checkpointing, as the original's `enable_gradient_checkpointing()` sets it up.

diffusers turns it on in every submodule that has the switch: the DiT's transformer blocks and the
lyric Conformer's layers (whose L×L attention maps dominate memory for long lyrics). Each block's
activations are recomputed in the backward pass instead of kept (non-reentrant
`torch.utils.checkpoint`, as upstream; the random state is replayed, so dropout masks match). We
wrap the blocks for the duration of training rather than edit the model: the inference model stays
as it is, and the wrapper goes away afterwards.
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


def checkpointed_lists(model: nn.Module) -> list[nn.ModuleList]:
    """The block lists upstream checkpoints: `transformer_blocks` and `lyric_encoder.encoders`."""
    lists = [getattr(model, "transformer_blocks", None)]
    lists.append(getattr(getattr(model, "lyric_encoder", None), "encoders", None))
    return [blocks for blocks in lists if isinstance(blocks, nn.ModuleList)]


@contextmanager
def checkpointed_blocks(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Wrap every block of `checkpointed_lists(model)` in a CheckpointedBlock; restored on exit."""
    if not enabled:
        yield model
        return
    originals = [(blocks, list(blocks)) for blocks in checkpointed_lists(model)]
    try:
        for blocks, plain in originals:
            for i, block in enumerate(plain):
                blocks[i] = CheckpointedBlock(block)
        yield model
    finally:
        for blocks, plain in originals:
            for i, block in enumerate(plain):
                blocks[i] = block
