"""MusicDCAE, AutoencoderDC and the vocoder: golden parity, key maps, config inference, decode modes."""
from __future__ import annotations

import contextlib
import copy
import json

import pytest
import torch
from torch import nn

from acestep_core.audio.geometry import (
    LATENT_SCALE,
    LATENT_SHIFT,
    frames_for_duration,
    frames_for_samples,
    samples_for_frames,
)
from acestep_core.models.dcae import (
    DEFAULT_DCAE_CONFIG,
    MusicDCAE,
    build_autoencoder,
    infer_dcae_config,
    latents_to_dcae,
    overlap_dcae_windows,
    plan_windows,
)
from acestep_core.models.vocoder import (
    DEFAULT_CONFIG as DEFAULT_VOCODER_CONFIG,
    MusicVocoder,
    convert_vocoder_state_dict,
    infer_vocoder_config,
)
from golden_utils import SHARED, assert_close_rel, assert_close_rel_any_cpu, load_golden

KEYS = SHARED / "spec" / "keys"

# ----------------------------------------------------------------------------- fixtures


def _read(path):
    return json.loads(path.read_text())


def _public(config: dict) -> dict:
    return {k: v for k, v in config.items() if not k.startswith("_")}


@pytest.fixture(scope="module")
def tiny_sds(tiny_ckpt):
    from safetensors.torch import load_file

    return {
        part: load_file(str(tiny_ckpt / part / "diffusion_pytorch_model.safetensors"))
        for part in ("music_dcae_f8c8", "music_vocoder")
    }


@pytest.fixture(scope="module")
def codec(tiny_ckpt, tiny_sds) -> MusicDCAE:
    """The tiny checkpoint's codec, built from its configs and loaded strictly, in float32."""
    dcae = build_autoencoder(_read(tiny_ckpt / "music_dcae_f8c8" / "config.json"))
    dcae.load_state_dict(tiny_sds["music_dcae_f8c8"], strict=True)
    vocoder = MusicVocoder.from_config(_read(tiny_ckpt / "music_vocoder" / "config.json"))
    vocoder.load_state_dict(convert_vocoder_state_dict(tiny_sds["music_vocoder"]), strict=True)
    return MusicDCAE(dcae, vocoder).float()


@pytest.fixture(scope="module")
def codec64(codec) -> MusicDCAE:
    """The same codec in float64: the reference for fixtures that carry their CPU's float32 rounding."""
    return copy.deepcopy(codec).double()


@pytest.fixture(scope="module")
def golden(golden_dir):
    from safetensors.torch import load_file

    tensors, _ = load_golden(golden_dir, "dcae")
    inputs = {
        sr: load_file(str(golden_dir / "inputs" / f"src_sines_{sr // 1000}k.safetensors"))["waveform"]
        for sr in (44100, 48000)
    }
    return tensors, inputs


def _check(golden_index, golden_tensors, name: str, ours: torch.Tensor, ours64: torch.Tensor | None = None) -> float:
    """Compare with the index.json tolerance of ``name``; returns the relative error.

    ``ours64``, the same computation in float64, is given for the tensors whose golden values depend
    on the CPU's FFT / convolution kernels (see ``assert_close_rel_any_cpu``).
    """
    tol = golden_index["components"]["dcae"]["per_tensor_tol"][name]
    ref = golden_tensors[name]
    if tol == "exact":
        assert ours.dtype == ref.dtype and torch.equal(ours.cpu(), ref), f"{name}: not exact"
        return 0.0
    if ours64 is not None:
        return assert_close_rel_any_cpu(ours, ref, ours64, float(tol), name)
    return assert_close_rel(ours, ref, float(tol), name)


# ----------------------------------------------------------------------------- golden: encode


