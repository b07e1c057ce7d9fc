"""The original's optimizer and learning-rate schedule for the LoRA parameters.

AdamW (betas 0.8/0.9, weight decay 1e-2) and a LambdaLR that rises linearly from 0 over
`warmup_steps` and then falls linearly to 0 at `max_steps`. Optimizer step k (from 0) uses
`lr · factor(k)`, so the very first step has learning rate 0, as in the original.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch


def lr_factor(step: int, warmup_steps: int, max_steps: int) -> float:
    """The original's `lr_lambda`: linear warm-up, then linear decay to 0 at max_steps."""
    if step < warmup_steps:
        return float(step) / float(max(1, warmup_steps))
    progress = float(step - warmup_steps) / float(max(1, max_steps - warmup_steps))
    return max(0.0, 1.0 - progress)


def make_optimizer(params: Iterable[torch.nn.Parameter], learning_rate: float, weight_decay: float,
                   betas: tuple[float, float]) -> torch.optim.AdamW:
    """AdamW over the trainable (LoRA) parameters, one parameter group, as the original."""
    return torch.optim.AdamW([{"params": list(params)}], lr=learning_rate, weight_decay=weight_decay,
                             betas=tuple(betas))


def set_learning_rate(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = base_lr * factor
