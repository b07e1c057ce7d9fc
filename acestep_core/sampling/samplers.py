"""Scheduler step functions of upstream ACE-Step v1 (spec §7.4–7.7) and a per-run ``Stepper``.

Every step upcasts the sample to float32, does upstream's literal arithmetic (no algebraic
simplification: results must match seed for seed) and casts the result to the model output's dtype.
``sigma``/``sigma_next`` are the float32 0-dim entries of ``Schedule.sigmas`` — pass them as tensors,
not Python floats, or the differences are rounded differently. ``omega`` is the factor from
``schedules.omega_factor``, not the raw ``omega_scale``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import torch

from .schedules import SCHEDULER_KINDS, Schedule, omega_factor

__all__ = [
    "euler_step",
    "HeunState",
    "heun_step",
    "pingpong_step",
    "Stepper",
    "make_stepper",
]

Sigma = Union[torch.Tensor, float]


def _sig(value: Sigma) -> torch.Tensor:
    """Sigmas as float32 0-dim tensors, like upstream's ``self.sigmas[k]``."""
    if isinstance(value, torch.Tensor):
        return value
    return torch.tensor(value, dtype=torch.float32)


def _omega_update(sample: torch.Tensor, dx: torch.Tensor, omega: float) -> torch.Tensor:
    """``x + ((dx − m)·ω' + m)`` with m the mean over the WHOLE tensor, batch included (§7.5, §14 item 3/33)."""
    m = dx.mean()
    return sample + ((dx - m) * omega + m)


def euler_step(x: torch.Tensor, v: torch.Tensor, sigma: Sigma, sigma_next: Sigma, omega: float) -> torch.Tensor:
    """One flow-matching Euler step with upstream's omega rescaling of the update (§7.5)."""
    sample = x.to(torch.float32)
    dx = (_sig(sigma_next) - _sig(sigma)) * v  # in v's dtype (0-dim σ does not promote)
    return _omega_update(sample, dx, omega).to(v.dtype)


@dataclass
class HeunState:
    """Heun's half-step memory (upstream ``prev_derivative``, ``dt``, ``sample``); empty = first-order phase."""

    prev_derivative: Optional[torch.Tensor] = None
    dt: Optional[torch.Tensor] = None
    sample: Optional[torch.Tensor] = None

    @property
    def first_order(self) -> bool:
        """Upstream's ``state_in_first_order``: ``dt is None``."""
        return self.dt is None


def heun_step(
    x: torch.Tensor,
    v: torch.Tensor,
    sigma: Sigma,
    sigma_next: Sigma,
    omega: float,
    state: HeunState,
) -> torch.Tensor:
    """One call of upstream's Heun scheduler (§7.6); ``state`` is updated in place.

    First-order phase: ``sigma = sigmas[k]``, ``sigma_next = sigmas[k+1]``; stores (d, dt, x).
    Second-order phase: ``sigma = sigmas[k−1]`` (unused, as upstream with churn 0), ``sigma_next =
    sigmas[k]``; averages the derivatives and restarts from the stored sample. ``den``/``d`` are kept in
    upstream's literal form ``(x − (x − v·σ))/σ`` — it is not bit-equal to ``v``. γ = 0 (s_churn 0),
    so σ̂ = σ and no noise is drawn.
    """
    sample = x.to(torch.float32)
    sigma_t, sigma_next_t = _sig(sigma), _sig(sigma_next)
    if state.first_order:
        denoised = sample - v * sigma_t
        derivative = (sample - denoised) / sigma_t
        dt = sigma_next_t - sigma_t
        state.prev_derivative, state.dt, state.sample = derivative, dt, sample
    else:
        denoised = sample - v * sigma_next_t
        derivative = (sample - denoised) / sigma_next_t
        derivative = 0.5 * (state.prev_derivative + derivative)
        dt = state.dt
        sample = state.sample
        state.prev_derivative, state.dt, state.sample = None, None, None
    dx = derivative * dt
    return _omega_update(sample, dx, omega).to(v.dtype)


