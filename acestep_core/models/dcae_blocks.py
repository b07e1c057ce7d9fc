"""diffusers' DCAE blocks with their elementwise steps in place: the same numbers, fewer memory passes.

The music DCAE's convolutions run at this CPU's GEMM peak; what else its decoder spends (~8 % of
it) is elementwise work over whole activations (RMSNorm's four passes, SiLU, residual sums, the
upsampler's repeat → pixel-shuffle → add shortcut), each writing a fresh tensor of 100+ MB on long
songs. Done in place on the tensors that were just made, the arithmetic is the same operation by
operation, so the output is bit-identical (tests/core/test_dcae_blocks.py compares with diffusers'
own forwards). Each forward keeps diffusers' code for the configurations it does not cover.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.autoencoders import autoencoder_dc
from diffusers.models.normalization import RMSNorm
from torch import nn


class InPlaceRMSNorm(RMSNorm):
    """``x · rsqrt(mean(x²) + eps) · weight + bias``, the last three steps on one fresh tensor (float32)."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        weight_ok = self.weight is None or self.weight.dtype == torch.float32
        if hidden_states.dtype != torch.float32 or not weight_ok:
            return super().forward(hidden_states)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        out = hidden_states * torch.rsqrt(variance.add_(self.eps))
        if self.weight is not None:
            out.mul_(self.weight)
            if self.bias is not None:
                out.add_(self.bias)
        return out


class InPlaceResBlock(autoencoder_dc.ResBlock):
    """``x + norm(conv2(SiLU(conv1(x))))`` with the SiLU and the residual sum in place."""

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.norm_type != "rms_norm" or not isinstance(self.nonlinearity, nn.SiLU):
            return super().forward(hidden_states)
        x = F.silu(self.conv1(hidden_states), inplace=True)
        x = self.conv2(x)
        x = self.norm(x.movedim(1, -1)).movedim(-1, 1)
        return x.add_(hidden_states)


class InPlaceDCUpBlock2d(autoencoder_dc.DCUpBlock2d):
    """Nearest ×2 upsample → conv, plus the channel-to-space shortcut added in place as a broadcast view.

    diffusers builds the shortcut as ``pixel_shuffle(repeat_interleave(x, r))``; for r = factor (each
    stage halves the channels) output pixel ``(f·p + i, f·q + j)`` of channel ``c`` is input channel
    ``f·c + i`` at ``(p, q)`` for every ``j``: a strided view, no copies.
    """

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        f = self.factor
        if not (self.interpolate and self.shortcut and self.repeats == f):
            return super().forward(hidden_states)
        x = F.interpolate(hidden_states, scale_factor=f, mode=self.interpolation_mode)
        x = self.conv(x)
        _, _, height, width = hidden_states.shape
        tiles = x.unflatten(2, (height, f)).unflatten(4, (width, f))  # [B, C, H, i, W, j], a view of x
        source = hidden_states.unflatten(1, (-1, f)).permute(0, 1, 3, 2, 4)  # [B, C, H, i, W]
        tiles.add_(source.unsqueeze(-1))
        return x


_IN_PLACE: dict[type, type] = {
    RMSNorm: InPlaceRMSNorm,
    autoencoder_dc.ResBlock: InPlaceResBlock,
    autoencoder_dc.DCUpBlock2d: InPlaceDCUpBlock2d,
}


def use_in_place_blocks(model: nn.Module) -> nn.Module:
    """Switch ``model``'s diffusers RMSNorm / ResBlock / DCUpBlock2d modules to the in-place forwards.

    Only the class changes (each subclass adds no state), so parameters, state-dict keys and
    ``isinstance`` checks stay as they were. Exact types only: subclasses of them keep their own code.
    """
    for module in model.modules():
        faster = _IN_PLACE.get(type(module))
        if faster is not None:
            module.__class__ = faster
    return model
