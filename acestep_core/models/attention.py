"""The DiT's two attentions (spec §5.6): linear ReLU self-attention and softmax cross-attention.

Both keep upstream's operation order so float32 results stay within the golden tolerances: the
linear attention forms ``(V ⊕ 1)·K`` first, then multiplies by Q, all in float32; the
cross-attention goes through torch SDPA with a 0/−inf float mask. Projections are submodules
called as ``module(x)`` so that ERG forward hooks and LoRA wrappers act on them.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .operations import Operations, TorchOps
from .rope import apply_rope

FP16_MAX = 65504.0


def _factory(device: torch.device | str | None, dtype: torch.dtype | None) -> dict:
    return {"device": device, "dtype": dtype}


class LinearSelfAttention(nn.Module):
    """Linear attention with a ReLU kernel and RoPE on q and k (upstream ``CustomLiteLAProcessor2_0``)."""

    def __init__(self, dim: int, heads: int, head_dim: int, eps: float = 1e-15,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        inner = heads * head_dim
        fk = _factory(device, dtype)
        self.heads, self.head_dim, self.eps = heads, head_dim, eps
        self.to_q = operations.Linear(dim, inner, bias=True, **fk)
        self.to_k = operations.Linear(dim, inner, bias=True, **fk)
        self.to_v = operations.Linear(dim, inner, bias=True, **fk)
        self.to_out = nn.ModuleList([operations.Linear(inner, dim, bias=True, **fk)])

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B,S,D]``, RoPE tables ``[S,hd]``, ``mask [B,S]`` (1 = keep) → ``[B,S,D]``."""
        b, s, _ = x.shape
        h, hd = self.heads, self.head_dim
        dtype = x.dtype
        # Upstream layouts: q and v as [B,H,hd,S], k as [B,H,S,hd].
        q = self.to_q(x).transpose(-1, -2).reshape(b, h, hd, s).transpose(-1, -2)
        k = self.to_k(x).transpose(-1, -2).reshape(b, h, hd, s).transpose(-1, -2)
        v = self.to_v(x).transpose(-1, -2).reshape(b, h, hd, s)
        q = apply_rope(q, cos, sin).transpose(-1, -2)
        k = apply_rope(k, cos, sin)
        if mask is not None:
            m = mask[:, None, :, None].to(k.dtype)
            q = q * m.transpose(-1, -2)
            k = k * m
            v = v * m.transpose(-1, -2)
        q, k = F.relu(q), F.relu(k)
        q, k, v = q.float(), k.float(), v.float()
        v = F.pad(v, (0, 0, 0, 1), mode="constant", value=1.0)  # constant-1 row → Σ k_j in the last row
        out = torch.matmul(torch.matmul(v, k), q)  # [B,H,hd+1,S]
        out = out[:, :, :-1] / (out[:, :, -1:] + self.eps)
        # contiguous: a transposed 3-D input sends the Linear to bmm with a copied, expanded weight
        out = out.view(b, h * hd, s).permute(0, 2, 1).to(dtype).contiguous()
        out = self.to_out[0](out)
        # Upstream clamps unconditionally (its fp16-autocast test is always true on torch ≥ 2).
        return out.clamp(-FP16_MAX, FP16_MAX)


class ContextKV(NamedTuple):
    """Cross-attention keys (RoPE applied) and values of one block, ``[B,H,L,hd]`` each."""

    key: torch.Tensor
    value: torch.Tensor


def cross_attention_bias(attention_mask: torch.Tensor, context_mask: torch.Tensor,
                         heads: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive SDPA mask ``[B,H,S,L]``: 0 where both positions are valid, −inf elsewhere.

    Built in float32 and cast to the query dtype, as upstream; the head axis is a broadcast view.
    """
    combined = attention_mask[:, :, None] * context_mask[:, None, :]
    bias = torch.where(combined == 1, 0.0, -torch.inf)
    return bias[:, None, :, :].expand(-1, heads, -1, -1).to(dtype)


class CrossAttention(nn.Module):
    """Softmax attention from the latent stream to the encoded context (upstream ``CustomerAttnProcessor2_0``).

    ``project_context`` is split out so a sampler can project the context once per generation and
    reuse it every step; the plain path calls the very same function.
    """

    def __init__(self, dim: int, context_dim: int, heads: int, head_dim: int,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        inner = heads * head_dim
        fk = _factory(device, dtype)
        self.heads, self.head_dim = heads, head_dim
        self.to_q = operations.Linear(dim, inner, bias=True, **fk)
        self.to_k = operations.Linear(context_dim, inner, bias=True, **fk)
        self.to_v = operations.Linear(context_dim, inner, bias=True, **fk)
        self.to_out = nn.ModuleList([operations.Linear(inner, dim, bias=True, **fk)])

    def project_context(self, context: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> ContextKV:
        """Keys/values of ``context [B,L,C]``; keys rotated with the context's own positions."""
        b = context.shape[0]
        k = self.to_k(context).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        v = self.to_v(context).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        return ContextKV(apply_rope(k, cos, sin), v)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kv: ContextKV, bias: torch.Tensor) -> torch.Tensor:
        """``x [B,S,D]`` (raw residual stream), latent RoPE tables, projected context, SDPA mask."""
        b = x.shape[0]
        q = self.to_q(x).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        q = apply_rope(q, cos, sin)
        out = F.scaled_dot_product_attention(q, kv.key, kv.value, attn_mask=bias, dropout_p=0.0,
                                             is_causal=False)
        out = out.transpose(1, 2).reshape(b, -1, self.heads * self.head_dim).to(q.dtype)
        return self.to_out[0](out)
