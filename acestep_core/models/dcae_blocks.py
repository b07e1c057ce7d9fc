"""diffusers' DCAE blocks with their elementwise steps in place: the same numbers, fewer memory passes.

The music DCAE's convolutions run at this CPU's GEMM peak; what else its decoder spends (~8 % of
it) is elementwise work over whole activations (RMSNorm's four passes, SiLU, residual sums, the
upsampler's repeat → pixel-shuffle → add shortcut), each writing a fresh tensor of 100+ MB on long
songs. Done in place on the tensors that were just made, the arithmetic is the same operation by
operation, so the output is bit-identical (tests/core/test_dcae_blocks.py compares with diffusers'
own forwards). Each forward keeps diffusers' code for the configurations it does not cover.

diffusers builds its blocks itself and takes no layer set, so ``use_in_place_blocks`` builds ours
once, when the model is built (``dcae.build_autoencoder``), each holding the very parameters of the
block it replaces; nothing changes a module's class afterwards.

One step changes the arithmetic: ``InPlaceDCUpBlock2d`` runs the decoder's upsample-then-3x3-conv
as a 2x2 convolution of the input per output phase (2.25x fewer multiplies, the same function up
to float rounding) while its ``sub_pixel`` is set; ``use_sub_pixel_upsampling(model, False)``
restores the bit-identical form.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers.models.autoencoders import autoencoder_dc
from diffusers.models.normalization import RMSNorm
from torch import nn


def _rebuilt(block: nn.Module, cls: type[nn.Module], *args: Any) -> nn.Module:
    """``cls(*args)`` holding ``block``'s own parameters and buffers (built on meta: no copies, no init)."""
    with torch.device("meta"):
        new = cls(*args)
    new.load_state_dict(block.state_dict(keep_vars=True), strict=True, assign=True)
    return new.train(block.training)


class InPlaceRMSNorm(RMSNorm):
    """``x · rsqrt(mean(x²) + eps) · weight + bias``, the last three steps on one fresh tensor (float32)."""

    @classmethod
    def of(cls, norm: RMSNorm) -> InPlaceRMSNorm:
        """This norm holding ``norm``'s parameters."""
        return _rebuilt(norm, cls, norm.dim, norm.eps, norm.elementwise_affine, norm.bias is not None)

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

    @classmethod
    def of(cls, block: autoencoder_dc.ResBlock) -> InPlaceResBlock:
        """This block holding ``block``'s parameters and activation."""
        new = _rebuilt(block, cls, block.conv1.in_channels, block.conv2.out_channels, block.norm_type, None)
        new.nonlinearity = block.nonlinearity
        return new

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

    While ``sub_pixel`` is set, the upsample and the 3x3 convolution run as one 2x2 convolution of
    the input per output phase. Why: each output pixel of a 3x3 convolution over a
    nearest-upsampled image reads only 2x2 distinct input pixels, so summing the kernel taps that
    read the same pixel gives the same function with 16 instead of 36 multiply-adds per input pixel
    and output channel, and without the 4x upsampled copy of the input (680 MB at the last stage of
    a 60 s song). Not bit-identical (sums in another order): closer to float64 than the
    upsample-then-convolve form (tests); 2x faster per layer at the music DCAE's two last stages on
    a CPU. ``use_sub_pixel_upsampling`` switches it for a whole model.
    """

    sub_pixel = True
    """Run as sub-pixel convolutions where the block's form allows (False: bit-identical to diffusers)."""

    @classmethod
    def of(cls, block: autoencoder_dc.DCUpBlock2d, sub_pixel: bool = True) -> InPlaceDCUpBlock2d:
        """This block holding ``block``'s parameters."""
        conv = block.conv
        out_channels = conv.out_channels if block.interpolate else conv.out_channels // block.factor**2
        new = _rebuilt(block, cls, conv.in_channels, out_channels, block.interpolate, block.shortcut,
                       block.interpolation_mode)
        new.sub_pixel = sub_pixel
        return new

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        f = self.factor
        if not (self.interpolate and self.shortcut and self.repeats == f):
            return super().forward(hidden_states)
        if self.sub_pixel and self._sub_pixel_form():
            return self._sub_pixel_forward(hidden_states)
        x = F.interpolate(hidden_states, scale_factor=f, mode=self.interpolation_mode)
        return _add_shortcut_(self.conv(x), hidden_states, f)

    def _sub_pixel_form(self) -> bool:
        """Nearest x2 upsampling and a plain 3x3 convolution: what the phase kernels reproduce."""
        conv = self.conv
        plain_conv = (conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
                      and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")
        return self.interpolation_mode == "nearest" and self.factor == 2 and plain_conv

    def _sub_pixel_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        conv = self.conv
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


def use_sub_pixel_upsampling(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Run ``model``'s in-place upsamplers as sub-pixel convolutions, or not (``enabled=False``: bit-identical)."""
    for module in model.modules():
        if isinstance(module, InPlaceDCUpBlock2d):
            module.sub_pixel = enabled
    return model


_IN_PLACE: dict[type, type] = {
    RMSNorm: InPlaceRMSNorm,
    autoencoder_dc.ResBlock: InPlaceResBlock,
    autoencoder_dc.DCUpBlock2d: InPlaceDCUpBlock2d,
}


def use_in_place_blocks(model: nn.Module) -> nn.Module:
    """Replace the diffusers RMSNorm / ResBlock / DCUpBlock2d modules inside a newly built ``model`` by ours.

    Each is rebuilt as its in-place subclass around the same parameters, so state-dict keys and
    ``isinstance`` checks stay as they were. Exact types only: subclasses of them keep their own code.
    """
    for name, child in list(model.named_children()):
        faster = _IN_PLACE.get(type(child))
        if faster is not None:
            child = faster.of(child)
            setattr(model, name, child)
        use_in_place_blocks(child)  # after its own rebuild: a new ResBlock brings a stock RMSNorm
    return model