def pingpong_step(
    x: torch.Tensor,
    v: torch.Tensor,
    sigma: Sigma,
    sigma_next: Sigma,
    generator: Optional[torch.Generator],
) -> torch.Tensor:
    """One PingPong step (§7.7): denoise fully, then re-noise to ``sigma_next`` with fresh noise.

    The noise is ``empty_like(x_fp32).normal_(generator)`` — float32, full batch shape, drawn even at the
    last step (σn = 0) so the generator stream advances exactly as upstream's. ``omega`` is ignored
    upstream and therefore not taken. ``generator=None`` draws from torch's global RNG, as upstream would.
    """
    sample = x.to(torch.float32)
    sigma_t, sigma_next_t = _sig(sigma), _sig(sigma_next)
    denoised = sample - sigma_t * v
    noise = torch.empty_like(sample).normal_(generator=generator)
    prev_sample = (1 - sigma_next_t) * denoised + sigma_next_t * noise
    return prev_sample.to(v.dtype)


def _initial_index(timesteps: torch.Tensor, timestep: Union[torch.Tensor, float]) -> int:
    """Upstream ``index_for_timestep``: exact float match, the 2nd match if several (§7.4)."""
    indices = (timesteps == timestep).nonzero()
    if len(indices) == 0:
        raise ValueError(f"timestep {float(timestep)!r} is not in the schedule")
    pos = 1 if len(indices) > 1 else 0
    return int(indices[pos].item())


@dataclass
class Stepper:
    """Per-run scheduler state, advanced like upstream's ``scheduler.step`` (one object per generation).

    The index is found on the first call from the timestep (``timesteps[0]`` unless given — upstream's
    exact-match rule, which picks the 2nd occurrence when the first oss timestep is repeated) and then
    increments once per call; Heun alternates first/second-order calls through ``heun``.
    """

    kind: str
    schedule: Schedule
    omega: float
    generator: Optional[torch.Generator] = None
    index: Optional[int] = None
    heun: HeunState = field(default_factory=HeunState)

    def step(self, v: torch.Tensor, x: torch.Tensor, timestep: Union[torch.Tensor, float, None] = None) -> torch.Tensor:
        """Advance ``x`` by one scheduler call with model output ``v``; returns ``x'`` in ``v.dtype``."""
        sigmas = self.schedule.sigmas
        if self.index is None:
            t = self.schedule.timesteps[0] if timestep is None else timestep
            self.index = _initial_index(self.schedule.timesteps, t)
        k = self.index
        second_order = self.kind == "heun" and not self.heun.first_order
        if k >= len(self.schedule):
            raise ValueError(
                f"scheduler stepped past the end of its {len(self.schedule)}-call schedule (call index {k}); "
                "upstream fails here (IndexError, or NaN for heun), e.g. when the first oss_steps entry is repeated"
            )
        if self.kind == "euler":
            out = euler_step(x, v, sigmas[k], sigmas[k + 1], self.omega)
        elif self.kind == "heun":
            if second_order:
                out = heun_step(x, v, sigmas[k - 1], sigmas[k], self.omega, self.heun)
            else:
                out = heun_step(x, v, sigmas[k], sigmas[k + 1], self.omega, self.heun)
        else:
            out = pingpong_step(x, v, sigmas[k], sigmas[k + 1], self.generator)
        self.index = k + 1
        return out

    # The sampling loop's stepper protocol (sampling.loop.LoopStepper): every step runs, in order.
    def start(self, x: torch.Tensor, timesteps: torch.Tensor) -> tuple[int, torch.Tensor]:
        return 0, x

    def advance(self, v: torch.Tensor, x: torch.Tensor, i: int) -> torch.Tensor:
        return self.step(v, x)


def make_stepper(
    kind: str,
    schedule: Schedule,
    omega_scale: float = 10.0,
    generator: Optional[torch.Generator] = None,
) -> Stepper:
    """A fresh ``Stepper`` for one generation; ``generator`` is the first main seed generator (PingPong only).

    Upstream passes ``random_generators[0]`` to every ``step`` call; only PingPong draws from it.
    """
    if kind not in SCHEDULER_KINDS:
        raise ValueError(f"unknown scheduler type {kind!r}; expected one of {', '.join(SCHEDULER_KINDS)}")
    return Stepper(kind=kind, schedule=schedule, omega=omega_factor(omega_scale), generator=generator)
