"""The DiT's branches of one generation: its velocity under each condition variant (spec §8.1, §8.6).

`build_contexts` encodes the variants (conditional, unconditional "null", text-only "no_lyric");
a `BranchEvaluator` runs the transformer on a latent under any of them and returns the velocities.
It owns everything model-side of guidance: the prepared cross-attention K/V, the latent mask,
ERG-diffusion's query scaling of the unconditional branch, and the choice to run several branches
as one batched call. The guided denoiser (`sampling.denoiser`) only combines what it returns.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import torch
from torch import nn

from .conditioning import Contexts, erg_diffusion_paths, scaled_queries
from .models.transformer import CrossContext

BRANCHES = ("cond", "no_lyric", "null")


class BranchEvaluator:
    """`evaluate(x, t, ("cond", "null"))` → (v_cond, v_null): one DiT call per branch, or one for all.

    `batched=True` (opt-in) stacks the branches on the batch axis and runs one call: fewer, larger
    GEMMs, but matrix products of another size may round differently, so it is not the parity mode.
    Each branch's cross-attention K/V are projected once per generation, on first use.
    """

    def __init__(self, transformer: nn.Module, contexts: Contexts, *, frames: int, batch_size: int,
                 erg_diffusion: bool, batched: bool = False):
        self.transformer = transformer
        self.contexts = contexts
        self.erg_diffusion = erg_diffusion
        self.batched = batched
        param = next(transformer.parameters())
        # The latent attention mask is ones in the pipeline dtype in every upstream call.
        self.attention_mask = torch.ones(batch_size, frames, device=param.device, dtype=param.dtype)
        self._prepared: dict[str, CrossContext] = {}
        self._stacked: dict[tuple[str, ...], tuple[torch.Tensor, CrossContext]] = {}

    def prepared(self, name: str) -> CrossContext:
        """The branch's context with every block's cross-attention K/V projected (made once)."""
        if name not in self._prepared:
            states = getattr(self.contexts, name)
            if states is None:
                raise ValueError(f"the {name!r} context was not built for this generation (build_contexts)")
            self._prepared[name] = self.transformer.prepare_context(states, self.contexts.mask)
        return self._prepared[name]

    def release_stacked(self) -> None:
        """Drop the stacked contexts of batched calls (their memory) once no more guided steps come."""
        self._stacked.clear()

    def _queries_scaled(self, rows: slice = slice(None)) -> contextlib.AbstractContextManager:
        """ERG-diffusion: the unconditional branch runs with scaled self/cross-attention queries."""
        if not self.erg_diffusion:
            return contextlib.nullcontext()
        return scaled_queries(self.transformer, erg_diffusion_paths(), rows=rows)

    def _decode(self, x: torch.Tensor, t: torch.Tensor, mask: torch.Tensor, context: CrossContext) -> torch.Tensor:
        return self.transformer.decode(x, mask, timestep=t.expand(x.shape[0]), output_length=x.shape[-1],
                                       context=context)

    def _one(self, x: torch.Tensor, t: torch.Tensor, name: str) -> torch.Tensor:
        scaled = self._queries_scaled() if name == "null" else contextlib.nullcontext()
        with scaled:
            return self._decode(x, t, self.attention_mask, self.prepared(name))

    def _stack(self, names: tuple[str, ...]) -> tuple[torch.Tensor, CrossContext]:
        if names not in self._stacked:
            context = CrossContext.concat([self.prepared(n) for n in names])
            self._stacked[names] = (self.attention_mask.repeat(len(names), 1), context)
        return self._stacked[names]

    def _all_at_once(self, x: torch.Tensor, t: torch.Tensor, names: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
        mask, context = self._stack(names)
        b = x.shape[0]
        xx = x.repeat(len(names), *([1] * (x.ndim - 1)))
        scaled = contextlib.nullcontext()
        if "null" in names:
            k = names.index("null")
            scaled = self._queries_scaled(rows=slice(k * b, (k + 1) * b))
        with scaled:
            v = self._decode(xx, t, mask, context)
        return tuple(v.split(b))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor, names: Sequence[str]) -> tuple[torch.Tensor, ...]:
        names = tuple(names)
        unknown = set(names) - set(BRANCHES)
        if unknown:
            raise ValueError(f"unknown branch {sorted(unknown)}; the branches are {', '.join(BRANCHES)}")
        if self.batched and len(names) > 1:
            return self._all_at_once(x, t, names)
        return tuple(self._one(x, t, n) for n in names)
