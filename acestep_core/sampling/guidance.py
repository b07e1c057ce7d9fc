"""Classifier-free guidance variants of upstream ACE-Step v1 (spec §8; ``acestep/apg_guidance.py``).

Pure functions over the conditional / unconditional velocity predictions, plus the per-run APG
``MomentumBuffer`` and the guidance-interval arithmetic of the sampling loop (§8.1), written with the
same operation order as upstream so results match bit for bit in float32.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

__all__ = [
    "CFG_TYPES",
    "MomentumBuffer",
    "apg",
    "cfg",
    "cfg_star",
    "double_condition",
    "cfg_enabled",
    "guidance_interval_bounds",
    "guidance_scale_at",
    "guide",
]

CFG_TYPES: tuple[str, ...] = ("apg", "cfg", "cfg_star")


class MomentumBuffer:
    """APG's running average (§8.4): ``r ← Δ + momentum·r``, starting at 0; one per generation.

    Upstream creates it once per ``__call__`` and updates it at every APG evaluation (both Heun calls
    of a step included), so it must not be shared between runs.
    """

    def __init__(self, momentum: float = -0.75) -> None:
        self.momentum = momentum
        self.running_average: Union[torch.Tensor, float] = 0

    def update(self, update_value: torch.Tensor) -> None:
        """Fold one guidance difference into the running average (upstream's order of operations)."""
        new_average = self.momentum * self.running_average
        self.running_average = update_value + new_average


def _project(
    v0: torch.Tensor, v1: torch.Tensor, dims: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``v0`` into parts parallel / orthogonal to ``v1`` per (batch, channel) plane, in float64.

    Upstream does the projection in double and casts both parts back to the activation dtype.
    """
    dtype = v0.dtype
    v0d, v1d = v0.double(), v1.double()
    unit = F.normalize(v1d, dim=list(dims))
    parallel = (v0d * unit).sum(dim=list(dims), keepdim=True) * unit
    orthogonal = v0d - parallel
    return parallel.to(dtype), orthogonal.to(dtype)


def apg(
    cond: torch.Tensor,
    uncond: torch.Tensor,
    scale: float,
    momentum: Optional[MomentumBuffer] = None,
    *,
    eta: float = 0.0,
    norm_threshold: float = 2.5,
    dims: Sequence[int] = (-1, -2),
) -> torch.Tensor:
    """Adaptive projected guidance (upstream ``apg_forward``, §8.4; the default ``cfg_type``).

    Momentum-filtered difference, clipped to L2 norm ``norm_threshold`` per (batch, channel) over
    ``dims``, projected against ``cond`` in float64; only the orthogonal part is applied (``eta`` = 0).
    """
    diff = cond - uncond
    if momentum is not None:
        momentum.update(diff)
        diff = momentum.running_average
    if norm_threshold > 0:
        ones = torch.ones_like(diff)
        diff_norm = diff.norm(p=2, dim=list(dims), keepdim=True)
        scale_factor = torch.minimum(ones, norm_threshold / diff_norm)
        diff = diff * scale_factor
    diff_parallel, diff_orthogonal = _project(diff, cond, dims)
    normalized_update = diff_orthogonal + eta * diff_parallel
    return cond + (scale - 1) * normalized_update


def cfg(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Plain classifier-free guidance ``u + g·(c − u)`` (§8.3)."""
    return uncond + scale * (cond - uncond)


def cfg_star(
    cond: torch.Tensor,
    uncond: torch.Tensor,
    scale: float,
    step_index: int,
    *,
    zero_steps: int = 1,
    use_zero_init: bool = True,
) -> torch.Tensor:
    """CFG-zero-star (§8.5): per-item optimal scale α of the unconditional branch; zero output early.

    ``step_index`` is the global loop index ``i``; the zero-init fires for ``i ≤ zero_steps``, which only
    happens when the guidance interval reaches step 0 or 1 (upstream quirk, reproduced).
    """
    bsz = cond.shape[0]
    positive = cond.reshape(bsz, -1)
    negative = uncond.reshape(bsz, -1)
    dot = torch.sum(positive * negative, dim=1, keepdim=True)
    squared_norm = torch.sum(negative**2, dim=1, keepdim=True) + 1e-8
    alpha = (dot / squared_norm).view(bsz, *([1] * (cond.dim() - 1)))
    if step_index <= zero_steps and use_zero_init:
        return cond * 0.0
    return uncond * alpha + scale * (cond - uncond * alpha)


def double_condition(
    cond: torch.Tensor,
    uncond: torch.Tensor,
    text_only: torch.Tensor,
    scale_text: float,
    scale_lyric: float,
) -> torch.Tensor:
    """Text/lyric double guidance ``(1−g_t)·u + (g_t−g_l)·t + g_l·c`` (§8.3); raw scales, no decay."""
    return (1 - scale_text) * uncond + (scale_text - scale_lyric) * text_only + scale_lyric * cond


def cfg_enabled(guidance_scale: float) -> bool:
    """Upstream runs guidance unless the scale is exactly 0.0 or 1.0 (§8.1)."""
    return not (guidance_scale == 0.0 or guidance_scale == 1.0)


def guidance_interval_bounds(num_steps: int, interval: float) -> tuple[int, int]:
    """``(start, end)`` of the guided loop indices, Python float64 with ``int()`` truncation (§8.1, §14 item 7).

    ``num_steps`` is the count the schedule reports (N, also for Heun's 2N−1 iterations).
    """
    start = int(num_steps * ((1 - interval) / 2))
    end = int(num_steps * (interval / 2 + 0.5))
    return start, end


def guidance_scale_at(
    i: int, start: int, end: int, scale: float, min_scale: float, decay: float
) -> float:
    """The (possibly decayed) guidance scale at loop index ``i`` (§8.1; apg/cfg/cfg_star only).

    Linear from ``scale`` at ``start`` toward ``min_scale`` at ``end − 1``, weighted by ``decay``. When
    the interval holds a single step (``end − start − 1 == 0``) upstream divides by zero; we return
    ``scale`` unchanged (progress 0 at the interval's only step).
    """
    if decay > 0:
        denom = end - start - 1
        if denom == 0:
            return scale
        progress = (i - start) / denom
        return scale - (scale - min_scale) * progress * decay
    return scale


def guide(
    cfg_type: str,
    cond: torch.Tensor,
    uncond: torch.Tensor,
    scale: float,
    *,
    momentum: Optional[MomentumBuffer],
    step_index: int,
    zero_steps: int = 1,
    use_zero_init: bool = True,
) -> torch.Tensor:
    """Dispatch on ``cfg_type`` like the sampling loop (§8.2); unknown types raise instead of upstream's NameError."""
    if cfg_type == "apg":
        return apg(cond, uncond, scale, momentum)
    if cfg_type == "cfg":
        return cfg(cond, uncond, scale)
    if cfg_type == "cfg_star":
        return cfg_star(cond, uncond, scale, step_index, zero_steps=zero_steps, use_zero_init=use_zero_init)
    raise ValueError(f"unknown cfg_type {cfg_type!r}; expected one of {', '.join(CFG_TYPES)}")
