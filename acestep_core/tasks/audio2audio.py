"""audio2audio: start from the reference latents noised to 1 − strength (spec §9.7)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..audio.geometry import check_frames
from ..sampling.schedules import add_latents_noise, audio2audio_schedule
from ..settings import SamplerSettings
from .plan import Draws, LoopPlan
from .text2music import initial_noise

log = logging.getLogger(__name__)


@dataclass
class Audio2Audio:
    """Re-generate a reference song; strength 0 = pure text2music, near 1 = stay close to the reference."""

    ref_latents: torch.Tensor
    strength: float = 0.5
    name: str = "audio2audio"

    def prepare(self, draws: Draws, settings: SamplerSettings, batch_size: int, dtype, device) -> LoopPlan:
        frames = check_frames(int(self.ref_latents.shape[-1]), "reference audio")
        # With oss_steps upstream rebuilds a standard schedule of int(σmax·max(oss)) steps (§9.7).
        steps = max(settings.oss_steps) if settings.oss_steps else settings.infer_step
        schedule, sig_max = audio2audio_schedule(settings.scheduler_type, steps, self.strength)
        if len(schedule) == 0:
            log.warning("ref_audio_strength %s with %d steps leaves int((1 - strength) * steps) = 0 sampling steps: "
                        "the result is the reference noised to %.3g, as in the original (lower the strength or "
                        "raise the step count to re-generate)", self.strength, steps, sig_max)
        x = initial_noise(draws, batch_size, frames, dtype, device)
        ref = self.ref_latents.to(device=device, dtype=dtype)
        # Noised with the once-shifted σmax while the schedule starts at the twice-shifted one (quirk, §9.7).
        return LoopPlan(schedule, add_latents_noise(ref, x, sig_max))
