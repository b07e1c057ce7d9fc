"""The guided velocity: guidance over the model's branches inside the guidance interval (spec §8.1–8.2).

A `GuidedDenoiser` is created per generation (it owns the APG momentum buffer) and called as
`v = denoiser(x, t, i)` by the sampling loop. It never touches the model: it asks a branch function
(`branches(x, t, ("cond", "null"))` → velocities, e.g. `acestep_core.branches.BranchEvaluator`)
for the velocities it needs and combines them, so every task shares one definition of guidance.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..settings import SamplerSettings
from .guidance import MomentumBuffer, double_condition, guidance_interval_bounds, guidance_scale_at, guide

BranchFn = Callable[[torch.Tensor, torch.Tensor, Sequence[str]], tuple[torch.Tensor, ...]]
"""branches(x, t, names) → one velocity per named branch ("cond", "no_lyric", "null")."""


class GuidedDenoiser:
    """The conditional velocity outside the guidance interval; 2–3 branches combined inside it.

    `cache_interval=k` (opt-in step caching, 1 = off) evaluates the unconditional and text-only
    branches only on every k-th guided evaluation. In between, each reuses its last difference to the
    conditional branch (v_u ≈ v_c − (v_c' − v_u')): the guidance direction changes slowly from step
    to step, the conditional prediction does not. Saves (k−1)/k of those passes; changes the song.

    `on_guidance_end` is called once, at the first step after the interval (e.g. to free what only
    guided steps need).
    """

    def __init__(self, branches: BranchFn, settings: SamplerSettings, num_steps: int, *, cache_interval: int = 1,
                 on_guidance_end: Callable[[], None] | None = None):
        self.branches = branches
        self.settings = settings
        self.start, self.end = guidance_interval_bounds(num_steps, settings.guidance_interval)
        self.momentum = MomentumBuffer()
        self.double = settings.cfg_enabled and settings.double_condition
        self.guided_branches = ("cond", "no_lyric", "null") if self.double else ("cond", "null")
        self.cache_interval = int(cache_interval)
        if self.cache_interval < 1:
            raise ValueError(f"cache_interval = {cache_interval} must be a whole number >= 1 (1 = no step caching)")
        self.on_guidance_end = on_guidance_end
        self._guided_calls = 0
        self._deltas: tuple | None = None  # (v_c − v_u, v_c − v_t or None) of the last full evaluation

    def in_interval(self, i: int) -> bool:
        return self.settings.cfg_enabled and self.start <= i < self.end

    def _velocities(self, x: torch.Tensor, t: torch.Tensor) -> tuple:
        """v_cond, v_text_only (None unless double guidance), v_uncond: evaluated, or from cached differences."""
        cached = self._deltas is not None and self._guided_calls % self.cache_interval != 0
        self._guided_calls += 1
        if cached:
            (v_c,) = self.branches(x, t, ("cond",))
            d_u, d_t = self._deltas
            return v_c, (v_c - d_t if d_t is not None else None), v_c - d_u
        vs = self.branches(x, t, self.guided_branches)
        v_c, v_u = vs[0], vs[-1]
        v_t = vs[1] if self.double else None
        if self.cache_interval > 1:
            self._deltas = (v_c - v_u, v_c - v_t if v_t is not None else None)
        return v_c, v_t, v_u

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor, i: int) -> torch.Tensor:
        s = self.settings
        if not self.in_interval(i):
            if i >= self.end and self.on_guidance_end is not None:
                self.on_guidance_end()
                self.on_guidance_end = None
            (v_c,) = self.branches(x, t, ("cond",))
            return v_c
        v_c, v_t, v_u = self._velocities(x, t)
        if self.double:
            return double_condition(v_c, v_u, v_t, s.guidance_scale_text, s.guidance_scale_lyric)
        scale = guidance_scale_at(i, self.start, self.end, s.guidance_scale, s.min_guidance_scale,
                                  s.guidance_interval_decay)
        return guide(s.cfg_type, v_c, v_u, scale, momentum=self.momentum, step_index=i)
