"""Bad input gets a clear error naming the parameter; files are never overwritten; audio in any shape."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from acestep_core import MAX_LYRIC_TOKENS, AceStepPipeline, Extend, LyricTokens, Repaint, SamplerSettings, Text2Music
from golden_utils import GOLDEN

BASE = dict(prompt="pop", lyrics="[verse]\nla la", audio_duration=1.0, infer_step=2, manual_seeds=[3],
            retake_seeds=[4])
SRC = str(GOLDEN / "inputs" / "src_sines_44k.wav")
LINE = "la la la, we sing tonight"  # 17 lyric tokens with its closing [SPACE]
TOO_LONG = "\n".join([LINE] * 250)  # 1 + 250 * 17 = 4251 tokens
TOO_LONG_MESSAGE = rf"lyrics are 4251 tokens long, more than the lyric encoder's limit of {MAX_LYRIC_TOKENS}"


@pytest.fixture(scope="module")
def pipe(tiny_ckpt, lyric_vocab):
    return AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)


@pytest.mark.parametrize("kwargs, message", [
    ({"audio_duration": 300.0}, "audio_duration = 300.0 s is longer"),
    ({"audio_duration": float("nan")}, "audio_duration must be a finite number"),
    ({"audio_duration": "long"}, "audio_duration must be a number"),
    ({"audio_duration": 0.01}, "too short"),
    ({"infer_step": 0}, r"infer_step = 0 is out of range"),
    ({"infer_step": 2.5}, "infer_step must be a whole number"),
    ({"guidance_scale": -1.0}, "guidance_scale = -1.0 is out of range"),
    ({"scheduler_type": "dpm"}, "scheduler_type 'dpm' is unknown; choose one of euler, heun, pingpong"),
    ({"cfg_type": "pag"}, "cfg_type 'pag' is unknown"),
    ({"task": "remix"}, "task 'remix' is unknown"),
    ({"format": "aiff"}, "format 'aiff' is unknown"),
    ({"prompt": None}, "prompt is required"),
    ({"oss_steps": "16, x, 30"}, "oss_steps"),
    ({"oss_steps": "10,20", "scheduler_type": "heun"}, "oss_steps cannot be used with the heun scheduler"),
    ({"manual_seeds": "1,2,"}, "seed"),
    ({"manual_seeds": "abc"}, "manual_seeds: 'abc' is not a seed: write one whole number"),
    ({"retake_seeds": "abc"}, "retake_seeds: 'abc' is not a seed"),
    ({"manual_seeds": "1.5", "task": "retake"}, "manual_seeds: '1.5' is not a seed"),
    ({"retake_variance": 1.5, "task": "retake"}, r"retake_variance = 1.5 is out of range"),
    ({"task": "repaint"}, "needs src_audio_path"),
    ({"task": "retake", "src_audio_path": SRC}, "src_audio_path is only used by"),
    ({"task": "audio2audio"}, "needs ref_audio_input"),
    ({"audio2audio_enable": True}, r"audio2audio_enable=True needs ref_audio_input \(the reference song\), got None"),
    ({"audio2audio_enable": True, "ref_audio_input": ""}, "audio2audio_enable=True needs ref_audio_input"),
    ({"task": "audio2audio", "ref_audio_input": " "}, "needs ref_audio_input"),
    ({"lyrics": TOO_LONG}, TOO_LONG_MESSAGE),
    ({"task": "edit", "src_audio_path": SRC, "edit_target_lyrics": TOO_LONG}, TOO_LONG_MESSAGE),
    ({"task": "repaint", "src_audio_path": "/no/such/file.wav"}, "no/such/file.wav"),
    ({"task": "repaint", "src_audio_path": SRC, "repaint_start": 1.0, "repaint_end": 1.0}, "is empty"),
    ({"task": "repaint", "src_audio_path": SRC, "repaint_start": 5.0, "repaint_end": 6.0}, "past the end"),
    ({"task": "extend", "src_audio_path": SRC, "repaint_start": -5.0, "repaint_end": 3.0}, "longer than the source"),
    ({"audio2audio_enable": True, "ref_audio_input": SRC, "ref_audio_strength": 1.5}, "ref_audio_strength"),
    ({"lora_name_or_path": "/no/such/lora"}, "no such file or folder"),
    ({"batch_size": 0}, "batch_size = 0 is out of range"),
])
def test_bad_input_is_a_clear_error(pipe, tmp_path, kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        pipe(**{**BASE, **kwargs}, save_path=str(tmp_path))
    assert not list(tmp_path.iterdir()), "nothing may be written on a failed call"


@pytest.mark.parametrize("kwargs", [
    {"manual_seeds": "abc"}, {"audio2audio_enable": True}, {"lyrics": TOO_LONG}])
def test_bad_seeds_reference_and_long_lyrics_fail_before_any_model_loads(tiny_ckpt, lyric_vocab, kwargs):
    """The checks run first: no network is loaded, let alone the lyric encoder asked for gigabytes."""
    fresh = AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)
    with pytest.raises(ValueError):
        fresh(**{**BASE, **kwargs}, write_files=False)
    assert not {"text", "transformer", "dcae"} & fresh.loaded_parts()


def test_valid_seed_forms_are_unchanged(pipe):
    """Only strings that are no number are refused; every form the original takes works as before."""
    def used(**kw) -> tuple[list[int], list[int]]:
        params = pipe(**{**BASE, "infer_step": 1, **kw}, write_files=False).params
        return params["actual_seeds"], params["retake_seeds"]

    assert used(manual_seeds="11, 22", batch_size=2)[0] == [11, 22]
    assert used(manual_seeds="42", retake_seeds=[5, 6], batch_size=2) == ([42, 42], [5, 6])
    assert used(manual_seeds=7, retake_seeds=8) == ([7], [8])
    # "", None and the integers upstream does not parse ("42 ", "-5") still draw random seeds, in order
    torch.manual_seed(0)
    drawn = used(manual_seeds="", retake_seeds=None)
    torch.manual_seed(0)
    assert used(manual_seeds="42 ", retake_seeds="-5") == drawn


def test_lyric_token_limit_is_exact(pipe):
    """MAX_LYRIC_TOKENS is the original's training cut (4096): that many tokens pass, one more does not."""
    assert MAX_LYRIC_TOKENS == 4096
    assert LyricTokens.from_lists([2] * MAX_LYRIC_TOKENS, [1] * MAX_LYRIC_TOKENS).ids.shape == (1, 4096)
    with pytest.raises(ValueError, match="lyrics are 4097 tokens long.*limit of 4096"):
        LyricTokens.from_lists([2] * 4097, [1] * 4097)
    with pytest.raises(ValueError, match="4097 tokens"):  # built by hand for sample(): refused as well
        LyricTokens(torch.zeros(1, 4097, dtype=torch.long), torch.ones(1, 4097, dtype=torch.long))
    fits = "\n".join([LINE] * 240)  # 1 + 240 * 17 = 4081 tokens
    assert pipe.encode_lyrics(fits).ids.shape == (1, 4081)
    with pytest.raises(ValueError, match=TOO_LONG_MESSAGE):
        pipe.encode_lyrics(TOO_LONG)


