"""The CLI: generate, regenerate from an original input_params.json, never overwrite, clear failures."""
from __future__ import annotations

import json
import os
import shutil
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
    assert printed.startswith(f"wrote {out}: ") and "seed 7" in printed
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
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the model ACE-Step/ACE-Step-v1-3.5B: it cannot be downloaded (HF_HUB_OFFLINE is set" in proc.stderr
    assert f"copy those four folders into {tmp_path / 'cache' / 'checkpoints' / 'ACE-Step-v1-3.5B'}/" in proc.stderr
    assert "vocab" not in proc.stderr  # an instrumental needs no lyric vocabulary


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


# ---------------------------------------------------------------- issue #22: the README's command, as a new user
README_COMMAND = ("--prompt", "pop, rock, female vocals, 120 bpm, catchy", "--lyrics",
                  "[verse]\\nNeon lights they flicker bright\\n[chorus]\\nLa la la", "--duration", "30", "--seed", "42",
                  "--out", "song.wav")
FAST = ("--duration", "1", "--steps", "2")


def _offline(*args: str, home, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """The real entry point, offline, with a fresh HOME (no caches) and nothing inherited that points at files."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ACESTEP_", "COMFY", "HF_"))}
    full = {**base, "HF_HUB_OFFLINE": "1", "HOME": str(home), **(env or {})}
    return subprocess.run([sys.executable, "-m", "acestep_core", *args], capture_output=True, text=True, env=full,
                          timeout=300, cwd=cwd or home)


def _error(proc: subprocess.CompletedProcess) -> str:
    """A refusal: exit 2, no traceback, one message starting with 'error:', nothing on stdout."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == "", proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("error:") == 1, proc.stderr
    return proc.stderr


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wrote "), proc.stdout  # one summary line, nothing else
    return lines[0]


def test_readme_command_offline_names_everything_missing_and_every_way(tmp_path):
    err = _error(_offline(*README_COMMAND, home=tmp_path))
    cache = tmp_path / ".cache" / "acestep-v1"
    assert "these 2 things are missing" in err
    assert "the model ACE-Step/ACE-Step-v1-3.5B: it cannot be downloaded (HF_HUB_OFFLINE is set" in err
    assert "--checkpoint /path/to/ACE-Step-v1-3.5B" in err and "--checkpoint /path/to/ace_step_v1_3.5b.safetensors" in err
    assert f"copy those four folders into {cache / 'checkpoints' / 'ACE-Step-v1-3.5B'}/" in err
    assert "the lyric vocabulary vocab.json" in err and "--lyric-vocab /path/to/vocab.json" in err
    assert "ACESTEP_LYRIC_VOCAB=/path/to/vocab.json" in err and f"copy it to {cache / 'vocab.json'}" in err
    assert "leave out the lyrics" in err
    assert " on )" not in err and "LocalEntryNotFoundError" not in err  # no garbled library text
    assert not list(tmp_path.glob("*.wav"))


def test_only_what_is_missing_is_named(tiny_ckpt, lyric_vocab, tmp_path):
    err = _error(_offline(*README_COMMAND, "--lyric-vocab", str(lyric_vocab), home=tmp_path))
    assert "this is missing" in err and "the model" in err and "vocab" not in err.replace("--lyric-vocab", "")
    err = _error(_offline(*README_COMMAND, "--checkpoint", str(tiny_ckpt), home=tmp_path))
    assert "this is missing" in err and "the lyric vocabulary" in err and "the model" not in err


def _copy_into_cache(tiny_ckpt, lyric_vocab, home) -> None:
    cache = home / ".cache" / "acestep-v1"
    shutil.copytree(tiny_ckpt, cache / "checkpoints" / "ACE-Step-v1-3.5B")
    shutil.copy(lyric_vocab, cache / "vocab.json")


@pytest.mark.parametrize("way", ["options", "all_in_one_and_env", "copied_into_cache", "instrumental"])
def test_each_suggested_way_works_offline(way, tiny_ckpt, lyric_vocab, tmp_path):
    """Every way the offline message lists (but the download itself) is followed here, and the
    README's command then makes its song (shortened: the tiny model, 1 s, 2 steps)."""
    args, env = list(README_COMMAND[:-6]) + ["--seed", "42", "--out", "song.wav", *FAST], {}
    if way == "options":
        args += ["--checkpoint", str(tiny_ckpt), "--lyric-vocab", str(lyric_vocab)]
    elif way == "all_in_one_and_env":
        from golden_utils import make_all_in_one

        single = make_all_in_one(tiny_ckpt, tmp_path / "ace_step_v1_3.5b.safetensors")
        args += ["--checkpoint", str(single)]
        env["ACESTEP_LYRIC_VOCAB"] = str(lyric_vocab)
    elif way == "copied_into_cache":
        _copy_into_cache(tiny_ckpt, lyric_vocab, tmp_path)
    else:
        args = ["--prompt", "pop", "--out", "song.wav", "--checkpoint", str(tiny_ckpt), *FAST]
    _ok(_offline(*args, home=tmp_path, env=env))
    assert (tmp_path / "song.wav").is_file() and (tmp_path / "song_input_params.json").is_file()


def test_four_folders_copied_straight_into_the_cache_are_found(tiny_ckpt, tmp_path, monkeypatch):
    """What the old message advised (the folders directly in ~/.cache/acestep-v1/checkpoints) works too."""
    from acestep_core.checkpoint import resolve_checkpoint

    for sub in ("ace_step_transformer", "music_dcae_f8c8", "music_vocoder", "umt5-base"):
        shutil.copytree(tiny_ckpt / sub, tmp_path / sub)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_checkpoint("ACE-Step/ACE-Step-v1-3.5B", cache_dir=tmp_path).root == tmp_path


def test_plan_is_printed_before_the_work_and_the_run_ends_with_one_summary(tiny_ckpt, lyric_vocab, tmp_path):
    """Item 3 (what was chosen, before), 4 (progress of each stage, one summary) and 5 (real duration)."""
    proc = _offline("--prompt", "pop", "--lyrics", "[verse]\\nla la", "--duration", "10", "--steps", "3",
                    "--checkpoint", str(tiny_ckpt), "--lyric-vocab", str(lyric_vocab), "--out", "song.wav",
                    home=tmp_path)
    summary = _ok(proc)
    seed = json.loads((tmp_path / "song_input_params.json").read_text())["actual_seeds"][0]
    assert summary.startswith(f"wrote song.wav: 9.94 s, seed {seed}, text2music, took ")  # 107 frames = 9.94 s
    err = proc.stderr
    plan = err.index(f"song: text2music, 9.94 s of audio, 3 steps, seed {seed}, float32 on cpu")
    assert plan < err.index("estimated time: about") < err.index("loading the transformer") < err.index("sampling: ")
    for stage in ("loading the text encoder (UMT5) …", "loaded the transformer (DiT) in ",
                  "loading the decoder (DCAE + vocoder) …", "decoding the latents to audio: done in "):
        assert stage in err
    assert err.count("sampling: 100%") == 1  # the bar's 100 % state is drawn once
    assert "decoding (plain): 100%" in err and err.count("decoding (plain): 100%") == 1


def test_random_duration_is_printed_and_is_the_libraries(tiny_ckpt, tmp_path):
    """--duration <= 0 keeps the original's rule (30–240 s from the seed), but says what it drew."""
    proc = _offline("--prompt", "pop", "--duration", "-5", "--seed", "139", "--steps", "1", "--checkpoint",
                    str(tiny_ckpt), "--out", "r.wav", home=tmp_path)
    _ok(proc)
    import random

    drawn = random.Random(139).uniform(30.0, 240.0)  # the pipeline's rule for audio_duration <= 0
    assert json.loads((tmp_path / "r_input_params.json").read_text())["audio_duration"] == drawn
    real = int(drawn * 44100 / 4096) * 4096 / 44100
    assert f"text2music, {real:.2f} s of audio (--duration <= 0: drawn at random from the seed" in proc.stderr


def test_extension_changes_are_said_and_batches_pair_with_their_records(tiny_ckpt, tmp_path):
    (tmp_path / "song_1_input_params.json").write_text("{}")  # a stale record: song_1 is not free
    proc = _offline("--prompt", "pop", *FAST, "--seed", "1,2", "--format", "flac", "--out", "song.wav",
                    "--checkpoint", str(tiny_ckpt), home=tmp_path)
    summary = _ok(proc)
    assert "note: --format flac: the file is song.flac, not song.wav" in proc.stderr
    assert summary.startswith("wrote song.flac, song_2.flac: ") and "seeds 1, 2" in summary
    for name, seed in (("song", 1), ("song_2", 2)):
        record = json.loads((tmp_path / f"{name}_input_params.json").read_text())
        assert record["actual_seeds"] == [1, 2] and record["audio_path"] == f"song{name[4:]}.flac"
    assert sf.info(str(tmp_path / "song.flac")).format == "FLAC"


@pytest.mark.parametrize("args, expected", [
    (("--lyrics-file", "missing.txt"), "--lyrics-file missing.txt: no such file"),
    (("--out", "song.wv"), "--out song.wv: .wv is not a format written here (did you mean .wav?)"),
    (("--out", "song.m4a"), "--out song.m4a: .m4a is not a format written here"),
    (("--lyrics", "words.txt"), "--lyrics 'words.txt' is the name of a file; use --lyrics-file words.txt"),
    (("--steps", "0"), "--steps 0: use a whole number from 1 to 1000"),
    (("--batch-size", "0"), "--batch-size 0: use a whole number from 1 to 64"),
    (("--duration", "nan"), "--duration nan: give a number of seconds"),
    (("--prompt", " "), "--prompt is empty"),
    (("--retake-seed", "x"), "--retake-seed: 'x' is not a seed"),
    (("--params", "none.json"), "--params none.json: no such file"),
])
def test_user_mistakes_are_one_error_without_traceback(args, expected, tmp_path):
    (tmp_path / "words.txt").write_text("[verse]\nhello")
    err = _error(_offline("--prompt", "pop", "--duration", "1", *args, home=tmp_path))
    assert expected in err and len(err.strip().splitlines()) == 1


def test_memory_is_planned_before_loading(tiny_ckpt, tmp_path):
    """Item 2: a path that does not fit switches to one network at a time, or stops saying what to change."""
    from acestep_core.checkpoint import open_checkpoint
    from acestep_core.audio.geometry import frames_for_duration, seconds_for_frames
    from acestep_core.costs import SongSize, dit_passes, memory_need, model_size

    import torch

    seconds = seconds_for_frames(frames_for_duration(1.0))  # as plan_report sizes a 1 s instrumental
    song = SongSize(frames_for_duration(seconds) + 1, seconds, 1, 2, dit_passes(2, 15, 0.5, False))
    need = memory_need(model_size(open_checkpoint(tiny_ckpt)), song, torch.float32)
    between = (need.default + need.one_at_a_time) / 2 / 1e9
    proc = _offline("--prompt", "pop", *FAST, "--checkpoint", str(tiny_ckpt), "--memory-limit", f"{between:.6f}",
                    "--out", "m.wav", home=tmp_path)
    _ok(proc)
    assert "loading one network at a time instead (as with --low-memory" in proc.stderr
    err = _error(_offline("--prompt", "pop", "--duration", "60", "--checkpoint", str(tiny_ckpt), "--memory-limit",
                          "0.5", home=tmp_path))
    assert "not enough memory in RAM: this song needs about" in err and "--low-memory" in err
    assert "nothing smaller on this path fits" in err  # the tiny model's need is the process itself
    assert not list(tmp_path.glob("*.wav"))[1:]


def test_help_shows_defaults_examples_memory_and_time(tmp_path):
    proc = _offline("--help", home=tmp_path)
    assert proc.returncode == 0
    out = proc.stdout
    assert "(default: float32)" in out and "examples:" in out and "--task repaint --src-audio song.wav" in out
    assert "--low-memory (one at a time)" in out and "15.2 / 16.1 / 17.4 / 25.5 GB" in out
    assert "12 minutes on a 2-core CPU" in out


def test_readme_command_is_the_one_tested():
    """The offline tests above run the README's own command: keep the two the same."""
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if ln.startswith(".venv/bin/acestep-v1 "))
    assert tuple(shlex.split(line)[1:]) == README_COMMAND
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme


def test_train_lora_is_a_subcommand():
    """`acestep-v1 train-lora` reaches the LoRA trainer's CLI (acestep_core.training.cli)."""
    proc = subprocess.run([sys.executable, "-m", "acestep_core", "train-lora", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--data" in proc.stdout and "--resume" in proc.stdout and "--save-every" in proc.stdout
    main_help = subprocess.run([sys.executable, "-m", "acestep_core", "--help"], capture_output=True, text=True,
                               timeout=120)
    assert "train-lora" in main_help.stdout
