"""The training folder: every bad song is named with its problem, then skipped or refused."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from acestep_core.training import DataError, TrainConfig
from acestep_core.training.cli import main
from acestep_core.training.data import find_songs, read_training_audio
from acestep_core.training.loop import prepare_songs


def _wav(path, seconds: float, sr: int = 44100, channels: int = 2, silent: bool = False):
    import soundfile as sf

    t = np.arange(int(sr * seconds)) / sr
    wave = np.zeros_like(t) if silent else 0.2 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([wave] * channels, axis=1).astype("float32"), sr)


def _texts(folder, name, prompt="pop", lyrics="[verse]\nla la"):
    if prompt is not None:
        (folder / f"{name}_prompt.txt").write_text(prompt, encoding="utf-8")
    if lyrics is not None:
        (folder / f"{name}_lyrics.txt").write_text(lyrics, encoding="utf-8")


@pytest.fixture
def messy(tmp_path):
    _wav(tmp_path / "good.wav", 1.0)
    _texts(tmp_path, "good")
    _wav(tmp_path / "nolyrics.wav", 1.0)
    _texts(tmp_path, "nolyrics", lyrics=None)
    _wav(tmp_path / "emptylyrics.flac", 1.0)
    _texts(tmp_path, "emptylyrics", lyrics="  \n")
    _wav(tmp_path / "tiny.wav", 0.05)
    _texts(tmp_path, "tiny")
    _wav(tmp_path / "quiet.wav", 1.0, silent=True)
    _texts(tmp_path, "quiet")
    (tmp_path / "broken.mp3").write_bytes(b"not audio at all")
    _texts(tmp_path, "broken")
    (tmp_path / "notes.txt").write_text("ignored")
    return tmp_path


def test_every_problem_is_named_and_error_mode_refuses(messy):
    cfg = TrainConfig(data=messy, lora_config={}, out=messy / "out", max_steps=1)
    with pytest.raises(DataError) as err:
        prepare_songs(cfg, print)
    text = str(err.value)
    assert "5 song(s)" in text
    for name in ("nolyrics_lyrics.txt", "emptylyrics_lyrics.txt", "tiny.wav", "quiet.wav", "broken.mp3"):
        assert name in text
    assert "shorter than one latent frame" in text and "silence" in text and "unreadable" in text
    assert "--skip-bad-data" in text


def test_skip_mode_trains_on_the_rest(messy):
    said = []
    cfg = TrainConfig(data=messy, lora_config={}, out=messy / "out", max_steps=1, on_bad_data="skip")
    songs, skipped = prepare_songs(cfg, said.append)
    assert [s.name for s in songs] == ["good"] and len(skipped) == 5 and len(said) == 5


def test_too_long_is_refused(tmp_path):
    import soundfile as sf

    sr = 8000
    sf.write(tmp_path / "long.wav", np.full((sr * 241, 1), 0.1, dtype="float32"), sr)
    with pytest.raises(DataError, match="longer than the model's 240 s"):
        read_training_audio(tmp_path / "long.wav")


def test_audio_becomes_48k_stereo_padded_to_3s(tmp_path):
    _wav(tmp_path / "m.wav", 1.0, sr=22050, channels=1)
    wave = read_training_audio(tmp_path / "m.wav")
    assert wave.shape == (2, 144000) and wave.dtype == torch.float32
    assert torch.equal(wave[0], wave[1]) and wave[:, 48000:].eq(0).all() and wave[:, :48000].abs().max() > 0.1
    _wav(tmp_path / "q.wav", 4.0, sr=48000, channels=4)
    assert read_training_audio(tmp_path / "q.wav").shape == (2, 192000)


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        find_songs(tmp_path / "nope")
    with pytest.raises(DataError, match="no .mp3, .wav or .flac"):
        find_songs(tmp_path)


def test_cli_reports_problems_with_exit_status_1(messy, capsys):
    cfg = messy / "lora.json"
    cfg.write_text(json.dumps({"r": 4, "lora_alpha": 8, "target_modules": ["to_q"]}))
    assert main(["train-lora", "--data", str(messy), "--config", str(cfg), "--out", str(messy / "o")]) == 1
    assert "max-steps" in capsys.readouterr().err
    assert main(["--data", str(messy), "--config", str(cfg), "--out", str(messy / "o"), "--max-steps", "2"]) == 1
    assert "nolyrics_lyrics.txt" in capsys.readouterr().err
