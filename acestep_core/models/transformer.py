"""``AceStepTransformer``: ACE-Step v1's diffusion transformer (spec §5) in plain torch.nn.

Parameter names equal the checkpoint's keys (Appendix A.1) so a state dict loads with
``strict=True`` once the training-only keys (``is_unused_transformer_key``) are dropped.
The sampler calls ``encode`` once per condition and ``decode`` per step; ``prepare_context``
lets it also project the cross-attention keys/values once per generation.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .attention import ContextKV, CrossAttention, LinearSelfAttention, cross_attention_bias
from .lyric_encoder import LyricConformer
from .operations import Operations, TorchOps
from .rope import RotaryTables

# The released ``ace_step_transformer/config.json`` (spec §2.1), minus ``_class_name``.
ACESTEP_V1_TRANSFORMER_CONFIG: dict[str, Any] = {
    "in_channels": 8,
    "num_layers": 24,
    "inner_dim": 2560,
    "attention_head_dim": 128,
    "num_attention_heads": 20,
    "mlp_ratio": 2.5,
    "out_channels": 8,
    "max_position": 32768,
    "rope_theta": 1000000.0,
    "speaker_embedding_dim": 512,
    "text_embedding_dim": 768,
    "ssl_encoder_depths": [8, 8],
    "ssl_names": ["mert", "m-hubert"],
    "ssl_latent_dims": [1024, 768],
    "patch_size": [16, 1],
    "max_height": 16,
    "max_width": 32768,
    "lyric_encoder_vocab_size": 6693,
    "lyric_hidden_size": 1024,
}

# Checkpoint keys that inference never reads (spec §5.7): REPA projector heads and the
# ``added_kv_proj_dim`` projections diffusers' Attention created in every cross-attention.
TRANSFORMER_UNUSED_KEY_PATTERNS: tuple[str, ...] = (
    r"^projectors\.",
    r"^transformer_blocks\.\d+\.cross_attn\.(add_q_proj|add_k_proj|add_v_proj|to_add_out)\.",
)
_UNUSED_RE = re.compile("|".join(TRANSFORMER_UNUSED_KEY_PATTERNS))


def is_unused_transformer_key(key: str) -> bool:
    """True for checkpoint keys of training-only modules, which this model does not create."""
    return _UNUSED_RE.search(key) is not None


def rms_norm_fp32(x: torch.Tensor, eps: float) -> torch.Tensor:
    """diffusers' weightless RMSNorm: statistics in float32, product cast back to x's dtype."""
    variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    return (x * torch.rsqrt(variance + eps)).to(x.dtype)


def timestep_sinusoid(timesteps: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """float32 ``[B, dim]`` features, cosine half first (diffusers ``Timesteps(flip_sin_to_cos=True, shift 0)``)."""
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float32, device=timesteps.device)
    freqs = torch.exp(exponent / half)
    args = timesteps[:, None].float() * freqs[None, :]
    return torch.cat((torch.cos(args), torch.sin(args)), dim=-1)


class TimestepEmbedding(nn.Module):
    """``linear_2(SiLU(linear_1(x)))`` (diffusers ``TimestepEmbedding`` key names)."""

    def __init__(self, in_channels: int, dim: int,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        self.linear_1 = operations.Linear(in_channels, dim, device=device, dtype=dtype)
        self.linear_2 = operations.Linear(dim, dim, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class PatchEmbed(nn.Module):
    """Conv (8→2048, kernel = patch) → GroupNorm(32) → 1×1 conv → tokens ``[B, T, D]``.

    The GroupNorm statistics span all frames, so every token depends on the whole latent.
    """

    def __init__(self, in_channels: int, dim: int, patch_size: Sequence[int],
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        hidden = in_channels * 256
        patch = tuple(patch_size)
        self.early_conv_layers = nn.Sequential(
            operations.Conv2d(in_channels, hidden, kernel_size=patch, stride=patch, padding=0, bias=True, **fk),
            operations.GroupNorm(num_groups=32, num_channels=hidden, eps=1e-6, affine=True, **fk),
            operations.Conv2d(hidden, dim, kernel_size=1, stride=1, padding=0, bias=True, **fk),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.early_conv_layers(latent).flatten(2).transpose(1, 2)


class ConvLayer(nn.Module):
    """Holds a Conv1d under the checkpoint's key ``.conv``; ``GLUMBConv`` applies its weights itself."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, groups: int = 1, bias: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        self.conv = operations.Conv1d(in_dim, out_dim, kernel_size, padding=kernel_size // 2, groups=groups,
                                      bias=bias, device=device, dtype=dtype)


