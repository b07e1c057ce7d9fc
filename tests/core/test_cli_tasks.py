"""Every task of the original through the real CLI entry point, on the tiny checkpoint, offline (issue #22, 7)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from golden_utils import GOLDEN

SOURCE = GOLDEN / "inputs" / "src_sines_48k.wav"
LORA = GOLDEN / "tiny_lora"
FAST = ("--steps", "2", "--seed", "5")


def _cli(*args: str, home: Path, ckpt: Path, vocab: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACESTEP_", "HF_"))}
    env.update(HF_HUB_OFFLINE="1", HOME=str(home))
    return subprocess.run([sys.executable, "-m", "acestep_core", *args, "--checkpoint", str(ckpt),
                           "--lyric-vocab", str(vocab)], capture_output=True, text=True, env=env, timeout=300,
                          cwd=home)


def _record(home: Path, name: str) -> dict:
    return json.loads((home / f"{name}_input_params.json").read_text())


CASES = {
    "retake": (("--task", "retake", "--duration", "1", "--retake-seed", "9", "--retake-variance", "0.3"),
               {"task": "retake", "retake_seeds": [9], "retake_variance": 0.3}),
    "repaint": (("--task", "repaint", "--src-audio", str(SOURCE), "--repaint-start", "0.5", "--repaint-end", "1.0"),
                {"task": "repaint", "repaint_start": 0.5, "repaint_end": 1.0, "src_audio_path": str(SOURCE)}),
    "extend": (("--task", "extend", "--src-audio", str(SOURCE), "--extend-left", "0.5", "--extend-right", "1"),
               {"task": "extend", "repaint_start": -0.5, "retake_variance": 1.0}),
    "edit": (("--task", "edit", "--src-audio", str(SOURCE), "--lyrics", "[verse]\\nold words",
              "--edit-lyrics", "[verse]\\nnew words", "--edit-n-min", "0.6"),
             {"task": "edit", "lyrics": "[verse]\nnew words", "edit_n_min": 0.6}),
    "audio2audio": (("--ref-audio", str(SOURCE), "--ref-strength", "0.6"),
                    {"task": "audio2audio", "audio2audio_enable": True, "ref_audio_strength": 0.6}),
    "lora": (("--duration", "1", "--lora", str(LORA), "--lora-weight", "0.5"),
             {"task": "text2music", "lora_name_or_path": str(LORA), "lora_weight": 0.5}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_task_through_the_cli(name, tiny_ckpt, lyric_vocab, tmp_path):
    args, expected = CASES[name]
    proc = _cli("--prompt", "pop", *args, *FAST, "--out", f"{name}.wav", home=tmp_path, ckpt=tiny_ckpt,
                vocab=lyric_vocab)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith(f"wrote {name}.wav: ") and len(proc.stdout.splitlines()) == 1
    record = _record(tmp_path, name)
    for key, value in expected.items():
        assert record[key] == value, (key, record[key])
    audio, sr = sf.read(tmp_path / f"{name}.wav")
    source_seconds = sf.info(str(SOURCE)).duration
    if name == "extend":  # 0.5 s before and 1 s after the source
        assert record["repaint_end"] == pytest.approx(source_seconds + 1.5)  # each side gets its own seconds
        assert abs(len(audio) / sr - (source_seconds + 1.5)) < 0.2
    if name in ("repaint", "edit", "audio2audio"):
        assert abs(len(audio) / sr - source_seconds) < 0.1
    assert f"{name if name != 'lora' else 'text2music'}" in proc.stderr.split("song: ", 1)[1].split(",")[0]


@pytest.mark.parametrize("args, expected", [
    (("--repaint-start", "1"), "--repaint-start is for --task repaint, not text2music"),
    (("--task", "repaint"), "--task repaint needs --src-audio (the song to repaint)"),
    (("--task", "extend", "--src-audio", "nowhere.wav"), "--src-audio nowhere.wav: no such audio file"),
    (("--src-audio", str(SOURCE)), "--src-audio needs a task that changes a song: add --task repaint"),
    (("--task", "repaint", "--src-audio", str(SOURCE), "--repaint-start", "1", "--repaint-end", "99"),
     "the range must lie inside the source"),
    (("--task", "audio2audio", "--ref-strength", "2"), "--ref-strength 2: use a number from 0 to 1"),
    (("--task", "edit", "--extend-left", "3", "--src-audio", str(SOURCE)), "--extend-left is for --task extend"),
])
def test_task_mistakes_are_one_line_errors(args, expected, tiny_ckpt, lyric_vocab, tmp_path):
    proc = _cli("--prompt", "pop", *args, home=tmp_path, ckpt=tiny_ckpt, vocab=lyric_vocab)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