@pytest.mark.parametrize("sr", [44100, 48000])
def test_golden_encode(codec, codec64, golden, golden_index, sr):
    tensors, inputs = golden
    tag = f"{sr // 1000}k"
    audio = inputs[sr][None]
    mel64 = codec64.audio_to_mel(audio.double(), sr)
    _check(golden_index, tensors, f"encoder_input_{tag}", codec.audio_to_mel(audio, sr), mel64)
    latents, lengths = codec.encode(audio, sr)
    with torch.no_grad():
        latents64, _ = codec64.encode(audio.double(), sr)
    _check(golden_index, tensors, f"latents_{tag}", latents, latents64)
    _check(golden_index, tensors, f"latent_lengths_{tag}", lengths)
    assert latents.shape[-1] == frames_for_samples(audio.shape[-1], sr)


def test_encode_rejects_mono(codec):
    with pytest.raises(ValueError, match="stereo"):
        codec.encode(torch.zeros(1, 1, 4096), 44100)


# ----------------------------------------------------------------------------- golden: decode


@pytest.fixture(scope="module")
def plain_44k(codec, golden):
    tensors, _ = golden
    calls = []
    wave = codec.decode(tensors["latents_44k"], None, on_chunk=lambda done, total: calls.append((done, total)))
    return wave, calls


def test_golden_decoder_mel(codec, golden, golden_index):
    tensors, _ = golden
    with torch.no_grad():
        mel = codec.dcae.decoder(latents_to_dcae(tensors["latents_44k"]))
    _check(golden_index, tensors, "decoder_mel_out", mel)


def test_golden_plain_decode_44k(plain_44k, golden, golden_index):
    tensors, _ = golden
    wave, calls = plain_44k
    assert wave.dtype == torch.float32 and wave.device.type == "cpu"
    _check(golden_index, tensors, "decode_wav_44k", wave[0])
    _check(golden_index, tensors, "vocoder_out_ch0", wave[:, :1])
    _check(golden_index, tensors, "vocoder_out_ch1", wave[:, 1:])
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_golden_plain_48k_output_step(plain_44k, golden, golden_index):
    # plain decode at 48 kHz = the 44.1 kHz decode resampled on the CPU in float32
    from acestep_core.audio.resample import resample

    tensors, _ = golden
    _check(golden_index, tensors, "decode_wav_48k", resample(plain_44k[0][0], 44100, 48000))


def test_golden_decode_48k_with_batched_channels(codec, golden, golden_index):
    # The stereo pair as one vocoder batch is not bit-identical to upstream's per-channel calls
    # (~1e-5 of the RMS on this checkpoint) but stays inside the golden tolerance.
    tensors, _ = golden
    wave = codec.decode(tensors["latents_44k"], 48000, batch_channels=True)
    _check(golden_index, tensors, "decode_wav_48k", wave[0])
    assert wave.shape[-1] == samples_for_frames(tensors["latents_44k"].shape[-1], 48000)


@pytest.mark.parametrize("channels_last", [True, False])  # the CPU default, and the layout of other devices
def test_golden_vocoder_direct(tiny_ckpt, tiny_sds, codec64, golden, golden_index, channels_last, monkeypatch,
                               cpu_gemm_route):
    tensors, _ = golden
    mel = tensors["vocoder_mel_in"]
    _check(golden_index, tensors, "vocoder_mel_in", mel)  # the stored input
    with torch.no_grad():
        ours64 = codec64.vocoder.decode(mel.double())
    # built per route: its ConvNeXt linears through each CPU GEMM library
    vocoder = MusicVocoder.from_config(_read(tiny_ckpt / "music_vocoder" / "config.json"), operations=cpu_gemm_route)
    vocoder.load_state_dict(convert_vocoder_state_dict(tiny_sds["music_vocoder"]), strict=True)
    vocoder = vocoder.float()
    monkeypatch.setattr(vocoder.head, "channels_last", channels_last)
    _check(golden_index, tensors, "vocoder_direct_out", vocoder.decode(mel), ours64)


@pytest.fixture(scope="module")
def spectral_codec(codec) -> MusicDCAE:
    """The tiny codec with every k ≥ 7 vocoder convolution by FFT (the released one's are 64–512 channels wide)."""
    model = copy.deepcopy(codec)
    model.vocoder.fft_rules = ((1, 7),)
    return model


