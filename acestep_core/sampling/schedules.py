"""Flow-matching timestep/sigma schedules exactly as upstream ACE-Step v1 builds them (spec §7.1–7.3, 7.8, 9.7).

Upstream constructs a fresh scheduler per generation and asks diffusers' ``retrieve_timesteps`` for its
timesteps. The numbers depend on a precise mix of numpy float64, numpy float32 and torch float32
arithmetic, so each builder below repeats that mix operation by operation rather than a simplified
formula: the shift is applied once at construction (float32), a second time in ``set_timesteps``
(float64) and, for custom sigmas / ``oss_steps``, a third time (float32) — spec §14 item 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Sequence, Union

import numpy as np
import torch

__all__ = [
    "SCHEDULER_KINDS",
    "NUM_TRAIN_TIMESTEPS",
    "Schedule",
    "scheduler_sigma_bounds",
    "flow_match_schedule",
    "custom_sigma_schedule",
    "oss_schedule",
    "parse_oss_steps",
    "audio2audio_schedule",
    "add_latents_noise",
    "omega_factor",
]

SchedulerKind = Literal["euler", "heun", "pingpong"]
SCHEDULER_KINDS: tuple[str, ...] = ("euler", "heun", "pingpong")
NUM_TRAIN_TIMESTEPS = 1000


@dataclass(frozen=True)
class Schedule:
    """What ``retrieve_timesteps`` leaves behind (spec §7.2/7.3).

    ``timesteps``: float32, fed to the transformer unscaled (N entries, 2N−1 for Heun).
    ``sigmas``: float32, one more entry than ``timesteps`` (the trailing 0).
    ``num_steps``: the count ``retrieve_timesteps`` *returns* — N even for Heun, whose loop runs 2N−1
    evaluations; the guidance interval is computed from this count (upstream quirk, §7.3).
    """

    timesteps: torch.Tensor
    sigmas: torch.Tensor
    num_steps: int

    def __len__(self) -> int:
        """Number of loop iterations (model evaluations) the schedule drives."""
        return int(self.timesteps.shape[0])


def _check_kind(kind: str) -> None:
    if kind not in SCHEDULER_KINDS:
        raise ValueError(f"unknown scheduler type {kind!r}; expected one of {', '.join(SCHEDULER_KINDS)}")


def scheduler_sigma_bounds(shift: float = 3.0, sigma_max: float = 1.0) -> tuple[float, float]:
    """(SIG_MAX, SIG_MIN) of a freshly constructed upstream scheduler (spec §7.1).

    The 1000 training timesteps are a numpy float32 linspace, reversed, divided and shifted in torch
    float32; the bounds are the ``.item()`` Python floats of its ends (sigma_max 1 → 1.0, 0.0029940…).
    """
    ts = np.linspace(1.0, sigma_max * NUM_TRAIN_TIMESTEPS, NUM_TRAIN_TIMESTEPS, dtype=np.float32)[::-1].copy()
    s = torch.from_numpy(ts).to(dtype=torch.float32) / NUM_TRAIN_TIMESTEPS
    s = shift * s / (1 + (shift - 1) * s)
    return s[0].item(), s[-1].item()


def _finish(kind: str, sigmas: torch.Tensor, num_steps: int) -> Schedule:
    """Timesteps = σ·1000 in float32, trailing 0 appended; Heun repeats every entry after the first (§7.3)."""
    timesteps = sigmas * NUM_TRAIN_TIMESTEPS
    sigmas = torch.cat([sigmas, torch.zeros(1, device=sigmas.device)])
    if kind == "heun":
        timesteps = torch.cat([timesteps[:1], timesteps[1:].repeat_interleave(2)])
        sigmas = torch.cat([sigmas[:1], sigmas[1:-1].repeat_interleave(2), sigmas[-1:]])
    return Schedule(timesteps=timesteps, sigmas=sigmas, num_steps=num_steps)


def flow_match_schedule(
    kind: SchedulerKind,
    num_steps: int,
    *,
    shift: float = 3.0,
    sigma_max: float = 1.0,
    device: Union[str, torch.device, None] = None,
) -> Schedule:
    """Upstream ``retrieve_timesteps(scheduler, num_steps)`` for a scheduler built with ``shift``/``sigma_max``.

    §7.2: a float64 linspace between the *already shifted* bounds (×1000), shifted again in float64,
    then float32. The double shift is how the model is used (last non-zero σ = 0.008928571…).
    """
    _check_kind(kind)
    if int(num_steps) != num_steps or num_steps < 0:
        raise ValueError(f"num_steps must be a non-negative integer, got {num_steps!r}")
    num_steps = int(num_steps)
    sig_max, sig_min = scheduler_sigma_bounds(shift, sigma_max)
    t = np.linspace(sig_max * NUM_TRAIN_TIMESTEPS, sig_min * NUM_TRAIN_TIMESTEPS, num_steps)
    s = t / NUM_TRAIN_TIMESTEPS
    s = shift * s / (1 + (shift - 1) * s)
    sigmas = torch.from_numpy(s).to(dtype=torch.float32, device=device)
    return _finish(kind, sigmas, num_steps)


def custom_sigma_schedule(
    sigmas: Union[Sequence[float], np.ndarray, torch.Tensor],
    *,
    kind: SchedulerKind = "euler",
    shift: float = 3.0,
    device: Union[str, torch.device, None] = None,
) -> Schedule:
    """``retrieve_timesteps(scheduler, sigmas=…)`` — what oss_steps feeds (§7.2, last paragraph).

    The given sigmas become a float32 array and are shifted once more in numpy float32. Upstream's Heun
    scheduler has no ``sigmas`` argument and diffusers raises deep inside the call; we refuse up front.
    """
    _check_kind(kind)
    if kind == "heun":
        raise ValueError(
            "the heun scheduler does not support custom sigmas / oss_steps (upstream refuses them too); "
            "use the euler or pingpong scheduler, or clear oss_steps"
        )
    if isinstance(sigmas, torch.Tensor):
        arr = sigmas.detach().to(dtype=torch.float32, device="cpu").numpy()
    else:
        arr = np.asarray(sigmas, dtype=np.float32)
    arr = np.ascontiguousarray(arr.reshape(-1), dtype=np.float32)
    if arr.size == 0:
        raise ValueError("custom sigmas must not be empty")
    shifted = shift * arr / (1 + (shift - 1) * arr)  # numpy: Python scalars are weak → stays float32
    out = torch.from_numpy(np.asarray(shifted, dtype=np.float32)).to(dtype=torch.float32, device=device)
    return _finish(kind, out, int(out.shape[0]))


def parse_oss_steps(oss_steps: Union[str, Iterable[int], None]) -> list[int]:
    """The ``oss_steps`` string/list as the 1-based step indices upstream uses (§7.8).

    Upstream does ``list(map(int, s.split(",")))`` for a non-empty string and ignores anything else
    (→ no oss). Where upstream would crash (non-integers) or silently index from the end of the
    schedule (0 or negative entries), raise a ValueError naming the bad entries. Order and duplicates
    are passed through unchanged, as upstream does.
    """
    if oss_steps is None:
        return []
    if isinstance(oss_steps, str):
        if len(oss_steps) == 0 or not oss_steps.strip():
            return []
        parts: list[object] = list(oss_steps.split(","))
    elif isinstance(oss_steps, (list, tuple)):
        parts = list(oss_steps)
    else:
        raise ValueError(f"oss_steps must be a comma-separated string or a list of ints, got {type(oss_steps).__name__}")
    steps: list[int] = []
    bad: list[str] = []
    for p in parts:
        if isinstance(p, bool):
            bad.append(repr(p))
            continue
        if isinstance(p, (int, np.integer)):
            val = int(p)
        elif isinstance(p, str):
            try:
                val = int(p)
            except ValueError:
                bad.append(repr(p))
                continue
        else:
            bad.append(repr(p))
            continue
        if val < 1:
            bad.append(repr(p))
            continue
        steps.append(val)
    if bad:
        raise ValueError(
            f"invalid oss_steps entries {', '.join(bad)}: oss_steps must be 1-based positive integers "
            f"separated by commas, e.g. '16, 29, 52, 96, 129, 158, 172, 183, 189, 200'"
        )
    return steps


def oss_schedule(
    oss_steps: Sequence[int],
    kind: SchedulerKind,
    dtype: torch.dtype = torch.float32,
    shift: float = 3.0,
    device: Union[str, torch.device, None] = None,
) -> tuple[Schedule, int]:
    """The "optimal steps" schedule of §7.8 and ``infer_steps = max(oss)``.

    Timesteps of a standard max(oss)-step schedule are picked at the 1-based indices, stored in a
    tensor of the *pipeline dtype* (bf16 rounds e.g. 997.2 → 996) and divided by 1000 in that dtype,
    then fed back as custom sigmas (shifted a third time). Heun raises, as upstream.
    """
    _check_kind(kind)
    if kind == "heun":
        raise ValueError(
            "oss_steps cannot be used with the heun scheduler (upstream refuses custom sigmas for heun); "
            "use euler or pingpong, or clear oss_steps"
        )
    steps = parse_oss_steps(list(oss_steps))
    if not steps:
        raise ValueError("oss_steps is empty")
    infer_steps = max(steps)
    full = flow_match_schedule(kind, infer_steps, shift=shift)
    picked = torch.zeros(len(steps), dtype=dtype)
    for idx, step in enumerate(steps):
        picked[idx] = full.timesteps[step - 1]
    sigmas = (picked / NUM_TRAIN_TIMESTEPS).float().cpu().numpy()
    return custom_sigma_schedule(sigmas, kind=kind, shift=shift, device=device), infer_steps


def audio2audio_schedule(
    kind: SchedulerKind,
    infer_steps: int,
    ref_audio_strength: float,
    shift: float = 3.0,
    device: Union[str, torch.device, None] = None,
) -> tuple[Schedule, float]:
    """Upstream ``add_latents_noise``'s scheduler (§9.7): σmax = 1 − strength, N' = int(σmax·steps).

    Returns the schedule (first σ = shift(shift(σmax)), quirk reproduced) and SIG_MAX = shift(σmax), the
    once-shifted float the reference latents are noised with. A strength so high that N' = 0 gives an
    empty schedule: upstream then returns the noised reference unchanged (the reference itself at
    strength 1), and so do we.
    """
    _check_kind(kind)
    strength = float(ref_audio_strength)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"ref_audio_strength must lie in [0, 1], got {ref_audio_strength!r}")
    sigma_max = 1 - ref_audio_strength
    steps = int(sigma_max * infer_steps)
    schedule = flow_match_schedule(kind, steps, shift=shift, sigma_max=sigma_max, device=device)
    sig_max, _ = scheduler_sigma_bounds(shift, sigma_max)
    return schedule, sig_max


def add_latents_noise(gt_latents: torch.Tensor, noise: torch.Tensor, sig_max: float) -> torch.Tensor:
    """``ref·(1 − SIG_MAX) + noise·SIG_MAX`` with the once-shifted SIG_MAX of ``audio2audio_schedule`` (§9.7)."""
    return gt_latents * (1 - sig_max) + noise * sig_max


def omega_factor(omega_scale: float) -> float:
    """Upstream's logistic map of ``omega_scale`` ("granularity") to ω' ∈ (0.9, 1.1), in float64 (§7.5).

    Written as upstream's ``L + (U − L)/(1 + exp(−k(x − x0)))`` with L=0.9, U=1.1, k=0.1, x0=0, so
    ω'(10) = 1.0462117157260011 and ω'(0) = 1.0 bit for bit.
    """
    low, high, k, x0 = 0.9, 1.1, 0.1, 0.0
    return float(low + (high - low) / (1 + np.exp(-k * (float(omega_scale) - x0))))
