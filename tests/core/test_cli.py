"""The CLI: generate, regenerate from an original input_params.json, never overwrite, clear failures."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import soundfile as sf

from acestep_core.cli import main
from acestep_core.record import call_kwargs, from_record


def _run(*args: str) -> int:
    return main(list(args))


def test_generate_and_regenerate_from_params(tiny_ckpt, lyric_vocab, tmp_path, capsys):
    out = tmp_path / "song.wav"
    common = ["--checkpoint", str(tiny_ckpt), "--lyric-vocab", str(lyric_vocab)]
    rc = _run("--prompt", "pop, rock", "--lyrics", "[verse]\\nHello world", "--duration", "1.5", "--steps", "3",
              "--seed", "7", "--out", str(out), *common)
    assert rc == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "seeds: [7]" in printed
    first, sr = sf.read(out)
    assert sr == 48000
    record = json.loads((tmp_path / "song_input_params.json").read_text())
    assert record["actual_seeds"] == [7] and record["lyrics"] == "[verse]\nHello world"
    # Regenerating from the record writes a new file (never over the first) with identical audio.
    rc = _run("--params", str(tmp_path / "song_input_params.json"), "--out", str(out), *common)
    assert rc == 0
    again = tmp_path / "song_1.wav"
    second, _ = sf.read(again)
    assert (first == second).all()
    assert sf.read(out)[0].shape == first.shape


def test_speed_flags_reach_the_pipeline(tiny_ckpt, lyric_vocab, tmp_path, monkeypatch):
    from acestep_core import pipeline

    seen = {}
    original = pipeline.AceStepPipeline.__call__

    def spy(self, *args, **kwargs):
        policy = kwargs["policy"]
        seen.update(low=self.low_memory, batch=policy.batch_guidance, cache=policy.guidance_cache_interval)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pipeline.AceStepPipeline, "__call__", spy)
    common = ["--checkpoint", str(tiny_ckpt), "--lyric-vocab", str(lyric_vocab), "--duration", "1", "--steps", "4"]
    assert _run("--prompt", "jazz", "--out", str(tmp_path / "a.wav"), *common) == 0
    assert seen == {"low": False, "batch": False, "cache": 1}
    assert _run("--prompt", "jazz", "--out", str(tmp_path / "b.wav"), "--low-memory", "--batch-guidance",
                "--guidance-cache", "2", *common) == 0
    assert seen == {"low": True, "batch": True, "cache": 2}
    assert (tmp_path / "b.wav").exists()
    assert _run("--prompt", "jazz", "--guidance-cache", "0", *common) == 2


def test_step_caching_is_recorded_and_regenerated(tiny_ckpt, lyric_vocab, tmp_path):
    """A song made with --guidance-cache says so in its record, and --params regenerates that very song."""
    common = ["--checkpoint", str(tiny_ckpt), "--lyric-vocab", str(lyric_vocab), "--duration", "1", "--steps", "6",
              "--seed", "3"]
    assert _run("--prompt", "jazz", "--out", str(tmp_path / "plain.wav"), *common) == 0
    assert "guidance_cache_interval" not in json.loads((tmp_path / "plain_input_params.json").read_text())
    assert _run("--prompt", "jazz", "--out", str(tmp_path / "cached.wav"), "--guidance-cache", "2", *common) == 0
    record = tmp_path / "cached_input_params.json"
    assert json.loads(record.read_text())["guidance_cache_interval"] == 2
    assert _run("--params", str(record), "--out", str(tmp_path / "again.wav"), *common[:4]) == 0
    cached, again, plain = (sf.read(tmp_path / f"{n}.wav")[0] for n in ("cached", "again", "plain"))
    assert (again == cached).all() and not (cached == plain).all()


def test_old_input_params_get_ui_defaults():
    # the shipped 17-key examples lack most keys (spec §11.3)
    old = {"actual_seeds": [1, 2], "audio_duration": 30.0, "cfg_type": "apg", "guidance_interval": 0.5,
           "guidance_interval_decay": 0.0, "guidance_scale": 15, "infer_step": 60, "lyrics": "[inst]",
           "min_guidance_scale": 3, "omega_scale": 10, "oss_steps": [16, 29], "prompt": "edm",
           "scheduler_type": "euler", "timecosts": {}, "use_erg_diffusion": True, "use_erg_lyric": True,
           "use_erg_tag": True}
    call = call_kwargs(from_record(old))
    assert call["manual_seeds"] == [1, 2] and call["batch_size"] == 2
    assert call["oss_steps"] == "16, 29" and call["lora_name_or_path"] == "none"
    assert call["guidance_scale_text"] == 0.0 and call["task"] == "text2music"
    with pytest.raises(ValueError, match="prompt"):
        call_kwargs(from_record({"actual_seeds": [1]}))


def test_missing_prompt_and_bad_values_exit_2(tiny_ckpt, lyric_vocab, capsys):
    assert _run() == 2
    assert "give --prompt" in capsys.readouterr().err
    rc = _run("--prompt", "x", "--duration", "500", "--checkpoint", str(tiny_ckpt), "--lyric-vocab", str(lyric_vocab))
    assert rc == 2 and "longer than the model supports" in capsys.readouterr().err


def test_no_network_says_so(tmp_path):
    """Without a local checkpoint the CLI tries to download and says clearly when it cannot."""
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "acestep_core", "--prompt", "pop", "--duration", "5",
                           "--cache-dir", str(tmp_path / "cache")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 2
    assert "cannot download the model ACE-Step/ACE-Step-v1-3.5B" in proc.stderr


def _cli(*args: str, tmp_path) -> subprocess.CompletedProcess:
    """The real entry point in a fresh process, offline (nothing here may need the network)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "acestep_core", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=tmp_path)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


