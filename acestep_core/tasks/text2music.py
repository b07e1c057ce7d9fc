"""text2music and retake: start from seeded noise and run the scheduler (spec §9.2–9.3)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..audio.geometry import check_frames
from ..sampling.noise import make_generators, randn_tensor
from ..sampling.schedules import flow_match_schedule, oss_schedule
from ..settings import SamplerSettings
from .plan import Draws, LoopPlan


def base_schedule(settings: SamplerSettings, dtype: torch.dtype):
    """The text2music schedule and the step count repaint's n_min uses (max(oss) with oss_steps, §7.8)."""
    if settings.oss_steps:
        return oss_schedule(settings.oss_steps, settings.scheduler_type, dtype)
    return flow_match_schedule(settings.scheduler_type, settings.infer_step), settings.infer_step


def initial_noise(draws: Draws, batch_size: int, frames: int, dtype, device) -> torch.Tensor:
    """The first draw of every task: (B, 8, 16, T) from the main generators (spec §10.2)."""
    return randn_tensor((batch_size, 8, 16, frames), draws.main, dtype=dtype, device=device)


def retake_mix(x: torch.Tensor, xr: torch.Tensor, variance: float) -> torch.Tensor:
    """cos θ·x + sin θ·xr, θ = variance·π/2 built as upstream builds it: float64 → float32 tensor →
    the latents' dtype (§14 item 29). The retake/repaint mix of a song's noise with its variation noise."""
    theta = torch.tensor(variance * math.pi / 2).to(x.device).to(x.dtype)
    return torch.cos(theta) * x + torch.sin(theta) * xr


def starting_noise(shape: tuple[int, ...], manual_seeds, retake_seeds=None, variance: float = 0.5, *,
                   dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> torch.Tensor:
    """The noise a text2music (or, with retake seeds, a retake) generation starts from, seed for seed.

    One generator per batch item as the original makes them (`sampling.noise.make_generators`).
    """
    gens, _ = make_generators(shape[0], manual_seeds, device)
    x = randn_tensor(shape, gens, dtype=dtype, device=device)
    if retake_seeds is None:
        return x
    rgens, _ = make_generators(shape[0], retake_seeds, device)
    return retake_mix(x, randn_tensor(shape, rgens, dtype=dtype, device=device), variance)


@dataclass
class Text2Music:
    """Generate `frames` latent frames from noise."""

    frames: int
    name: str = "text2music"

    def prepare(self, draws: Draws, settings: SamplerSettings, batch_size: int, dtype, device) -> LoopPlan:
        check_frames(self.frames)
        schedule, _ = base_schedule(settings, dtype)
        return LoopPlan(schedule, initial_noise(draws, batch_size, self.frames, dtype, device))


@dataclass
class Retake:
    """A variation: cos θ·noise + sin θ·retake-noise, θ = variance·π/2 (0 = original, 1 = new seed)."""

    frames: int
    variance: float = 0.5
    name: str = "retake"

    def prepare(self, draws: Draws, settings: SamplerSettings, batch_size: int, dtype, device) -> LoopPlan:
        check_frames(self.frames)
        if not 0.0 <= float(self.variance) <= 1.0:
            raise ValueError(f"retake_variance = {self.variance} is out of range; valid range is [0, 1]")
        schedule, _ = base_schedule(settings, dtype)
        x = initial_noise(draws, batch_size, self.frames, dtype, device)
        xr = randn_tensor((batch_size, 8, 16, self.frames), draws.retake, dtype=dtype, device=device)
        return LoopPlan(schedule, retake_mix(x, xr, self.variance))