def test_golden_decode_with_fft_convolutions(spectral_codec, codec, golden, golden_index, monkeypatch):
    from acestep_core.models import fft_conv

    tensors, _ = golden
    latents = tensors["latents_44k"]
    default = codec.decode(latents, 48000)  # this CPU's own rules (on AVX2 some tiny layers by FFT too)
    computed = []
    real = fft_conv.kernel_spectrum
    monkeypatch.setattr(fft_conv, "kernel_spectrum", lambda w, n: computed.append(n) or real(w, n))
    wave = spectral_codec.decode(torch.cat([latents, latents]), 48000)
    _check(golden_index, tensors, "decode_wav_48k", wave[0])
    assert torch.equal(wave[1], wave[0])
    assert not torch.equal(wave[:1], default)  # the FFT path ran
    # once per decode, not once per vocoder call (two items of two channels here)
    assert len(computed) == len(spectral_codec.vocoder._fft_convs()) > 10


def test_golden_vocoder_with_fft_convolutions(spectral_codec, codec64, golden, golden_index):
    tensors, _ = golden
    mel = tensors["vocoder_mel_in"]
    with torch.no_grad():
        ours64 = codec64.vocoder.decode(mel.double())
    _check(golden_index, tensors, "vocoder_direct_out", spectral_codec.vocoder.decode(mel), ours64)


@pytest.mark.parametrize("mode", ["chunked", "overlapped"])
def test_fft_convolutions_in_the_other_decode_modes(spectral_codec, codec, golden, golden_index, mode):
    tensors, _ = golden
    latents = tensors["latents_44k"]
    tol = float(golden_index["components"]["dcae"]["per_tensor_tol"]["decode_wav_48k"])
    direct = codec.decode(latents, 48000, mode=mode)
    spectral = spectral_codec.decode(latents, 48000, mode=mode)
    assert not torch.equal(spectral, direct)
    assert_close_rel(spectral, direct, tol, f"{mode} decode by FFT")


def test_golden_log_mel_through_the_codec(codec, codec64, golden, golden_index):
    tensors, inputs = golden
    audio = inputs[44100]
    log_mel64 = codec64.vocoder.encode(audio.double())[None]
    _check(golden_index, tensors, "log_mel_44k", codec.vocoder.encode(audio)[None], log_mel64)
    spec64 = codec64.vocoder.mel_transform.spectrogram(audio.double())
    _check(golden_index, tensors, "linear_spec_44k", codec.vocoder.mel_transform.spectrogram(audio), spec64)


