"""repaint and extend: regenerate a time range (or padded ends) while the rest follows the source.

Both are upstream's masked Euler update (spec §9.4–9.5): the masked part is denoised from noise
mixed at `retake_variance`; outside the mask the latent is reset every step to the source's
noisy path, so at the end it equals the source exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..audio.geometry import check_frames, frames_for_duration, seconds_for_frames
from ..sampling.noise import randn_tensor
from ..settings import SamplerSettings
from .plan import Draws, LoopPlan
from .text2music import base_schedule, initial_noise, retake_mix


def _check_variance(variance: float) -> float:
    if not 0.0 <= float(variance) <= 1.0:
        raise ValueError(f"retake_variance = {variance} is out of range; valid range is [0, 1]")
    return float(variance)


def _n_min(infer_steps: int, variance: float) -> int:
    """First step that runs: int(steps·(1 − variance)) with steps = infer_step or max(oss) (§9.4)."""
    return int(infer_steps * (1 - variance))


@dataclass
class MaskedStepper:
    """Upstream's masked plain-Euler update (spec §9.4–9.5), the stepper repaint and extend bring.

    Steps before `n_min` are skipped; at `n_min` the latent restarts from the source's noisy path.
    Each step is a plain Euler step (no omega, whatever the scheduler) inside the mask, and the
    source's noisy path at the next time outside it, so the unmasked frames end equal to the source.
    """

    x_src: torch.Tensor
    z0: torch.Tensor
    mask: torch.Tensor
    n_min: int

    def start(self, x: torch.Tensor, timesteps: torch.Tensor) -> tuple[int, torch.Tensor]:
        self._timesteps, self._dtype = timesteps, x.dtype
        if self.n_min >= len(timesteps):
            return self.n_min, x
        tau = timesteps[self.n_min] / 1000
        # Literally upstream's sum (spec §9.4): z_edit + ((1−τ)·x_src + τ·z0) − x_src.
        return self.n_min, self.x_src.clone() + ((1 - tau) * self.x_src + tau * self.z0) - self.x_src

    def advance(self, v: torch.Tensor, x: torch.Tensor, i: int) -> torch.Tensor:
        ts = self._timesteps
        tau = ts[i] / 1000
        tau_next = ts[i + 1] / 1000 if i + 1 < len(ts) else torch.zeros_like(tau)
        x = (x.to(torch.float32) + (tau_next - tau) * v).to(self._dtype)
        return torch.where(self.mask == 1.0, x, (1 - tau_next) * self.x_src + tau_next * self.z0)


@dataclass
class Repaint:
    """Regenerate [start, end) seconds of the source latents; variance is the repaint strength."""

    src_latents: torch.Tensor
    start: float
    end: float
    variance: float = 0.5
    name: str = "repaint"

    def frame_range(self) -> tuple[int, int]:
        total = int(self.src_latents.shape[-1])
        s, e = frames_for_duration(self.start), frames_for_duration(self.end)
        if self.start < 0:
            raise ValueError(f"repaint_start = {self.start} s is negative; use the extend task to add audio before")
        if e <= s:
            raise ValueError(
                f"repaint range [{self.start}, {self.end}] s is empty (frames {s}..{e}); repaint_end must exceed "
                "repaint_start by at least one latent frame (~0.093 s)")
        if s >= total:
            raise ValueError(f"repaint_start = {self.start} s is past the end of the source audio "
                             f"({seconds_for_frames(total):.2f} s)")
        return s, e

    def prepare(self, draws: Draws, settings: SamplerSettings, batch_size: int, dtype, device) -> LoopPlan:
        s, e = self.frame_range()
        total = int(self.src_latents.shape[-1])
        if e > total:
            # Upstream treats a range past the end as a right extension (§9.4 is_extend).
            return Extend(self.src_latents, float(self.start), float(self.end), self.variance).prepare(
                draws, settings, batch_size, dtype, device)
        variance = _check_variance(self.variance)
        schedule, infer_steps = base_schedule(settings, dtype)
        x = initial_noise(draws, batch_size, total, dtype, device)
        xr = randn_tensor((batch_size, 8, 16, total), draws.retake, dtype=dtype, device=device)
        src = self.src_latents.to(device=device, dtype=dtype)
        if e - s == total:
            # The range covers every frame: upstream degenerates to retake-style mixing (§9.4).
            return LoopPlan(schedule, retake_mix(x, xr, variance))
        mask = torch.zeros((batch_size, 8, 16, total), device=device, dtype=dtype)
        mask[..., s:e] = 1.0
        z0 = torch.where(mask == 1.0, retake_mix(x, xr, variance), x)
        return LoopPlan(schedule, x, MaskedStepper(src, z0, mask, _n_min(infer_steps, variance)),
                        info={"frames": (s, e)})


@dataclass
class Extend:
    """Add audio before (start < 0) and/or after (end > source length) the source, in seconds.

    `start = -left_seconds`, `end = source_seconds + right_seconds` as upstream's UI maps them.
    """

    src_latents: torch.Tensor
    start: float
    end: float
    variance: float = 1.0
    name: str = "extend"

    @classmethod
    def from_sides(cls, src_latents: torch.Tensor, left: float, right: float, variance: float = 1.0) -> "Extend":
        """Left/right seconds to add, with the source duration taken from its frame count."""
        if left < 0 or right < 0:
            raise ValueError(f"extend lengths must be >= 0 s, got left={left}, right={right}")
        duration = seconds_for_frames(int(src_latents.shape[-1]))
        return cls(src_latents, -float(left), duration + float(right), variance)

    def layout(self) -> tuple[int, int]:
        """Frames added on the left and on the right, with every limit checked (no noise drawn).

        The right side is measured against the left-padded source, as upstream does (§9.5 quirk).
        """
        t0 = int(self.src_latents.shape[-1])
        s, e = frames_for_duration(self.start), frames_for_duration(self.end)
        if s >= 0 and e <= t0:
            raise ValueError(
                f"extend range [{self.start}, {self.end}] s adds nothing to a {seconds_for_frames(t0):.2f} s source; "
                "set a negative start (extend left) or an end past the source (extend right)")
        left = -s if s < 0 else 0
        right = 0
        if e > t0:
            right = e - (t0 + left)
            if right <= 0:
                raise ValueError(
                    f"extend: with {-self.start} s added on the left, an end of {self.end} s adds nothing on the "
                    "right (the original measures the right side after left padding); raise repaint_end")
        for side, n in (("left", left), ("right", right)):
            if n > t0:
                raise ValueError(
                    f"extend {side} by {n} frames is longer than the source ({t0} frames, "
                    f"{seconds_for_frames(t0):.2f} s); extend in several steps of at most the source length")
        check_frames(t0 + left + right, "the extended song")
        return left, right

    def prepare(self, draws: Draws, settings: SamplerSettings, batch_size: int, dtype, device) -> LoopPlan:
        variance = _check_variance(self.variance)
        left, right = self.layout()
        t0 = int(self.src_latents.shape[-1])
        schedule, infer_steps = base_schedule(settings, dtype)
        x = initial_noise(draws, batch_size, t0, dtype, device)
        xr = randn_tensor((batch_size, 8, 16, t0), draws.retake, dtype=dtype, device=device)
        gt = torch.nn.functional.pad(self.src_latents.to(device=device, dtype=dtype), (left, right), "constant", 0)
        total = t0 + left + right
        mask = torch.zeros((batch_size, 8, 16, total), device=device, dtype=dtype)
        if left > 0:
            mask[..., :left] = 1.0
        if right > 0:
            mask[..., -right:] = 1.0
        parts = []
        if left > 0:
            parts.append(xr[..., :left])
        parts.append(x[..., 0:t0])
        if right > 0:
            parts.append(xr[..., -right:])
        z0 = torch.cat(parts, dim=-1)
        # Upstream's starting latent here is the concatenated noise itself (target_latents = z0).
        return LoopPlan(schedule, z0, MaskedStepper(gt, z0, mask, _n_min(infer_steps, variance)),
                        info={"left": left, "right": right})
