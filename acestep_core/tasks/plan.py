"""What a task hands to the shared sampling loop (style guide §6: tasks add inputs, not loops).

text2music, retake, repaint, extend and audio2audio all run `sampling.loop.run_denoising_loop`
on a `LoopPlan`; repaint/extend bring their own masked stepper. Only flow-edit, a different ODE,
has its own loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..sampling.loop import LoopStepper
from ..sampling.schedules import Schedule


@dataclass
class Draws:
    """The generators of one generation and the seeds they were made from (spec §10)."""

    main: list[torch.Generator]
    retake: list[torch.Generator]
    main_seeds: list[int]
    retake_seeds: list[int]


@dataclass
class LoopPlan:
    """The schedule, the starting latent and, for masked tasks, their own stepper."""

    schedule: Schedule
    latents: torch.Tensor
    stepper: LoopStepper | None = None  # None: the scheduler's (sampling.samplers.make_stepper)
    info: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.latents.shape[-1])