class GLUMBConv(nn.Module):
    """Feed-forward along time: 1×1 expand + SiLU, depthwise k=3, value·SiLU(gate), 1×1 project."""

    def __init__(self, dim: int, hidden: int,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype, "operations": operations}
        self.inverted_conv = ConvLayer(dim, hidden * 2, 1, **fk)
        self.depth_conv = ConvLayer(hidden * 2, hidden * 2, 3, groups=hidden * 2, **fk)
        self.point_conv = ConvLayer(hidden, dim, 1, bias=False, **fk)
        self._linear = operations.linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Same weights and arithmetic as upstream's three Conv1d calls, in the token-major layout
        # ([B, T, C]) throughout, which changes only the order of the sums (a few 1e-6 of the RMS):
        # * the 1×1 convolutions are GEMMs (oneDNN ran them as channels-first convolutions at a third
        #   of the rate; operations.linear is the GEMM library the model was built with);
        # * the depthwise k=3 convolution reads [B, T, C] as a channels-last [B, C, 1, T] image,
        #   which oneDNN convolves in place (~15× faster than transposing to [B, C, T] and back).
        inv, dw, point = self.inverted_conv.conv, self.depth_conv.conv, self.point_conv.conv
        # SiLU in place: no second 12800-wide buffer
        h = F.silu(self._linear(x, inv.weight.squeeze(-1), inv.bias), inplace=True)
        h = F.conv2d(h.transpose(1, 2).unsqueeze(2), dw.weight.unsqueeze(2), dw.bias,
                     padding=(0, dw.padding[0]), groups=dw.groups).squeeze(2)
        h, gate = torch.chunk(h, 2, dim=1)
        # contiguous (a no-op for channels-last): a transposed 3-D input sends F.linear to bmm
        return self._linear((h * F.silu(gate)).transpose(1, 2).contiguous(), point.weight.squeeze(-1), point.bias)


