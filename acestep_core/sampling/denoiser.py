"""The guided velocity: DiT evaluations + guidance inside the guidance interval (spec §8.1–8.2).

A `GuidedDenoiser` is created per generation (it owns the APG momentum buffer) and called as
`v = denoiser(x, t, i)` by every task's loop, so all tasks share one definition of guidance.
"""
from __future__ import annotations

import torch
from torch import nn

from ..conditioning import Contexts, erg_diffusion_paths, scaled_queries
from ..settings import SamplerSettings
from .guidance import MomentumBuffer, double_condition, guidance_interval_bounds, guidance_scale_at, guide


class GuidedDenoiser:
    """Calls the DiT once (unguided) or 2–3 times (guided) per step, as upstream does, never batched."""

    def __init__(self, transformer: nn.Module, contexts: Contexts, settings: SamplerSettings, num_steps: int,
                 frames: int, batch_size: int):
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

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor, i: int) -> torch.Tensor:
        s = self.settings
        if not self.in_interval(i):
            return self.decode(x, t, "cond")
        v_c = self.decode(x, t, "cond")
        v_t = self.decode(x, t, "no_lyric") if self.double else None
        if s.use_erg_diffusion:
            with scaled_queries(self.transformer, erg_diffusion_paths()):
                v_u = self.decode(x, t, "null")
        else:
            v_u = self.decode(x, t, "null")
        if self.double:
            return double_condition(v_c, v_u, v_t, s.guidance_scale_text, s.guidance_scale_lyric)
        scale = guidance_scale_at(i, self.start, self.end, s.guidance_scale, s.min_guidance_scale,
                                  s.guidance_interval_decay)
        return guide(s.cfg_type, v_c, v_u, scale, momentum=self.momentum, step_index=i)