def test_on_chunk_exception_aborts(codec, golden):
    tensors, _ = golden

    def stop(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        codec.decode(tensors["latents_44k"], on_chunk=stop)


# ----------------------------------------------------------------------------- key maps and configs


def test_full_size_vocoder_key_map():
    model = MusicVocoder.from_config(DEFAULT_VOCODER_CONFIG, device="meta")
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == _read(KEYS / "music_vocoder.json")


def test_full_size_dcae_key_map():
    model = build_autoencoder(DEFAULT_DCAE_CONFIG, device="meta")
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert ours == _read(KEYS / "music_dcae_f8c8.json")
    assert sum(p.numel() for p in model.parameters()) == 156_812_426


def test_comfyui_vae_keys_load_into_music_dcae():
    keys = _read(KEYS / "comfyui_all_in_one.json")["keys"]
    vae = {k[len("vae.") :]: v for k, v in keys.items() if k.startswith("vae.")}
    model = MusicDCAE.from_config(device="meta")
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert convert_vocoder_state_dict(vae) == ours


def test_infer_configs_on_full_size_key_maps():
    assert infer_vocoder_config(_read(KEYS / "music_vocoder.json")) == DEFAULT_VOCODER_CONFIG
    assert infer_dcae_config(_read(KEYS / "music_dcae_f8c8.json")) == DEFAULT_DCAE_CONFIG


def test_infer_configs_on_comfyui_all_in_one():
    keys = _read(KEYS / "comfyui_all_in_one.json")["keys"]
    vocoder = {k[len("vae.vocoder.") :]: v for k, v in keys.items() if k.startswith("vae.vocoder.")}
    dcae = {k[len("vae.dcae.") :]: v for k, v in keys.items() if k.startswith("vae.dcae.")}
    assert infer_vocoder_config(vocoder) == DEFAULT_VOCODER_CONFIG
    assert infer_dcae_config(dcae) == DEFAULT_DCAE_CONFIG


def test_infer_configs_on_tiny_checkpoint(tiny_ckpt, tiny_sds):
    for part, infer in (("music_vocoder", infer_vocoder_config), ("music_dcae_f8c8", infer_dcae_config)):
        assert infer(tiny_sds[part]) == _public(_read(tiny_ckpt / part / "config.json")), part


def test_from_state_dicts_infers_and_loads(tiny_sds, codec):
    model = MusicDCAE.from_state_dicts(tiny_sds["music_dcae_f8c8"], tiny_sds["music_vocoder"])
    for (k, a), (_, b) in zip(model.state_dict().items(), codec.state_dict().items()):
        assert torch.equal(a, b), k


def test_convert_vocoder_state_dict_renames_parametrizations():
    sd = {
        "head.conv_pre.parametrizations.weight.original0": 1,
        "head.conv_pre.parametrizations.weight.original1": 2,
        "head.conv_pre.bias": 3,
        "head.ups.0.weight_g": 4,
    }
    assert convert_vocoder_state_dict(sd) == {
        "head.conv_pre.weight_g": 1,
        "head.conv_pre.weight_v": 2,
        "head.conv_pre.bias": 3,
        "head.ups.0.weight_g": 4,
    }


def test_vocoder_weight_norm_uses_g_over_norm_v():
    model = MusicVocoder(dims=(8, 8, 8, 8), depths=(1, 1, 1, 1), num_mels=8, upsample_initial_channel=128)
    conv = model.head.conv_pre
    with torch.no_grad():
        conv.weight_g.mul_(3.0)
    w = conv.weight()
    v = conv.weight_v
    assert torch.allclose(w, conv.weight_g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1), atol=1e-7)


def test_vocoder_rejects_unknown_config_keys():
    with pytest.raises(TypeError, match="unknown"):
        MusicVocoder.from_config({"dimz": [1]})


# ----------------------------------------------------------------------------- lengths


@pytest.mark.parametrize(
    "seconds, frames, n44, n48_plain, n48_overlap",
    [
        (10, 107, 438_272, 477_031, 477_030),
        (30, 322, 1_318_912, 1_435_551, 1_435_550),
        (60, 645, 2_641_920, 2_875_560, 2_875_559),
        (95.5, 1028, 4_210_688, 4_583_062, 4_583_061),
        (120, 1291, 5_287_936, 5_755_577, 5_755_576),
        (180, 1937, 7_933_952, 8_635_595, 8_635_594),
        (240, 2583, 10_579_968, 11_515_612, 11_515_611),
    ],
)
def test_length_table(seconds, frames, n44, n48_plain, n48_overlap):
    assert frames_for_duration(seconds) == frames
    assert samples_for_frames(frames, 44100) == samples_for_frames(frames, None) == n44
    assert samples_for_frames(frames, 48000) == n48_plain
    assert samples_for_frames(frames, 48000, overlapped=True) == n48_overlap


def test_frames_for_an_upstream_60s_output():
    assert frames_for_samples(2_875_560, 48000) == 646
    assert frames_for_samples(4096 * 10, 44100) == 10
    assert frames_for_samples(4096 * 10 + 1, 44100) == 11


def test_latent_constants():
    assert (LATENT_SCALE, LATENT_SHIFT) == (0.1786, -1.9091)


# ----------------------------------------------------------------------------- decode modes


