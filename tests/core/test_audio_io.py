"""Audio file I/O: loading, stereo conversion, (waveform, rate) values and never-overwriting saves."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from acestep_core.audio.io import AudioFileError, as_waveform, load_audio, save_audio, to_stereo


def _tone(channels: int = 2, n: int = 4410, sr: int = 44100) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / sr
    rows = [0.4 * torch.sin(2 * torch.pi * (220 * (c + 1)) * t) for c in range(channels)]
    return torch.stack(rows).float()


def test_golden_input_wav_loads_exactly(golden_dir):
    from safetensors.torch import load_file

    wave, sr = load_audio(golden_dir / "inputs" / "src_sines_44k.wav")
    ref = load_file(str(golden_dir / "inputs" / "src_sines_44k.safetensors"))["waveform"]
    assert sr == 44100 and wave.dtype == torch.float32
    assert torch.equal(wave, ref)


def test_load_mono_file_gives_one_channel(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(path, _tone(1)[0].numpy(), 22050, subtype="FLOAT")
    wave, sr = load_audio(path)
    assert wave.shape == (1, 4410) and sr == 22050


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nowhere.wav"
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        load_audio(path)


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "broken.flac"
    path.write_bytes(b"fLaC this is not really a flac stream")
    with pytest.raises(AudioFileError, match="broken.flac"):
        load_audio(path)
    assert issubclass(AudioFileError, ValueError)


def test_to_stereo_duplicates_mono():
    mono = _tone(1)
    stereo = to_stereo(mono)
    assert stereo.shape == (2, 4410)
    assert torch.equal(stereo[0], mono[0]) and torch.equal(stereo[1], mono[0])
    assert to_stereo(mono[0]).shape == (2, 4410)


def test_to_stereo_keeps_stereo():
    wave = _tone(2)
    assert to_stereo(wave) is wave


def test_to_stereo_refuses_more_channels_unless_asked():
    wave = _tone(3)
    with pytest.raises(ValueError, match="3 channels"):
        to_stereo(wave)
    mixed = to_stereo(wave, downmix=True)
    assert mixed.shape == (2, 4410)
    assert torch.allclose(mixed[0], wave.mean(0)) and torch.equal(mixed[0], mixed[1])


def test_to_stereo_works_on_batches():
    assert to_stereo(torch.zeros(4, 1, 10)).shape == (4, 2, 10)


def test_as_waveform_accepts_pairs_mappings_and_paths(tmp_path):
    wave = _tone(2)
    a, sr = as_waveform((wave.numpy().astype(np.float64), 48000))
    assert a.dtype == torch.float32 and sr == 48000 and torch.equal(a, wave)
    b, sr = as_waveform({"waveform": wave[None], "sample_rate": 44100})
    assert b.shape == (1, 2, 4410) and sr == 44100
    path = save_audio(tmp_path / "x.wav", wave, 32000)
    c, sr = as_waveform(path)
    assert sr == 32000 and torch.equal(c, wave)


@pytest.mark.parametrize(
    "bad, error",
    [
        (torch.zeros(2, 3), TypeError),
        ((torch.zeros(3, dtype=torch.int16), 44100), TypeError),
        ((torch.zeros(3), 0), ValueError),
    ],
)
def test_as_waveform_rejects(bad, error):
    with pytest.raises(error):
        as_waveform(bad)


def test_wav_round_trip_is_exact(tmp_path):
    wave = _tone(2) * 1.5  # float WAV keeps values beyond full scale too
    path = save_audio(tmp_path / "song.wav", wave, 48000)
    back, sr = load_audio(path)
    assert sr == 48000 and torch.equal(back, wave)


def test_never_overwrites(tmp_path):
    first = save_audio(tmp_path / "song.wav", _tone(2), 44100)
    second = save_audio(tmp_path / "song.wav", -_tone(2), 44100)
    third = save_audio(tmp_path / "song.wav", _tone(2) * 0, 44100)
    assert [p.name for p in (first, second, third)] == ["song.wav", "song_1.wav", "song_2.wav"]
    assert torch.equal(load_audio(first)[0], _tone(2))
    assert torch.equal(load_audio(second)[0], -_tone(2))


@pytest.mark.parametrize("fmt", ["flac", "ogg", "mp3"])
def test_other_formats_write_readable_files(tmp_path, fmt):
    wave = _tone(2, n=44100)
    path = save_audio(tmp_path / "song", wave, 44100, fmt)
    assert path.name == f"song.{fmt}"
    back, sr = load_audio(path)
    assert sr == 44100 and back.shape[0] == 2
    assert abs(back.shape[1] - 44100) < 2048
    if fmt == "flac":
        assert (back - wave).abs().max() < 1e-6


def test_format_follows_argument_and_extension(tmp_path):
    assert save_audio(tmp_path / "a.wav", _tone(1), 44100, "flac").name == "a.flac"
    assert save_audio(tmp_path / "b.flac", _tone(1), 44100).name == "b.flac"
    assert save_audio(tmp_path / "c.v2", _tone(1), 44100, "wav").name == "c.v2.wav"
    with pytest.raises(ValueError, match="unsupported"):
        save_audio(tmp_path / "d.aiff", _tone(1), 44100)


def test_lossy_and_integer_formats_clip(tmp_path):
    loud = torch.full((1, 4410), 2.0)
    back, _ = load_audio(save_audio(tmp_path / "loud.flac", loud, 44100))
    assert back.max() <= 1.0 and back.max() > 0.99
