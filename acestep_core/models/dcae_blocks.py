"""diffusers' DCAE blocks with their elementwise steps in place: the same numbers, fewer memory passes.

The music DCAE's convolutions run at this CPU's GEMM peak; what else its decoder spends (~8 % of
it) is elementwise work over whole activations (RMSNorm's four passes, SiLU, residual sums, the
upsampler's repeat → pixel-shuffle → add shortcut), each writing a fresh tensor of 100+ MB on long
songs. Done in place on the tensors that were just made, the arithmetic is the same operation by
operation, so the output is bit-identical (tests/core/test_dcae_blocks.py compares with diffusers'
own forwards). Each forward keeps diffusers' code for the configurations it does not cover.

One step changes the arithmetic: ``SubPixelDCUpBlock2d`` runs the decoder's upsample-then-3x3-conv
as a 2x2 convolution of the input per output phase (2.25x fewer multiplies, the same function up
to float rounding); ``use_sub_pixel_upsampling(model, False)`` restores the bit-identical form.
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
        return _add_shortcut_(self.conv(x), hidden_states, f)


def _tiles(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``[B, C, f·H, f·W]`` as the view ``[B, C, H, i, W, j]`` of output pixel ``(f·p + i, f·q + j)``."""
    return x.unflatten(2, (-1, factor)).unflatten(4, (-1, factor))


def _add_shortcut_(x: torch.Tensor, hidden_states: torch.Tensor, factor: int) -> torch.Tensor:
    """``x += pixel_shuffle(repeat_interleave(hidden_states, factor))`` as a broadcast view, in place."""
    source = hidden_states.unflatten(1, (-1, factor)).permute(0, 1, 3, 2, 4)  # [B, C, H, i, W]
    _tiles(x, factor).add_(source.unsqueeze(-1))
    return x


# Which input rows (columns) a 3x3 kernel's taps read after a nearest x2 upsample, per output
# phase: for even outputs taps (-1 | 0, +1) read input offsets (-1 | 0); for odd ones (-1, 0 | +1)
# read (0 | +1). Row t of the 3x3 kernel adds into tap a of the phase's 2x2 kernel where this is 1.
_PHASE_TAPS = (((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0)))


def sub_pixel_kernels(weight: torch.Tensor) -> torch.Tensor:
    """3x3 kernels ``[O, I, 3, 3]`` → the 2x2 kernels ``[O·4, I, 2, 2]`` of the four output phases (o, i, j)."""
    taps = torch.tensor(_PHASE_TAPS, dtype=torch.float32, device=weight.device)  # [phase, 2, 3]
    k = torch.einsum("iak,jbl,ockl->oijcab", taps, taps, weight.float())
    return k.reshape(-1, weight.shape[1], 2, 2).to(weight.dtype)


class SubPixelDCUpBlock2d(InPlaceDCUpBlock2d):
    """Nearest x2 upsample → 3x3 conv as one 2x2 convolution of the input for all four output phases.

    Why: each output pixel of a 3x3 convolution over a nearest-upsampled image reads only 2x2
    distinct input pixels, so summing the kernel taps that read the same pixel gives the same
    function with 16 instead of 36 multiply-adds per input pixel and output channel, and without
    the 4x upsampled copy of the input (680 MB at the last stage of a 60 s song). Not bit-identical
    (sums in another order): closer to float64 than the upsample-then-convolve form (tests); 2x
    faster per layer at the music DCAE's two last stages on a CPU. ``use_sub_pixel_upsampling``
    switches back.
    """

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        plain_conv = (conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
                      and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")
        shortcut = self.shortcut and self.repeats == self.factor
        if not (self.interpolate and self.interpolation_mode == "nearest" and self.factor == 2 and plain_conv
                and shortcut):
            return super().forward(hidden_states)
        batch, _, height, width = hidden_states.shape
        channels = conv.out_channels
        bias = None if conv.bias is None else conv.bias.repeat_interleave(4)
        # phase (i, j) of output pixel (p, q) is [i:, j:] of a 2x2 convolution over the padded input
        phases = F.conv2d(F.pad(hidden_states, (1, 1, 1, 1)), sub_pixel_kernels(conv.weight), bias)
        phases = phases.unflatten(1, (channels, 2, 2))
        channels_last = hidden_states.is_contiguous(memory_format=torch.channels_last)
        x = torch.empty(batch, channels, 2 * height, 2 * width, dtype=phases.dtype, device=phases.device,
                        memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        tiles = _tiles(x, 2)
        for i in range(2):
            for j in range(2):
                tiles[:, :, :, i, :, j] = phases[:, :, i, j, i:i + height, j:j + width]
        return _add_shortcut_(x, hidden_states, 2)


def use_sub_pixel_upsampling(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Run ``model``'s (in-place) DCUpBlock2d modules as sub-pixel convolutions, or back (``enabled=False``)."""
    old, new = (InPlaceDCUpBlock2d, SubPixelDCUpBlock2d) if enabled else (SubPixelDCUpBlock2d, InPlaceDCUpBlock2d)
    for module in model.modules():
        if type(module) is old:
            module.__class__ = new
    return model


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
