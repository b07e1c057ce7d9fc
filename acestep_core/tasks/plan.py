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

MAX_FRAMES = int(240 * 44100 / 512 / 8)  # 2583 frames = 240 s, the longest the model was trained on


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


def seconds_to_frame(seconds: float) -> int:
    """Upstream's time → latent-frame rule, truncating toward zero (spec §1)."""
    return int(seconds * 44100 / 512 / 8)


def check_frames(frames: int, what: str = "audio_duration") -> int:
    if frames < 1:
        raise ValueError(f"{what} is too short: it gives {frames} latent frames; use at least 0.1 s")
    if frames > MAX_FRAMES:
        raise ValueError(f"{what} gives {frames} latent frames, more than the model's maximum {MAX_FRAMES} (240 s)")
    return frames