class _FrameVocoder(nn.Module):
    """Cheap local stand-in: every mel frame becomes 512 samples that depend on that frame only."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.1))

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.tanh(mel.mean(1, keepdim=True) * self.scale).repeat_interleave(512, dim=-1)

    def spectral(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


class _LocalDecoder(nn.Module):
    """Stand-in DCAE decoder without attention: each latent frame makes its own 8 mel frames."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mel = z.mean(1, keepdim=True).repeat_interleave(8, dim=2).repeat(1, 2, 1, 1)
        return mel.repeat_interleave(8, dim=-1)


class _LocalDCAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.decoder = _LocalDecoder()
        self.anchor = nn.Parameter(torch.zeros(1))


@pytest.fixture(scope="module")
def fast_codec(codec) -> MusicDCAE:
    """The tiny DCAE with a cheap vocoder, for the long-input decode modes."""
    return MusicDCAE(codec.dcae, _FrameVocoder())


def test_overlapped_decode_of_a_long_latent(fast_codec):
    frames = frames_for_duration(50)  # > 48 s: the case upstream switches to overlapped decode
    latents = torch.randn(1, 8, 16, frames, generator=torch.Generator().manual_seed(0))
    calls = []
    wave = fast_codec.decode(latents, 48000, mode="overlapped", on_chunk=lambda d, t: calls.append((d, t)))
    assert wave.shape == (1, 2, samples_for_frames(frames, 48000, overlapped=True))
    assert wave.dtype == torch.float32 and torch.isfinite(wave).all()
    assert [d for d, _ in calls] == list(range(1, len(calls) + 1)) and calls[-1][0] == calls[-1][1]
    assert len(calls) == 2 + 9  # two DCAE windows, nine 512-frame vocoder blocks for 4304 mel frames


def test_overlapped_vocoder_stitching_matches_one_pass(fast_codec):
    mel = torch.randn(1, 2, 128, 1500, generator=torch.Generator().manual_seed(1))
    stitched = fast_codec._overlap_vocode(mel, _NoProgress())
    whole = fast_codec.vocode(mel)[0]
    assert stitched.shape[-1] >= whole.shape[-1]
    # crossfade weights sum to 1 up to rounding, and the stand-in is local: same samples
    assert torch.allclose(stitched[:, : whole.shape[-1]], whole, atol=1e-6)


def test_overlapped_single_window_equals_plain_dcae(codec, golden):
    tensors, _ = golden
    latents = tensors["latents_44k"]
    assert torch.equal(codec._overlap_latent_to_mel(latents, _NoProgress()), codec.latent_to_mel(latents))


@pytest.mark.parametrize("length", [1, 100, 256, 257, 384, 385, 512, 513, 640, 641, 1000, 2583])
def test_overlap_dcae_windows_tile_the_mel(length):
    kept = []
    windows = overlap_dcae_windows(length)
    for start, end, head, tail in windows:
        mel_start = start * 8 + head
        mel_end = end * 8 - tail if len(windows) > 1 else end * 8
        if mel_end > mel_start:
            kept.append((mel_start, mel_end))
    assert kept[0][0] == 0 and kept[-1][1] == 8 * length
    assert all(a[1] == b[0] for a, b in zip(kept, kept[1:]))
    assert all(end - start <= 512 for start, end, _, _ in windows)


@pytest.mark.parametrize("total, core, context", [(1, 4, 2), (10, 4, 0), (10, 4, 3), (1000, 256, 128)])
def test_plan_windows_tile_exactly(total, core, context):
    plan = plan_windows(total, core, context)
    assert plan[0][2] == 0 and plan[-1][3] == total
    for (s, e, ks, ke), nxt in zip(plan, plan[1:] + [None]):
        assert s <= ks < ke <= e and ks - s <= context and e - ke <= context
        if nxt:
            assert ke == nxt[2]


