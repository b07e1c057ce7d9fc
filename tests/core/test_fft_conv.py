"""The vocoder's overlap-save FFT convolutions equal the direct ones to float32 rounding."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from golden_utils import _rel_error
from acestep_core.models import fft_conv
from acestep_core.models.vocoder import MusicVocoder


@pytest.mark.parametrize(
    "batch, channels, out_ch, length, k, dilation, padded",
    [
        (1, 3, 5, 1, 11, 1, True),  # shorter than one block, shorter than the kernel
        (2, 4, 6, 17, 13, 5, True),  # dilated span (61) longer than the input
        (1, 8, 8, 300, 11, 3, True),
        (2, 16, 4, 1000, 13, 1, True),
        (1, 6, 7, 257, 13, 3, False),  # valid convolution: output shorter than input
        (1, 5, 5, 64, 3, 2, True),
    ],
)
@pytest.mark.parametrize("n", [32, 64, 128])
def test_fft_conv1d_equals_the_direct_convolution(batch, channels, out_ch, length, k, dilation, padded, n):
    if n < 2 * k:
        pytest.skip("block shorter than twice the kernel: block_size never picks it")
    gen = torch.Generator().manual_seed(length + k)
    x = torch.randn(batch, channels, length, generator=gen)
    w = torch.randn(out_ch, channels, k, generator=gen)
    b = torch.randn(out_ch, generator=gen)
    pad = (k - 1) * dilation // 2 if padded else 0
    if length + 2 * pad - (k - 1) * dilation < 1:
        pytest.skip("no output")
    ref = F.conv1d(x.double(), w.double(), b.double(), 1, pad, dilation)
    ours = fft_conv.fft_conv1d(x, fft_conv.kernel_spectrum(w, n), b, k, pad, dilation)
    assert ours.shape == ref.shape and ours.dtype == torch.float32
    assert _rel_error(ours, ref) < 5e-6
    no_bias = fft_conv.fft_conv1d(x, fft_conv.kernel_spectrum(w, n), None, k, pad, dilation)
    assert _rel_error(no_bias, ref - b.double()[:, None]) < 5e-6


def test_fft_conv1d_rejects_an_input_shorter_than_the_kernel():
    w = torch.randn(2, 2, 13)
    with pytest.raises(ValueError, match="shorter than the kernel"):
        fft_conv.fft_conv1d(torch.randn(1, 2, 12), fft_conv.kernel_spectrum(w, 64), None, 13, 0, 1)


def test_kernel_spectrum_is_the_conjugated_dft_in_channel_mixing_layout():
    w = torch.randn(5, 3, 7, dtype=torch.float64)
    spectrum = fft_conv.kernel_spectrum(w, 32)
    expected = torch.fft.rfft(w, n=32, dim=-1).conj().permute(2, 1, 0)  # [bins, in, out]
    assert spectrum.shape == (17, 3, 5) and spectrum.dtype == torch.complex64
    assert torch.allclose(spectrum.to(torch.complex128), expected, atol=1e-5)


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((512, 512, 13, 1), 64),
        ((1024, 512, 13, 1), 64),
        ((256, 256, 11, 1), 128),
        ((128, 128, 13, 1), 128),
        ((64, 64, 13, 1), None),  # too narrow
        ((512, 512, 7, 1), None),  # too short a kernel
        ((512, 512, 3, 1), None),
        ((512, 256, 13, 2), None),  # strided
    ],
)
def test_block_size_follows_the_rules_measured_on_avx512(shape, expected):
    assert fft_conv.block_size(*shape, rules=fft_conv.AVX512_RULES) == expected


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((512, 512, 7, 1), 64),  # k = 7 from 128 channels on
        ((256, 256, 7, 1), 128),
        ((128, 128, 7, 1), 128),
        ((64, 64, 7, 1), None),  # but not at 64
        ((64, 64, 11, 1), 128),  # where k = 11/13 still pay
        ((32, 32, 13, 1), None),
        ((512, 512, 3, 1), None),  # k = 3 never
        ((512, 256, 8, 4), None),  # strided
    ],
)
def test_block_size_follows_the_rules_measured_on_avx2(shape, expected):
    assert fft_conv.block_size(*shape, rules=fft_conv.AVX2_RULES) == expected


@pytest.mark.parametrize("capability, rules", [("AVX512", fft_conv.AVX512_RULES), ("AVX512_BF16", fft_conv.AVX512_RULES),
                                                ("AVX2", fft_conv.AVX2_RULES), ("DEFAULT", fft_conv.AVX2_RULES)])
def test_cpu_rules_follow_the_vector_width(monkeypatch, capability, rules):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert fft_conv.cpu_rules() == rules
    assert MusicVocoder(dims=(16, 16, 16, 16), num_mels=16, upsample_initial_channel=128).fft_rules == rules


def test_block_size_keeps_half_of_every_block_for_long_kernels():
    n = fft_conv.block_size(512, 512, 41, rules=fft_conv.AVX512_RULES)
    assert n is not None and n >= 2 * 41


# ----------------------------------------------------------------------------- in the vocoder


@pytest.fixture(scope="module")
def narrow_vocoder() -> MusicVocoder:
    """The released structure at small widths; its 16–128-channel k ≥ 11 convolutions run by FFT."""
    torch.manual_seed(0)
    vocoder = MusicVocoder(dims=(16, 16, 16, 16), num_mels=16, upsample_initial_channel=128)
    vocoder.fft_rules = ((16, 11),)
    return vocoder


def _spectral_convs(vocoder: MusicVocoder) -> list:
    return [conv for conv, _ in vocoder._fft_convs()]


def test_vocoder_spectral_equals_direct_and_really_runs_by_fft(narrow_vocoder):
    mel = torch.randn(2, 128, 40, generator=torch.Generator().manual_seed(1))
    convs = _spectral_convs(narrow_vocoder)
    assert len(convs) == 1 + 3 * 2 * 6  # conv_pre; 6 convs of the k = 11, 13 blocks of the 64/32/16-channel stages
    with torch.no_grad():
        direct = narrow_vocoder(mel)
        with narrow_vocoder.spectral():
            assert all(conv.fft_block and conv.spectrum is None for conv in convs)  # made on first use
            spectral = narrow_vocoder(mel)
            assert all(conv.spectrum is not None for conv in convs)
        assert all(conv.fft_block is None and conv.spectrum is None for conv in convs)  # freed on leaving
    assert not torch.equal(spectral, direct)  # another summation order: the FFT path ran
    assert _rel_error(spectral, direct) < 1e-5


def test_vocoder_spectral_nests_and_can_be_switched_off(narrow_vocoder, monkeypatch):
    mel = torch.randn(1, 128, 24, generator=torch.Generator().manual_seed(2))
    computed = []
    real = fft_conv.kernel_spectrum
    monkeypatch.setattr(fft_conv, "kernel_spectrum", lambda w, n: computed.append(n) or real(w, n))
    with torch.no_grad():
        with narrow_vocoder.spectral():
            outer = narrow_vocoder(mel)
            with narrow_vocoder.spectral():  # decode() nests one: the spectra are reused, not recomputed
                inner = narrow_vocoder.decode(mel)
            assert all(conv.spectrum is not None for conv in _spectral_convs(narrow_vocoder))
        assert torch.equal(outer, inner)
        assert len(computed) == len(_spectral_convs(narrow_vocoder))
        direct = narrow_vocoder(mel)
        narrow_vocoder.use_fft = False
        try:
            assert torch.equal(narrow_vocoder.decode(mel), direct)
        finally:
            narrow_vocoder.use_fft = True
    assert len(computed) == len(_spectral_convs(narrow_vocoder))


def test_vocoder_spectral_is_off_for_bfloat16_and_with_autograd(narrow_vocoder):
    import copy

    half = copy.deepcopy(narrow_vocoder).to(torch.bfloat16)
    with half.spectral():
        assert all(conv.fft_block is None for conv in _spectral_convs(half))
    mel = torch.randn(1, 128, 12, generator=torch.Generator().manual_seed(3))
    direct = narrow_vocoder(mel)  # autograd on: never the detached spectra
    with narrow_vocoder.spectral():
        assert torch.equal(narrow_vocoder(mel), direct)