def test_lora_that_does_not_fit(pipe, tmp_path):
    from safetensors.torch import save_file

    bad = tmp_path / "lora"
    bad.mkdir()
    save_file({"transformer_blocks.0.attn.to_q.lora_A.weight": torch.zeros(4, 99),
               "transformer_blocks.0.attn.to_q.lora_B.weight": torch.zeros(64, 4)},
              str(bad / "pytorch_lora_weights.safetensors"))
    with pytest.raises(ValueError, match="does not fit this ACE-Step model"):
        pipe(**BASE, lora_name_or_path=str(bad), write_files=False)


def test_empty_lyrics_and_none_lyrics_are_instrumental(pipe):
    a = pipe(**{**BASE, "lyrics": ""}, write_files=False)
    b = pipe(**{**BASE, "lyrics": None}, write_files=False)  # upstream crashes on None
    assert torch.equal(a.latents, b.latents)
    tokens = pipe.encode_lyrics("")
    assert tokens.ids.tolist() == [[0]] and tokens.mask.tolist() == [[0]]


def test_random_duration_comes_from_the_seed(pipe):
    a = pipe(**{**BASE, "audio_duration": -1, "infer_step": 1}, write_files=False)
    b = pipe(**{**BASE, "audio_duration": -1, "infer_step": 1}, write_files=False)
    assert 30.0 <= a.params["audio_duration"] <= 240.0
    assert a.params["audio_duration"] == b.params["audio_duration"]
    assert a.latents.shape[-1] == int(a.params["audio_duration"] * 44100 / 512 / 8)


def test_save_path_never_overwrites(pipe, tmp_path):
    target = tmp_path / "song.flac"
    target.write_bytes(b"user's own file")
    out = pipe(**{**BASE, "batch_size": 2, "manual_seeds": "5,6"}, format="flac", save_path=str(target))
    assert target.read_bytes() == b"user's own file"
    assert len(out.paths) == 2 and len(set(out.paths)) == 2
    for p in out.paths:
        data, sr = sf.read(p)
        assert sr == 48000 and data.shape[1] == 2
        assert json.loads(open(p[: -len(".flac")] + "_input_params.json").read())["audio_path"] == p
    # a directory gets the original's timestamped names
    d = tmp_path / "dir"
    d.mkdir()
    out2 = pipe(**BASE, save_path=str(d))
    assert out2.paths[0].startswith(str(d / "output_")) and out2.paths[0].endswith("_0.wav")


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_output_formats(pipe, tmp_path, fmt):
    out = pipe(**BASE, format=fmt, save_path=str(tmp_path / f"x.{fmt}"))
    info = sf.info(out.paths[0])
    assert info.samplerate == 48000 and info.channels == 2


