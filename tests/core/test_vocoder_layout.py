"""The vocoder's channels-last convolutions (its CPU default) equal the channels-first ones to float32 rounding."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from golden_utils import _rel_error, randn
from acestep_core.models.vocoder import (
    MusicVocoder,
    WeightNormConv1d,
    WeightNormConvTranspose1d,
    to_channels_last,
    is_channels_last,
)


def test_channels_last_keeps_values_and_shape_and_swaps_strides():
    x = randn(2, 5, 7)
    y = to_channels_last(x)
    assert y.shape == x.shape and torch.equal(y, x)
    assert y.stride() == (35, 1, 5)
    assert is_channels_last(y) and not is_channels_last(x)


@pytest.mark.parametrize("shape", [(2, 1, 9), (2, 6, 1), (6, 9)])
def test_is_channels_last_is_false_where_the_layouts_coincide(shape):
    # one channel or one sample: both layouts are the same memory, so the plain path serves
    x = torch.zeros(shape)
    assert not is_channels_last(x)
    if x.dim() == 3:
        assert not is_channels_last(to_channels_last(x))


@pytest.mark.parametrize(
    "in_ch, out_ch, k, dilation, length",
    [(8, 8, 3, 1, 500), (8, 8, 13, 5, 300), (16, 4, 7, 3, 64), (3, 5, 11, 1, 10), (2, 1, 13, 1, 90)],
)
def test_conv1d_on_channels_last_input_equals_channels_first(in_ch, out_ch, k, dilation, length):
    torch.manual_seed(0)
    conv = WeightNormConv1d(in_ch, out_ch, k, 1, (k * dilation - dilation) // 2, dilation)
    torch.nn.init.normal_(conv.bias)
    x = randn(2, in_ch, length)
    with torch.no_grad():
        ref = F.conv1d(x.double(), conv.weight().double(), conv.bias.double(), 1, conv.padding, dilation)
        plain, cl = conv(x), conv(to_channels_last(x))
    assert not is_channels_last(plain)
    assert cl.shape == ref.shape and (is_channels_last(cl) or out_ch == 1)
    # float32 rounding of a ≤ 104-term sum: ~1e-7 channels-last; oneDNN's AVX2 channels-first
    # kernel was measured at 1.1e-6 (8 channels, k = 3)
    assert _rel_error(cl, ref) < 2e-6 and _rel_error(plain, ref) < 2e-6


@pytest.mark.parametrize("in_ch, out_ch, k, stride, length", [(16, 8, 4, 2, 50), (32, 16, 8, 4, 21), (4, 2, 4, 2, 3)])
def test_conv_transpose1d_on_channels_last_input_equals_channels_first(in_ch, out_ch, k, stride, length):
    torch.manual_seed(0)
    conv = WeightNormConvTranspose1d(in_ch, out_ch, k, stride, (k - stride) // 2)
    torch.nn.init.normal_(conv.bias)
    x = randn(1, in_ch, length, seed=1)
    with torch.no_grad():
        ref = F.conv_transpose1d(x.double(), conv.weight().double(), conv.bias.double(), stride, conv.padding)
        cl = conv(to_channels_last(x))
    assert cl.shape == ref.shape == (1, out_ch, length * stride) and is_channels_last(cl)
    assert _rel_error(cl, ref) < 1e-6


@pytest.fixture(scope="module")
def vocoder() -> MusicVocoder:
    """The released structure at small widths: stages of 128 … 2 channels, k = 3/7/11/13 ResBlocks."""
    torch.manual_seed(0)
    return MusicVocoder(dims=(16, 16, 16, 16), num_mels=16, upsample_initial_channel=256)


def _head_input_layouts(vocoder: MusicVocoder, mel: torch.Tensor) -> dict[str, bool]:
    """Run the vocoder; return whether each head convolution got a channels-last input."""
    seen: dict[str, bool] = {}
    hooks = [
        module.register_forward_pre_hook(lambda m, args, name=name: seen.__setitem__(name, is_channels_last(args[0])))
        for name, module in vocoder.head.named_modules()
        if isinstance(module, (WeightNormConv1d, WeightNormConvTranspose1d))
    ]
    try:
        with torch.no_grad():
            vocoder(mel)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def test_head_runs_its_direct_convolutions_channels_last_on_a_cpu(vocoder):
    seen = _head_input_layouts(vocoder, randn(1, 128, 16, seed=2))
    assert len(seen) == 1 + 7 + 7 * 4 * 6 + 1  # conv_pre, upsamplers, ResBlock convolutions, conv_post
    assert seen.pop("conv_pre") is False  # the backbone's output, as it comes (by FFT in the released model)
    assert all(seen.values())
    vocoder.head.channels_last = False
    try:
        assert not any(_head_input_layouts(vocoder, randn(1, 128, 16, seed=2)).values())
    finally:
        vocoder.head.channels_last = True


def test_fft_convolutions_take_channels_first_inputs_the_rest_channels_last(vocoder):
    rules = vocoder.fft_rules
    vocoder.fft_rules = ((16, 11),)
    try:
        with vocoder.spectral():
            spectral = {conv for conv, _ in vocoder._fft_convs()}
            fft = {name for name, module in vocoder.head.named_modules() if module in spectral}
            seen = _head_input_layouts(vocoder, randn(1, 128, 16, seed=3))
    finally:
        vocoder.fft_rules = rules
    assert len(fft) == 1 + 4 * 2 * 6  # conv_pre; the k = 11/13 blocks of the 128-16-channel stages
    assert not any(seen[name] for name in fft)
    rest = [cl for name, cl in seen.items() if name not in fft]
    assert len(rest) == len(seen) - len(fft) and all(rest)


def test_vocoder_output_is_the_same_in_either_layout(vocoder):
    import copy

    mel = randn(2, 128, 40, seed=4)
    with torch.no_grad():
        cl = vocoder(mel)
        vocoder.head.channels_last = False
        try:
            plain = vocoder(mel)
        finally:
            vocoder.head.channels_last = True
        ref = copy.deepcopy(vocoder).double()(mel.double())
    assert cl.shape == plain.shape == (2, 1, 40 * 512) and cl.is_contiguous()
    assert _rel_error(cl, ref) < 1e-5 and _rel_error(plain, ref) < 1e-5


def test_bfloat16_vocoder_in_channels_last_is_as_close_to_float32_as_channels_first(vocoder):
    """Bit-identical on an AMX Xeon, a bf16 rounding apart on an AVX-512 EPYC (other oneDNN kernels)."""
    import copy

    half = copy.deepcopy(vocoder).to(torch.bfloat16)
    mel = randn(1, 128, 12, seed=5)
    with torch.no_grad():
        ref = vocoder.decode(mel)
        cl = half.decode(mel.bfloat16())
        half.head.channels_last = False
        plain = half.decode(mel.bfloat16())
    assert cl.dtype == torch.bfloat16
    assert _rel_error(cl.float(), ref) <= 1.25 * _rel_error(plain.float(), ref) < 0.2
    assert _rel_error(cl.float(), plain.float()) < 0.05
