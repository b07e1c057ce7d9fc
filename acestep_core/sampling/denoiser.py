"""The guided velocity: DiT evaluations + guidance inside the guidance interval (spec §8.1–8.2).

A `GuidedDenoiser` is created per generation (it owns the APG momentum buffer) and called as
`v = denoiser(x, t, i)` by every task's loop, so all tasks share one definition of guidance.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..conditioning import Contexts, erg_diffusion_paths, scaled_queries
from ..models.transformer import CrossContext
from ..settings import SamplerSettings
from .guidance import MomentumBuffer, double_condition, guidance_interval_bounds, guidance_scale_at, guide


class GuidedDenoiser:
    """Calls the DiT once (unguided) or 2–3 times (guided) per step, as upstream does.

    `batch_passes=True` (opt-in, off by default) runs the conditional, text-only and unconditional
    passes of a guided step as one batched DiT call instead: fewer, larger GEMMs and one pass of
    per-call overhead. The same operations on the same rows, but matrix products of another size may
    round differently, so it is not the parity mode (its measured error: bench/RESULTS.md).

    `cache_interval=k` (opt-in step caching, 1 = off) runs the unconditional and text-only passes
    only on every k-th guided evaluation. In between, each reuses its last difference to the
    conditional pass (v_u ≈ v_c − (v_c' − v_u')): the guidance direction changes slowly from step
    to step, the conditional prediction does not. Saves (k−1)/k of those passes; changes the song.
    """

    def __init__(self, transformer: nn.Module, contexts: Contexts, settings: SamplerSettings, num_steps: int,
                 frames: int, batch_size: int, *, batch_passes: bool = False, cache_interval: int = 1):
        self.transformer = transformer
        self.contexts = contexts
        self.settings = settings
        self.start, self.end = guidance_interval_bounds(num_steps, settings.guidance_interval)
        self.momentum = MomentumBuffer()
        param = next(transformer.parameters())
        # The latent attention mask is ones in the pipeline dtype in every upstream call.
        self.attention_mask = torch.ones(batch_size, frames, device=param.device, dtype=param.dtype)
        self.double = settings.cfg_enabled and settings.double_condition
        self._prepared = self._prepare_contexts()
        self.batch_passes = batch_passes
        self._batched: tuple | None = None
        self.cache_interval = int(cache_interval)
        if self.cache_interval < 1:
            raise ValueError(f"cache_interval = {cache_interval} must be a whole number >= 1 (1 = no step caching)")
        self._guided_calls = 0
        self._deltas: tuple | None = None  # (v_c − v_u, v_c − v_t or None) of the last full evaluation

    def _prepare_contexts(self) -> dict:
        """Cross-attention K/V of each context, computed once per generation when the model supports it."""
        prep = getattr(self.transformer, "prepare_context", None)
        if prep is None:
            return {}
        out = {}
        mask = self.contexts.mask
        out["cond"] = prep(self.contexts.cond, mask)
        if self.contexts.null is not None and self.settings.cfg_enabled:
            # ERG-diffusion scales cross_attn.to_q only (queries), so K/V of the null context are unaffected.
            out["null"] = prep(self.contexts.null, mask)
        if self.contexts.no_lyric is not None and self.double:
            out["no_lyric"] = prep(self.contexts.no_lyric, mask)
        return out

    def decode(self, x: torch.Tensor, t: torch.Tensor, which: str) -> torch.Tensor:
        ctx = {"cond": self.contexts.cond, "null": self.contexts.null, "no_lyric": self.contexts.no_lyric}[which]
        timestep = t.expand(x.shape[0])
        kwargs = {}
        if which in self._prepared:
            kwargs["context"] = self._prepared[which]
        return self.transformer.decode(x, self.attention_mask, ctx, self.contexts.mask, timestep,
                                       output_length=x.shape[-1], **kwargs)

    def in_interval(self, i: int) -> bool:
        return self.settings.cfg_enabled and self.start <= i < self.end

    def _erg_diffusion(self, rows: slice = slice(None)) -> contextlib.AbstractContextManager:
        """ERG-diffusion's query scaling for the unconditional pass (those rows of a batched one)."""
        if not self.settings.use_erg_diffusion:
            return contextlib.nullcontext()
        return scaled_queries(self.transformer, erg_diffusion_paths(), rows=rows)

    def _guided_passes(self, x: torch.Tensor, t: torch.Tensor) -> tuple:
        """v_cond, v_text_only (None unless double guidance) and v_uncond, one DiT call each."""
        v_c = self.decode(x, t, "cond")
        v_t = self.decode(x, t, "no_lyric") if self.double else None
        with self._erg_diffusion():
            v_u = self.decode(x, t, "null")
        return v_c, v_t, v_u

    def _batched_inputs(self) -> tuple:
        """The stacked prepared contexts and latent mask of a batched guided pass, built once."""
        if self._batched is None:
            names = ["cond", "no_lyric", "null"] if self.double else ["cond", "null"]
            context = CrossContext.concat([self._prepared[n] for n in names])
            self._batched = (len(names), self.attention_mask.repeat(len(names), 1), context)
        return self._batched

    def _guided_passes_batched(self, x: torch.Tensor, t: torch.Tensor) -> tuple:
        n, mask, context = self._batched_inputs()
        b = x.shape[0]
        xx = x.repeat(n, *([1] * (x.ndim - 1)))
        with self._erg_diffusion(rows=slice((n - 1) * b, None)):  # the unconditional rows come last
            v = self.transformer.decode(xx, mask, timestep=t.expand(xx.shape[0]), output_length=x.shape[-1],
                                        context=context)
        parts = v.split(b)
        return parts[0], (parts[1] if self.double else None), parts[-1]

    def _velocities(self, x: torch.Tensor, t: torch.Tensor) -> tuple:
        """The guided step's velocities: all passes, or the conditional one plus cached differences."""
        cached = self._deltas is not None and self._guided_calls % self.cache_interval != 0
        self._guided_calls += 1
        if cached:
            v_c = self.decode(x, t, "cond")
            d_u, d_t = self._deltas
            return v_c, (v_c - d_t if d_t is not None else None), v_c - d_u
        passes = self._guided_passes_batched if self.batch_passes else self._guided_passes
        v_c, v_t, v_u = passes(x, t)
        if self.cache_interval > 1:
            self._deltas = (v_c - v_u, v_c - v_t if v_t is not None else None)
        return v_c, v_t, v_u

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor, i: int) -> torch.Tensor:
        s = self.settings
        if not self.in_interval(i):
            if i >= self.end:
                self._batched = None  # the stacked context is not needed after the interval
            return self.decode(x, t, "cond")
        v_c, v_t, v_u = self._velocities(x, t)
        if self.double:
            return double_condition(v_c, v_u, v_t, s.guidance_scale_text, s.guidance_scale_lyric)
        scale = guidance_scale_at(i, self.start, self.end, s.guidance_scale, s.min_guidance_scale,
                                  s.guidance_interval_decay)
        return guide(s.cfg_type, v_c, v_u, scale, momentum=self.momentum, step_index=i)