class LinearTransformerBlock(nn.Module):
    """adaLN-single block: gated linear self-attention, ungated cross-attention, gated GLUMBConv."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp_ratio: float,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.attn = LinearSelfAttention(dim, heads, head_dim, **fk, operations=operations)
        self.cross_attn = CrossAttention(dim, dim, heads, head_dim, **fk, operations=operations)
        self.ff = GLUMBConv(dim, int(dim * mlp_ratio), **fk, operations=operations)
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim, **fk) / dim**0.5)

    def forward(self, h: torch.Tensor, temb: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None, kv: ContextKV, cross_bias: torch.Tensor) -> torch.Tensor:
        cos, sin = rope
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (
            self.scale_shift_table[None] + temb.reshape(h.shape[0], 6, -1)
        ).chunk(6, dim=1)
        a = rms_norm_fp32(h, 1e-6) * (1 + scale_msa) + shift_msa
        h = gate_msa * self.attn(a, cos, sin, attention_mask) + h
        h = self.cross_attn(h, cos, sin, kv, cross_bias) + h
        f = rms_norm_fp32(h, 1e-6) * (1 + scale_mlp) + shift_mlp
        return h + gate_mlp * self.ff(f)


class FinalLayer(nn.Module):
    """RMSNorm + (shift, scale) from the timestep embedding ``e`` + Linear, then unpatchify."""

    def __init__(self, dim: int, patch_size: Sequence[int], out_channels: int,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.patch_size = tuple(patch_size)
        self.out_channels = out_channels
        self.norm_final = operations.RMSNorm(dim, eps=1e-6, elementwise_affine=False, **fk)
        self.linear = operations.Linear(dim, self.patch_size[0] * self.patch_size[1] * out_channels, bias=True, **fk)
        self.scale_shift_table = nn.Parameter(torch.randn(2, dim, **fk) / dim**0.5)

    def forward(self, x: torch.Tensor, e: torch.Tensor, output_length: int) -> torch.Tensor:
        shift, scale = (self.scale_shift_table[None] + e[:, None]).chunk(2, dim=1)
        y = self.linear(self.norm_final(x) * (1 + scale) + shift)
        n, t = y.shape[:2]
        p, q = self.patch_size
        # y[n, t, (p, q, c)] → out[n, c, p, (t, q)]
        out = y.reshape(n, t, p, q, self.out_channels).permute(0, 4, 2, 1, 3)
        out = out.reshape(n, self.out_channels, p, t * q)
        width = out.shape[-1]
        if output_length > width:
            out = F.pad(out, (0, output_length - width))
        elif output_length < width:
            out = out[..., :output_length]
        return out.contiguous()


@dataclass
class CrossContext:
    """The encoded context of one generation with every block's cross-attention K/V projected.

    Valid for the weights at preparation time (re-prepare after loading/unloading a LoRA).
    Cost: 2 × num_layers × B × L × inner_dim values (real model, L ≈ 760: ~190 MB in bf16).
    The 0/−inf mask is cached per latent ``attention_mask`` tensor, so a sampler that passes the
    same mask every step builds it once.
    """

    states: torch.Tensor
    mask: torch.Tensor
    kv: list[ContextKV]
    _bias_key: tuple | None = field(default=None, repr=False)
    _bias_src: torch.Tensor | None = field(default=None, repr=False)
    _bias: torch.Tensor | None = field(default=None, repr=False)

    @classmethod
    def concat(cls, parts: Sequence["CrossContext"]) -> "CrossContext":
        """Several prepared contexts of one length stacked on the batch axis (one batched DiT pass)."""
        kv = [ContextKV(torch.cat([p.kv[i].key for p in parts]), torch.cat([p.kv[i].value for p in parts]))
              for i in range(len(parts[0].kv))]
        return cls(torch.cat([p.states for p in parts]), torch.cat([p.mask for p in parts]), kv)

    def bias(self, attention_mask: torch.Tensor, heads: int, dtype: torch.dtype) -> torch.Tensor:
        key = (attention_mask._version, tuple(attention_mask.shape), heads, dtype)
        if self._bias is None or self._bias_src is not attention_mask or self._bias_key != key:
            self._bias = cross_attention_bias(attention_mask, self.mask, heads, dtype)
            self._bias_src, self._bias_key = attention_mask, key
        return self._bias


class AceStepTransformer(nn.Module):
    """ACEStepTransformer2DModel for inference: ``encode`` → context, ``decode`` → velocity ``[B,8,16,T]``.

    Its torch layers come from ``operations`` (``models/operations.py``), the caller's choice.
    """

    def __init__(self, in_channels: int = 8, num_layers: int = 24, attention_head_dim: int = 128,
                 num_attention_heads: int = 20, mlp_ratio: float = 2.5, out_channels: int = 8,
                 max_position: int = 32768, rope_theta: float = 1000000.0, speaker_embedding_dim: int = 512,
                 text_embedding_dim: int = 768, lyric_encoder_vocab_size: int = 6693,
                 lyric_hidden_size: int = 1024, patch_size: Sequence[int] = (16, 1), max_height: int = 16,
                 *, dtype: torch.dtype | None = None, device: torch.device | str | None = None,
                 operations: Operations = TorchOps) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        ops = {"operations": operations}
        dim = num_attention_heads * attention_head_dim  # upstream recomputes inner_dim this way
        self.inner_dim, self.heads, self.head_dim = dim, num_attention_heads, attention_head_dim
        self.out_channels, self.patch_size, self.max_height = out_channels, tuple(patch_size), max_height
        self.rotary = RotaryTables(attention_head_dim, rope_theta, max_position)

        self.transformer_blocks = nn.ModuleList(
            LinearTransformerBlock(dim, num_attention_heads, attention_head_dim, mlp_ratio, **fk, **ops)
            for _ in range(num_layers)
        )
        self.timestep_embedder = TimestepEmbedding(256, dim, **fk, **ops)
        self.t_block = nn.Sequential(nn.SiLU(), operations.Linear(dim, 6 * dim, bias=True, **fk))
        self.speaker_embedder = operations.Linear(speaker_embedding_dim, dim, **fk)
        self.genre_embedder = operations.Linear(text_embedding_dim, dim, **fk)
        self.lyric_embs = operations.Embedding(lyric_encoder_vocab_size, lyric_hidden_size, **fk)
        # The Conformer's sizes are upstream constructor defaults, not config entries (spec §5.4).
        self.lyric_encoder = LyricConformer(input_size=lyric_hidden_size, **fk, **ops)
        self.lyric_proj = operations.Linear(lyric_hidden_size, dim, **fk)
        self.proj_in = PatchEmbed(in_channels, dim, patch_size, **fk, **ops)
        self.final_layer = FinalLayer(dim, patch_size, out_channels, **fk, **ops)

    _CONFIG_KEYS = ("in_channels", "num_layers", "attention_head_dim", "num_attention_heads", "mlp_ratio",
                    "out_channels", "max_position", "rope_theta", "speaker_embedding_dim",
                    "text_embedding_dim", "lyric_encoder_vocab_size", "lyric_hidden_size", "patch_size",
                    "max_height")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], dtype: torch.dtype | None = None,
                    device: torch.device | str | None = None,
                    operations: Operations = TorchOps) -> "AceStepTransformer":
        """Build from a ``config.json`` dict; training-only and bookkeeping entries are ignored.

        The model comes in eval mode (inference): ``.train()`` turns the lyric encoder's dropout on.
        """
        kwargs = {k: cfg[k] for k in cls._CONFIG_KEYS if k in cfg}
        return cls(**kwargs, dtype=dtype, device=device, operations=operations).eval()

    # ---- conditioning -------------------------------------------------------------------------
    def lyric_encoder_forward(self, lyric_token_idx: torch.Tensor, lyric_mask: torch.Tensor) -> torch.Tensor:
        """Lyric ids ``[B,L]`` → ``[B,L,D]`` (upstream ``forward_lyric_encoder``)."""
        return self.lyric_proj(self.lyric_encoder(self.lyric_embs(lyric_token_idx), lyric_mask))

    def encode(self, text_hidden_states: torch.Tensor, text_attention_mask: torch.Tensor,
               speaker_embeds: torch.Tensor, lyric_token_idx: torch.Tensor,
               lyric_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Context ``[speaker | text | lyrics]`` ``[B, 1+Lt+Ll, D]`` and its float32 mask."""
        b = text_hidden_states.shape[0]
        speaker = self.speaker_embedder(speaker_embeds).unsqueeze(1)
        text = self.genre_embedder(text_hidden_states)
        lyrics = self.lyric_encoder_forward(lyric_token_idx, lyric_mask)
        states = torch.cat((speaker, text, lyrics), dim=1)
        speaker_mask = torch.ones(b, 1, dtype=torch.float32, device=text_hidden_states.device)
        mask = torch.cat((speaker_mask, text_attention_mask, lyric_mask), dim=1)  # promotes to float32
        return states, mask

    def prepare_context(self, encoder_hidden_states: torch.Tensor, encoder_hidden_mask: torch.Tensor) -> CrossContext:
        """Project every block's cross-attention K/V of the context once (same ops as the plain path)."""
        cos, sin = self.rotary.get(encoder_hidden_states.shape[1], encoder_hidden_states.dtype,
                                   encoder_hidden_states.device)
        kv = [blk.cross_attn.project_context(encoder_hidden_states, cos, sin) for blk in self.transformer_blocks]
        return CrossContext(encoder_hidden_states, encoder_hidden_mask, kv)

    # ---- denoiser ----------------------------------------------------------------------------
    def _timesteps(self, timestep: torch.Tensor | float, batch: int, device: torch.device) -> torch.Tensor:
        t = torch.as_tensor(timestep, device=device)
        t = t.reshape(-1)
        return t.expand(batch) if t.numel() == 1 and batch != 1 else t

    def decode(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None,
               encoder_hidden_states: torch.Tensor | None = None,
               encoder_hidden_mask: torch.Tensor | None = None,
               timestep: torch.Tensor | float | None = None, output_length: int | None = None,
               context: CrossContext | None = None) -> torch.Tensor:
        """Velocity ``[B, C, 16, output_length]`` for latents ``[B, C, 16, T]`` at ``timestep``.

        Pass ``context=prepare_context(...)`` to reuse projected cross K/V instead of the raw
        ``encoder_hidden_states``/``encoder_hidden_mask``; the numbers are identical.
        """
        if timestep is None:
            raise ValueError("decode needs a timestep")
        if context is None:
            if encoder_hidden_states is None or encoder_hidden_mask is None:
                raise ValueError("decode needs encoder_hidden_states and encoder_hidden_mask, or a context")
            context = self.prepare_context(encoder_hidden_states, encoder_hidden_mask)
        b, dtype, device = hidden_states.shape[0], hidden_states.dtype, hidden_states.device
        if output_length is None:
            output_length = hidden_states.shape[-1]

        e = self.timestep_embedder(timestep_sinusoid(self._timesteps(timestep, b, device)).to(dtype))
        temb = self.t_block(e)
        h = self.proj_in(hidden_states)
        rope = self.rotary.get(h.shape[1], h.dtype, h.device)
        mask_for_bias = attention_mask
        if mask_for_bias is None:
            mask_for_bias = torch.ones(b, h.shape[1], dtype=torch.float32, device=device)
        bias = context.bias(mask_for_bias, self.heads, h.dtype)
        for block, kv in zip(self.transformer_blocks, context.kv):
            h = block(h, temb, rope, attention_mask, kv, bias)
        return self.final_layer(h, e, output_length)