def test_audio_inputs_any_rate_mono_pair(pipe, tmp_path):
    wave, sr = sf.read(SRC, dtype="float32")
    stereo = torch.from_numpy(wave.T.copy())
    ref = pipe.encode_audio(SRC)
    assert torch.equal(pipe.encode_audio((stereo, sr)), ref)
    assert torch.equal(pipe.encode_audio({"waveform": stereo[None], "sample_rate": sr}), ref)
    mono = pipe.encode_audio((stereo[:1], sr))
    dup = pipe.encode_audio((stereo[:1].repeat(2, 1), sr))
    assert torch.equal(mono, dup)  # mono is duplicated, as upstream does
    # another sample rate is resampled to 44.1 kHz first; the frame count follows spec §6.7
    t = np.arange(int(22050 * 1.5)) / 22050
    low = torch.from_numpy(np.stack([np.sin(2 * math.pi * 220 * t)] * 2).astype(np.float32))
    assert pipe.encode_audio((low, 22050)).shape[-1] == math.ceil(1.5 * 44100 / 4096)
    with pytest.raises(ValueError, match="channels"):
        pipe.encode_audio((torch.zeros(3, 4096), 44100))
    with pytest.raises(ValueError, match="NaN"):
        pipe.encode_audio((torch.full((2, 4096), float("nan")), 44100))
    corrupt = tmp_path / "broken.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(ValueError, match="broken.wav"):
        pipe.encode_audio(str(corrupt))


def test_latents_from_another_model_are_refused(pipe):
    with pytest.raises(ValueError, match="not ACE-Step audio latents"):
        pipe.decode_latents(torch.zeros(1, 64, 216))
    with pytest.raises(ValueError, match="not ACE-Step audio latents"):
        pipe.decode_latents(torch.zeros(1, 4, 16, 10))


def test_extend_helpers_and_ranges(pipe):
    src = pipe.encode_audio(SRC)
    settings = SamplerSettings(infer_step=2)
    ext = Extend.from_sides(src, left=1.0, right=0.0)
    res = pipe.sample(pipe.encode_prompt("pop"), pipe.encode_lyrics(""), ext, settings, manual_seeds=1, retake_seeds=2)
    assert res.latents.shape[-1] == src.shape[-1] + int(1.0 * 44100 / 4096)
    # outside the generated part the source comes back exactly
    assert torch.equal(res.latents[..., int(1.0 * 44100 / 4096):], src)
    with pytest.raises(ValueError, match="adds nothing"):
        Extend(src, 0.0, 1.0).prepare(None, settings, 1, torch.float32, "cpu")
    with pytest.raises(ValueError, match="negative"):
        Repaint(src, -1.0, 1.0).frame_range()
    with pytest.raises(ValueError, match="too short"):
        Text2Music(0).prepare(None, settings, 1, torch.float32, "cpu")


def test_repaint_keeps_the_outside_exactly(pipe):
    src = pipe.encode_audio(SRC)
    res = pipe.sample(pipe.encode_prompt("pop"), pipe.encode_lyrics("la"), Repaint(src, 1.0, 2.0, 0.7),
                      SamplerSettings(infer_step=4), manual_seeds=1, retake_seeds=2)
    s, e = int(1.0 * 44100 / 4096), int(2.0 * 44100 / 4096)
    assert torch.equal(res.latents[..., :s], src[..., :s]) and torch.equal(res.latents[..., e:], src[..., e:])
    assert not torch.equal(res.latents[..., s:e], src[..., s:e])


def test_callback_reports_progress_and_can_interrupt(pipe):
    seen = []
    pipe(**BASE, callback=lambda i, n, x: seen.append((i, n)), write_files=False)
    assert seen == [(1, 2), (2, 2)]

    class Stop(Exception):
        pass

    def stop(i, n, x):
        raise Stop

    with pytest.raises(Stop):
        pipe(**BASE, callback=stop, write_files=False)


def test_low_memory_frees_each_model_and_changes_nothing(tiny_ckpt, lyric_vocab, pipe):
    lean = AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab, low_memory=True)
    a = lean(**BASE, write_files=False)
    assert not {"text", "transformer", "dcae"} & lean.loaded_parts()
    b = pipe(**BASE, write_files=False)
    assert torch.equal(a.waveforms, b.waveforms)
