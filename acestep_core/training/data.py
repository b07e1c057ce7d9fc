"""A training folder of songs: `NAME.mp3|wav|flac` + `NAME_prompt.txt` (tags) + `NAME_lyrics.txt`.

This is the layout the original's `convert2hf_dataset.py` reads (it only looked at .mp3). Audio is
prepared as the original's `Text2MusicDataset.get_audio` does: mono duplicated to stereo, only the
first two channels kept, resampled to 48 kHz, clamped to [−1, 1], right-padded with zeros to 3 s,
and refused when more than 95 % of it is silence. Problems are reported per file, with the fix,
so a run either skips the song or stops before training, never half-way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..audio.geometry import (
    MAX_DURATION,
    OUTPUT_SAMPLE_RATE,
    SAMPLE_RATE,
    SAMPLES_PER_LATENT,
)
from ..audio.io import load_audio
from ..audio.resample import resample, resampled_length

AUDIO_EXTENSIONS = (".mp3", ".wav", ".flac")
PROMPT_SUFFIX = "_prompt.txt"
LYRICS_SUFFIX = "_lyrics.txt"
MIN_SECONDS = 3.0  # the original pads shorter clips to 3 s
MAX_PROMPT_CHARS = 256  # the original cuts the (shuffled) tag string here
SILENCE_RATIO = 0.95  # the original drops clips with more silent samples than this


class DataError(ValueError):
    """A song of the training folder that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class Song:
    """One usable song: its audio file, its tags and its lyrics."""

    name: str
    audio: Path
    prompt: str
    lyrics: str


def _read_text(path: Path, what: str, audio: Path) -> str:
    if not path.is_file():
        raise DataError(f"{audio.name}: no {path.name} beside it; write the song's {what} into {path}.")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read it as UTF-8 text ({e}); save it as UTF-8.") from e
    if not text:
        hint = 'write "[instrumental]" for a song without vocals' if what == "lyrics" else "write its tags"
        raise DataError(f"{path}: the {what} file is empty; {hint}.")
    return text


def find_songs(folder: str | Path) -> tuple[list[Song], list[DataError]]:
    """Every audio file of `folder` (sorted by name) with its text files; problems are returned, not raised."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"training data folder {root}: no such folder; pass the folder holding NAME.mp3/wav/flac "
                        f"with NAME{PROMPT_SUFFIX} and NAME{LYRICS_SUFFIX}.")
    songs: list[Song] = []
    problems: list[DataError] = []
    audio_files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    seen: dict[str, Path] = {}
    for audio in audio_files:
        name = audio.stem
        if name in seen:
            problems.append(DataError(f"{audio.name}: {seen[name].name} has the same name; rename one of them so "
                                      "each song has its own text files."))
            continue
        seen[name] = audio
        try:
            prompt = _read_text(root / f"{name}{PROMPT_SUFFIX}", "tags", audio)
            lyrics = _read_text(root / f"{name}{LYRICS_SUFFIX}", "lyrics", audio)
        except DataError as e:
            problems.append(e)
            continue
        songs.append(Song(name, audio, prompt, lyrics))
    if not audio_files:
        raise DataError(f"training data folder {root} has no .mp3, .wav or .flac file.")
    return songs, problems


def read_training_audio(path: str | Path) -> torch.Tensor:
    """The model's input for one song: float32 [2, N] at 48 kHz (the original's `get_audio`)."""
    path = Path(path)
    try:
        wave, sr = load_audio(path)
    except (OSError, ValueError) as e:
        raise DataError(f"{path.name}: unreadable audio ({e}); re-export it as WAV or FLAC.") from e
    if not torch.isfinite(wave).all():
        raise DataError(f"{path.name}: the audio contains NaN or infinite samples; re-export it.")
    n = wave.shape[-1]
    if resampled_length(n, sr, SAMPLE_RATE) < SAMPLES_PER_LATENT:
        raise DataError(f"{path.name}: {n / sr:.3f} s is shorter than one latent frame "
                        f"({SAMPLES_PER_LATENT / SAMPLE_RATE:.3f} s); use a longer clip.")
    if n / sr > MAX_DURATION:
        raise DataError(f"{path.name}: {n / sr:.1f} s is longer than the model's {MAX_DURATION:.0f} s; "
                        "cut it into parts of at most 240 s.")
    wave = wave[:2] if wave.shape[0] >= 2 else wave.repeat(2, 1)
    wave = resample(wave, sr, OUTPUT_SAMPLE_RATE).clamp(-1.0, 1.0)
    minimum = int(OUTPUT_SAMPLE_RATE * MIN_SECONDS)
    if wave.shape[-1] < minimum:
        wave = torch.nn.functional.pad(wave, (0, minimum - wave.shape[-1]))
    silent = (wave == 0).all(dim=0).float().mean().item()
    if silent > SILENCE_RATIO:
        raise DataError(f"{path.name}: {silent:.0%} of it is digital silence; remove it from the training folder.")
    return wave.contiguous()


def check_songs(songs: list[Song]) -> tuple[list[Song], list[DataError]]:
    """Read every song's audio once, before any model is loaded, so bad files surface up front."""
    good, problems = [], []
    for song in songs:
        try:
            read_training_audio(song.audio)
        except DataError as e:
            problems.append(e)
            continue
        good.append(song)
    return good, problems


def scan_songs(folder: str | Path, refuse_bad: bool, skip_hint: str) -> tuple[list[Song], list[DataError]]:
    """Find and check every song of `folder`: the usable ones and the problems of the others.

    `refuse_bad`: any problem raises one DataError listing them all, ending with "Fix them, or
    {skip_hint}" (how the caller's user skips bad songs). No usable song at all always raises.
    """
    songs, problems = find_songs(folder)
    songs, audio_problems = check_songs(songs)
    problems += audio_problems
    if problems and refuse_bad:
        lines = "\n  ".join(str(p) for p in problems)
        raise DataError(f"{len(problems)} song(s) of {folder} cannot be used:\n  {lines}\nFix them, or {skip_hint}.")
    if not songs:
        raise DataError(f"no usable song in {folder}; each needs NAME.mp3/wav/flac, NAME{PROMPT_SUFFIX} and "
                        f"NAME{LYRICS_SUFFIX} beside it.")
    return songs, problems
