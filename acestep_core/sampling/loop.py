"""The one denoising loop shared by text2music, retake, repaint, extend and audio2audio (spec §9.2)."""
from __future__ import annotations

import torch

from ..tasks.plan import LoopPlan, StepCallback
from .denoiser import GuidedDenoiser
from .samplers import Stepper


@torch.no_grad()
def run_denoising_loop(plan: LoopPlan, denoiser: GuidedDenoiser, stepper: Stepper,
                       callback: StepCallback | None = None) -> torch.Tensor:
    """Iterate the schedule; repaint/extend use upstream's masked plain-Euler update instead of the stepper."""
    timesteps = plan.schedule.timesteps
    total = len(timesteps)
    x = plan.latents
    m = plan.masked
    dtype = x.dtype
    for i, t in enumerate(timesteps):
        if m is not None:
            if i < m.n_min:
                continue
            if i == m.n_min:
                tau = t / 1000
                # Literally upstream's sum (spec §9.4): z_edit + ((1−τ)·x_src + τ·z0) − x_src.
                x = m.x_src.clone() + ((1 - tau) * m.x_src + tau * m.z0) - m.x_src
        v = denoiser(x, t, i)
        if m is not None:
            tau = t / 1000
            tau_next = timesteps[i + 1] / 1000 if i + 1 < total else torch.zeros_like(tau)
            x = (x.to(torch.float32) + (tau_next - tau) * v).to(dtype)
            x = torch.where(m.mask == 1.0, x, (1 - tau_next) * m.x_src + tau_next * m.z0)
        else:
            x = stepper.step(v, x)
        if callback is not None:
            callback(i + 1, total, x)
    return x
