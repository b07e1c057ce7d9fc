"""The one denoising loop shared by text2music, retake, repaint, extend and audio2audio (spec §9.2).

It knows no model and no task: a denoiser gives the velocity, a stepper moves the latent. Plain
sampling uses the scheduler's `Stepper`; repaint/extend bring their masked stepper (tasks/repaint.py).
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch

StepCallback = Callable[[int, int, torch.Tensor], None]
"""callback(step, total, latents) after each step; raising from it stops the generation."""

Denoiser = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
"""denoiser(x, t, i) → the (guided) velocity at step i."""


class LoopStepper(Protocol):
    def start(self, x: torch.Tensor, timesteps: torch.Tensor) -> tuple[int, torch.Tensor]:
        """The first step to run and the latent it starts from (earlier steps are skipped)."""

    def advance(self, v: torch.Tensor, x: torch.Tensor, i: int) -> torch.Tensor:
        """The latent after step i, given the velocity v at it."""


@torch.no_grad()
def run_denoising_loop(timesteps: torch.Tensor, latents: torch.Tensor, denoiser: Denoiser, stepper: LoopStepper,
                       callback: StepCallback | None = None) -> torch.Tensor:
    """Iterate the schedule from the stepper's first step; the callback sees every step that ran."""
    total = len(timesteps)
    first, x = stepper.start(latents, timesteps)
    for i in range(first, total):
        v = denoiser(x, timesteps[i], i)
        x = stepper.advance(v, x, i)
        if callback is not None:
            callback(i + 1, total, x)
    return x
