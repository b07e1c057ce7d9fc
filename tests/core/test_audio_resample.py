"""The torchaudio-identical resampler: golden outputs, §15 kernel facts, lengths and caching."""
from __future__ import annotations

import math

import pytest
import torch

from acestep_core.audio.resample import resample, resample_kernel, resampled_length
from golden_utils import assert_close_rel, load_golden

CASES = {
    "audio_44k_to_48k": ("audio_44k", 44100, 48000),
    "audio_48k_to_44k": ("audio_48k", 48000, 44100),
    "noise_44k_to_48k": ("noise", 44100, 48000),
    "noise_48k_to_44k": ("noise", 48000, 44100),
}


@pytest.fixture(scope="module")
def golden(golden_dir):
    from safetensors.torch import load_file

    tensors, _ = load_golden(golden_dir, "resample")
    inputs = {"noise": tensors["noise"]}
    for name in ("audio_44k", "audio_48k"):
        rate = name.split("_")[1]
        inputs[name] = load_file(str(golden_dir / "inputs" / f"src_sines_{rate}.safetensors"))["waveform"]
    return tensors, inputs


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_golden(golden, golden_index, name):
    tensors, inputs = golden
    source, orig, new = CASES[name]
    ours = resample(inputs[source], orig, new)
    tol = golden_index["components"]["resample"]["per_tensor_tol"][name]
    if tol == "exact":
        assert torch.equal(ours, tensors[name]), f"{name} is not bit-identical"
    else:
        assert_close_rel(ours, tensors[name], float(tol), name)


def test_kernel_44k_to_48k_reference_values():
    kernel, width = resample_kernel(44100, 48000)
    assert kernel.shape == (160, 1, 161) and kernel.dtype == torch.float32
    assert width == 7
    assert kernel.sum().item() == pytest.approx(160.07467651367188, abs=1e-4)
    assert kernel[0].sum().item() == pytest.approx(1.0000386238098145, abs=1e-6)


def test_kernel_48k_to_44k_reference_values():
    kernel, width = resample_kernel(48000, 44100)
    assert kernel.shape == (147, 1, 174) and width == 7
    assert kernel.sum().item() == pytest.approx(147.068603515625, abs=1e-4)


def test_two_second_sine_length():
    t = torch.arange(2 * 44100, dtype=torch.float64) / 44100
    wave = torch.sin(2 * math.pi * 440 * t).float()
    out = resample(wave, 44100, 48000)
    assert out.shape == (96000,)
    # a band-limited tone survives resampling (away from the zero-padded edges)
    ref = torch.sin(2 * math.pi * 440 * torch.arange(96000, dtype=torch.float64) / 48000).float()
    assert (out[1000:-1000] - ref[1000:-1000]).abs().max() < 1e-3


def test_equal_rates_return_the_input_itself():
    wave = torch.randn(2, 100)
    assert resample(wave, 44100, 44100) is wave


def test_leading_dims_are_kept():
    wave = torch.randn(3, 2, 1000)
    out = resample(wave, 48000, 44100)
    assert out.shape == (3, 2, resampled_length(1000, 48000, 44100))
    assert torch.allclose(out[1, 0], resample(wave[1, 0], 48000, 44100), atol=1e-6)


@pytest.mark.parametrize("n", [1, 147, 1000, 10_579_968])
def test_length_is_ceil(n):
    assert resampled_length(n, 44100, 48000) == -(-n * 160 // 147)
    assert resampled_length(n, 48000, 44100) == -(-n * 147 // 160)
    assert resampled_length(n, 32000, 32000) == n


def test_kernel_computed_in_float32_differs_from_default():
    # Resample(..., dtype=float32) (upstream's overlapped decode) builds the kernel in float32,
    # the default builds it in float64 and rounds: close, but not the same numbers.
    default, _ = resample_kernel(44100, 48000)
    in_f32, _ = resample_kernel(44100, 48000, compute_dtype=torch.float32)
    assert not torch.equal(default, in_f32)
    assert (default - in_f32).abs().max() < 1e-5


def test_kernel_is_cached_per_dtype():
    a, _ = resample_kernel(44100, 48000)
    b, _ = resample_kernel(44100, 48000)
    c, _ = resample_kernel(44100, 48000, dtype=torch.float64)
    assert a is b
    assert c.dtype == torch.float64 and torch.equal(c.float(), a)


def test_kernel_takes_the_wave_dtype():
    wave = torch.randn(1, 500, dtype=torch.float64)
    out = resample(wave, 44100, 48000)
    assert out.dtype == torch.float64
    assert_close_rel(out, resample(wave.float(), 44100, 48000), 1e-5)


def test_rejects_bad_input():
    with pytest.raises(TypeError):
        resample(torch.ones(10, dtype=torch.int32), 44100, 48000)
    with pytest.raises(ValueError):
        resample(torch.ones(10), 44100.5, 48000)