def test_chunked_decode_reassembles_local_models_exactly():
    model = MusicDCAE(_LocalDCAE(), _FrameVocoder())
    model.chunk_latents, model.chunk_context_latents, model.chunk_mels, model.chunk_context_mels = 5, 2, 24, 8
    latents = torch.randn(2, 8, 16, 23, generator=torch.Generator().manual_seed(2))
    calls = []
    chunked = model.decode(latents, 48000, mode="chunked", on_chunk=lambda d, t: calls.append((d, t)))
    plain = model.decode(latents, 48000)
    assert chunked.shape == plain.shape == (2, 2, samples_for_frames(23, 48000))
    assert torch.allclose(chunked, plain, rtol=0, atol=1e-6)  # reductions over other widths: last-bit only
    assert calls[-1] == (len(calls), len(calls)) and len(calls) == 2 * (5 + 2 * 8)


def test_chunked_vocoder_equals_one_pass_on_the_tiny_vocoder(codec, golden):
    tensors, _ = golden
    mel = codec.latent_to_mel(tensors["latents_44k"])[..., :200]
    model = MusicDCAE(codec.dcae, codec.vocoder)
    model.chunk_mels, model.chunk_context_mels = 64, 64
    chunked = model.vocode_chunked(mel, batch_channels=True)
    whole = model.vocode(mel, batch_channels=True)
    assert_close_rel(chunked, whole, 1e-5, "chunked vocoder")


def test_chunk_context_covers_the_real_vocoder_receptive_field():
    # Receptive field depends on kernels, dilations, depths and strides, not widths: a narrow
    # vocoder with the released structure has the released receptive field.
    torch.manual_seed(0)
    vocoder = MusicVocoder(dims=(8, 8, 8, 8), num_mels=8, upsample_initial_channel=128)
    with torch.no_grad():
        for name, p in vocoder.named_parameters():
            if name.endswith("gamma"):
                p.fill_(1.0)
    frames, at = 200, 100
    mel = torch.randn(1, 128, frames)
    bumped = mel.clone()
    bumped[..., at] += 1.0
    changed = (vocoder.decode(mel) != vocoder.decode(bumped))[0, 0].nonzero().flatten()
    reach = max(at - changed.min().item() // 512, changed.max().item() // 512 - at)
    assert 60 < reach < MusicDCAE.chunk_context_mels


def test_batch_channels_in_plain_mode_matches_per_channel(fast_codec):
    latents = torch.randn(1, 8, 16, 12, generator=torch.Generator().manual_seed(3))
    a = fast_codec.decode(latents, 44100)
    b = fast_codec.decode(latents, 44100, batch_channels=True)
    assert torch.allclose(a, b, atol=1e-6)


def test_decode_rejects_unknown_mode_and_empty_latents(fast_codec):
    with pytest.raises(ValueError, match="mode"):
        fast_codec.decode(torch.zeros(1, 8, 16, 4), mode="tiled")
    with pytest.raises(ValueError, match="T > 0"):
        fast_codec.decode(torch.zeros(1, 8, 16, 0))


class _NoProgress:
    def step(self) -> None:
        pass


def test_plain_vocode_of_a_long_song_runs_in_exact_windows(codec, golden):
    # Windows only change float rounding: each kept sample sees the inputs of the one-pass vocoder.
    tensors, _ = golden
    mel = codec.latent_to_mel(tensors["latents_44k"])  # 256 mel frames
    model = MusicDCAE(codec.dcae, codec.vocoder)
    model.vocoder_window_mels, model.vocoder_context_mels = 48, 80  # context > the ±74 frame reach
    assert mel.shape[-1] > model.vocoder_window_mels + 2 * model.vocoder_context_mels
    steps = []
    windowed = model.vocode(mel, on_step=lambda: steps.append(1))
    whole = model._vocode_whole(mel, False, None)
    assert windowed.shape == whole.shape
    # 1.3e-5 of the RMS here whatever the context above ~40 frames: the float-rounding floor of the
    # tiny vocoder (2e-6 on the full-size one); a context below the reach gives 6e-3 at 20 frames.
    assert_close_rel(windowed, whole, 3e-5, "windowed vocoder")
    assert len(steps) == model.vocoder_calls(mel.shape[-1]) == 2 * 6
    calls = []
    model.decode(tensors["latents_44k"], 48000, on_chunk=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (1 + 12, 1 + 12)
