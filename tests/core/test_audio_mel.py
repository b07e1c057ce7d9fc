"""Log-mel front end: §15 reference values, the checkpoint buffers, and the golden spectrograms."""
from __future__ import annotations

import math

import pytest
import torch

from acestep_core.audio.mel import LogMelSpectrogram, hann_window, hz_to_mel_slaney, mel_filterbank
from golden_utils import assert_close_rel, assert_close_rel_any_cpu, component_tol, load_golden


@pytest.fixture(scope="module")
def vocoder_sd(tiny_ckpt):
    from safetensors.torch import load_file

    return load_file(str(tiny_ckpt / "music_vocoder" / "diffusion_pytorch_model.safetensors"))


def test_filterbank_reference_values():
    fb = mel_filterbank(1025, 40, 16000, 128, 44100)
    assert fb.shape == (1025, 128) and fb.dtype == torch.float32
    assert fb.sum().item() == pytest.approx(5.9440131187438965, abs=1e-6)
    assert fb.max().item() == pytest.approx(0.03515500947833061, abs=1e-9)
    first = fb[:, 0].nonzero().flatten()
    last = fb[:, 127].nonzero().flatten()
    assert (first.min().item(), first.max().item()) == (2, 4)
    assert (last.min().item(), last.max().item()) == (701, 743)


def test_slaney_mel_scale():
    assert hz_to_mel_slaney(40) == pytest.approx(0.6, abs=1e-12)
    assert hz_to_mel_slaney(16000) == pytest.approx(55.32752062923329, abs=1e-12)
    assert hz_to_mel_slaney(1000) == pytest.approx(15.0, abs=1e-12)


def test_hann_window_reference_values():
    w = hann_window(2048)
    assert w[:3].tolist() == [0.0, 2.3543834686279297e-06, 9.417533874511719e-06]
    assert w.sum().item() == 1024.0


def test_computed_buffers_equal_the_checkpoint_buffers(vocoder_sd):
    # Bitwise on the CPU that made the fixtures. float32 exp is vectorised differently on AVX-512: the
    # band edges in Hz move by an ulp there, which moves the filterbank by up to 7.3e-8 (2e-6 of its max).
    stored = vocoder_sd["mel_transform.mel_scale.fb"]
    assert torch.allclose(mel_filterbank(), stored, rtol=0, atol=4e-6 * stored.max().item())
    assert torch.equal(hann_window(), vocoder_sd["mel_transform.spectrogram.window"])


def test_persistent_buffers_are_exactly_window_and_fb():
    assert set(LogMelSpectrogram().state_dict()) == {"spectrogram.window", "mel_scale.fb"}


def test_missing_buffers_keep_the_computed_values():
    lm = LogMelSpectrogram()
    before = lm.mel_scale.fb.clone()
    lm.load_state_dict({}, strict=True)
    assert torch.equal(lm.mel_scale.fb, before)


def test_stored_buffers_are_used():
    lm = LogMelSpectrogram()
    fb = torch.rand(1025, 128)
    lm.load_state_dict({"mel_scale.fb": fb}, strict=True)
    assert torch.equal(lm.mel_scale.fb, fb)
    assert torch.equal(lm.spectrogram.window, hann_window())


def _sine(n: int = 16384) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / 44100
    x = (0.5 * torch.sin(2 * math.pi * 440 * t)).float()
    return torch.stack([x, x])


def test_log_mel_of_a_440hz_sine():
    mel = LogMelSpectrogram()(_sine())
    assert mel.shape == (2, 128, 32)
    assert mel.max().item() == pytest.approx(2.274502992630005, abs=1e-5)
    assert mel.mean(dim=(0, 2)).argmax().item() == 13
    # The mean is dominated by near-silent bins, whose level moves ~1e-2 with the float rounding
    # of how the sine itself is generated (spec's recipe unknown; float64 here).
    assert mel.mean().item() == pytest.approx(-8.06041145324707, abs=0.02)


def test_frame_count_is_samples_over_hop():
    assert LogMelSpectrogram()(torch.zeros(2, 4096 * 3)).shape == (2, 128, 24)


def test_mono_batch_layout_is_squeezed():
    x = _sine(8192)[:1]
    lm = LogMelSpectrogram()
    assert torch.equal(lm(x[None]), lm(x))  # [B, 1, N] → [B, 128, T], as upstream


@pytest.fixture(scope="module")
def golden_dcae(golden_dir):
    from safetensors.torch import load_file

    tensors, _ = load_golden(golden_dir, "dcae")
    audio = load_file(str(golden_dir / "inputs" / "src_sines_44k.safetensors"))["waveform"]
    return tensors, audio


def _with_checkpoint_buffers(vocoder_sd) -> LogMelSpectrogram:
    lm = LogMelSpectrogram()
    prefix = "mel_transform."
    lm.load_state_dict({k[len(prefix) :]: v for k, v in vocoder_sd.items() if k.startswith(prefix)}, strict=True)
    return lm


def test_golden_log_mel(golden_dcae, golden_index, vocoder_sd):
    tensors, audio = golden_dcae
    lm = _with_checkpoint_buffers(vocoder_sd)
    ours, ours64 = lm(audio)[None], lm.double()(audio.double())[None]
    tol = component_tol(golden_index, "dcae", "log_mel_44k")
    assert_close_rel_any_cpu(ours, tensors["log_mel_44k"], ours64, tol, "log_mel_44k")


def test_golden_log_mel_from_the_golden_spectrogram(golden_dcae, golden_index, vocoder_sd):
    # Everything after the STFT (filterbank, clamp, log) on the golden linear spectrogram: no FFT
    # rounding involved, so the plain rule holds on any CPU.
    tensors, _ = golden_dcae
    lm = _with_checkpoint_buffers(vocoder_sd)
    ours = torch.log(torch.clamp(lm.mel_scale(tensors["linear_spec_44k"]), min=1e-5))[None]
    tol = component_tol(golden_index, "dcae", "log_mel_44k")
    assert_close_rel(ours, tensors["log_mel_44k"], tol, "log_mel_44k")


def test_golden_linear_spectrogram(golden_dcae, golden_index, vocoder_sd):
    tensors, audio = golden_dcae
    lm = _with_checkpoint_buffers(vocoder_sd)
    ours, ours64 = lm.spectrogram(audio), lm.double().spectrogram(audio.double())
    tol = component_tol(golden_index, "dcae", "linear_spec_44k")
    assert_close_rel_any_cpu(ours, tensors["linear_spec_44k"], ours64, tol, "linear_spec_44k")


def test_bf16_buffers_still_run():
    lm = LogMelSpectrogram(dtype=torch.bfloat16)
    assert lm.mel_scale.fb.dtype == torch.bfloat16
    out = lm(_sine().bfloat16())
    assert out.dtype == torch.bfloat16 and out.shape == (2, 128, 32)
    # bf16 input rounding lifts the near-silent bins; the tone itself must be where it was
    assert out.float().mean(dim=(0, 2)).argmax().item() == 13
    assert out.float().max().item() == pytest.approx(2.274502992630005, abs=0.05)