@pytest.mark.parametrize("seed", ["abc", "1.5"])
def test_a_seed_that_is_no_number_is_a_one_line_error(tmp_path, seed):
    line = _one_line_error(_cli("--prompt", "pop", "--seed", seed, "--duration", "1", tmp_path=tmp_path))
    assert f"--seed: '{seed}' is not a seed" in line and "'1, 2, 3'" in line and "omit --seed" in line
    assert not list(tmp_path.glob("**/*.wav"))


def test_audio2audio_without_reference_in_params_is_a_one_line_error(tiny_ckpt, lyric_vocab, tmp_path):
    record = {"prompt": "pop", "lyrics": "", "audio_duration": 1.0, "infer_step": 2, "actual_seeds": [1],
              "audio2audio_enable": True, "ref_audio_strength": 0.5, "ref_audio_input": None}
    params = tmp_path / "a2a_input_params.json"
    params.write_text(json.dumps(record))
    line = _one_line_error(_cli("--params", str(params), "--checkpoint", str(tiny_ckpt), "--lyric-vocab",
                                str(lyric_vocab), "--out", str(tmp_path / "x.wav"), tmp_path=tmp_path))
    assert "audio2audio_enable=True needs ref_audio_input" in line and "audio2audio_enable=False" in line
    assert not (tmp_path / "x.wav").exists()


def test_lyrics_over_the_token_limit_are_a_one_line_error(tiny_ckpt, lyric_vocab, tmp_path):
    lyrics = tmp_path / "long.txt"
    lyrics.write_text("\n".join(["la la la, we sing tonight"] * 250), encoding="utf-8")  # 4251 tokens
    line = _one_line_error(_cli("--prompt", "pop", "--lyrics-file", str(lyrics), "--duration", "1", "--steps", "2",
                                "--checkpoint", str(tiny_ckpt), "--lyric-vocab", str(lyric_vocab),
                                "--out", str(tmp_path / "x.wav"), tmp_path=tmp_path))
    assert "lyrics are 4251 tokens long" in line and "limit of 4096" in line