# ---- config inference -------------------------------------------------------------------------
def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def infer_transformer_config(sd: Mapping[str, Any], num_attention_heads: int | None = None,
                             attention_head_dim: int | None = None) -> dict[str, Any]:
    """A ``config.json`` dict recovered from tensor shapes (``sd``: key → tensor or shape).

    Shapes fix every size except the head split of ``inner_dim``. Rule, unless a hint is given:
    ``attention_head_dim = min(128, inner_dim // 4)`` — ACE-Step's head width of 128 (the released
    model: 2560 = 20 × 128), capped so that narrow test models keep at least 4 heads (the golden
    tiny checkpoint: 64 = 4 × 16). Pass ``num_attention_heads`` or ``attention_head_dim`` for
    anything else. Keys may carry ComfyUI's ``model.diffusion_model.`` prefix.
    """
    prefix = "model.diffusion_model."
    if sd and all(k.startswith(prefix) for k in sd):
        sd = {k[len(prefix):]: v for k, v in sd.items()}
    conv0 = _shape(sd["proj_in.early_conv_layers.0.weight"])  # [in*256, in, p0, p1]
    dim = _shape(sd["timestep_embedder.linear_1.weight"])[0]
    patch = [conv0[2], conv0[3]]
    ff_hidden = _shape(sd["transformer_blocks.0.ff.point_conv.conv.weight"])[1]
    vocab, lyric_hidden = _shape(sd["lyric_embs.weight"])
    num_layers = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"transformer_blocks\.(\d+)\.", k)))

    if num_attention_heads is not None:
        head_dim = dim // num_attention_heads
    elif attention_head_dim is not None:
        head_dim = attention_head_dim
    else:
        head_dim = min(128, dim // 4)
    if head_dim <= 0 or dim % head_dim:
        raise ValueError(f"cannot split inner_dim {dim} into heads of {head_dim}; pass num_attention_heads")

    ssl_dims = [_shape(sd[f"projectors.{i}.4.weight"])[0] for i in range(2) if f"projectors.{i}.4.weight" in sd]
    cfg = dict(ACESTEP_V1_TRANSFORMER_CONFIG)
    cfg.update({
        "in_channels": conv0[1],
        "num_layers": num_layers,
        "inner_dim": dim,
        "attention_head_dim": head_dim,
        "num_attention_heads": dim // head_dim,
        "mlp_ratio": ff_hidden / dim,
        "out_channels": _shape(sd["final_layer.linear.weight"])[0] // (patch[0] * patch[1]),
        "speaker_embedding_dim": _shape(sd["speaker_embedder.weight"])[1],
        "text_embedding_dim": _shape(sd["genre_embedder.weight"])[1],
        "patch_size": patch,
        "lyric_encoder_vocab_size": vocab,
        "lyric_hidden_size": lyric_hidden,
    })
    if len(ssl_dims) == 2:
        cfg["ssl_latent_dims"] = ssl_dims
    return cfg
