"""Where songs are written: each audio file with its `_input_params.json` beside it, named as a pair.

The original writes `<audio>.replace(".<fmt>", "_input_params.json")`; we keep that naming and never
overwrite anything, so a name is only used when both the audio file and its record are free
(`song_1.flac` always pairs with `song_1_input_params.json`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .audio.io import FORMATS, with_format

AUDIO_FORMATS = tuple(FORMATS)  # the extensions save_audio writes: wav, flac, ogg, mp3
PARAMS_SUFFIX = "_input_params.json"


def params_path(audio: Path) -> Path:
    """The record that belongs to an audio file: `NAME.ext` → `NAME_input_params.json`."""
    return audio.with_name(audio.name[: -len(audio.suffix)] + PARAMS_SUFFIX if audio.suffix else
                           audio.name + PARAMS_SUFFIX)


def is_folder_target(save_path: str | Path | None) -> bool:
    """None, an existing folder or a path ending in a slash means "a new file in that folder"."""
    return save_path is None or Path(save_path).is_dir() or str(save_path).endswith(("/", "\\"))


def free_pair(path: Path) -> Path:
    """The first of `path`, `stem_1.ext`, `stem_2.ext`… whose audio file and record are both free."""
    k = 0
    while True:
        candidate = path if k == 0 else path.with_name(f"{path.stem}_{k}{path.suffix}")
        if not candidate.exists() and not params_path(candidate).exists():
            return candidate
        k += 1


def planned_paths(save_path: str | Path | None, fmt: str, batch_size: int = 1,
                  stamp: str | None = None) -> list[Path]:
    """The audio files a call would write now (before any is written), one per batch item."""
    stamp = stamp or time.strftime("%Y%m%d%H%M%S")
    target = Path(save_path) if save_path is not None else Path("./outputs")
    if is_folder_target(save_path):
        return [free_pair(target / f"output_{stamp}_{i}.{fmt}") for i in range(batch_size)]
    first = free_pair(with_format(target, fmt))
    paths = [first]
    for _ in range(1, batch_size):  # later items count on from the first free name
        k = 1
        while (p := first.with_name(f"{first.stem}_{k}{first.suffix}")) in paths or p.exists() \
                or params_path(p).exists():
            k += 1
        paths.append(p)
    return paths


def write_outputs(waveforms: torch.Tensor, sample_rate: int, params: dict, save_path, fmt: str) -> list[str]:
    """Audio + `_input_params.json` per batch item, the original's naming, never overwriting anything."""
    from .audio.io import save_audio

    stamp = time.strftime("%Y%m%d%H%M%S")
    target = Path(save_path) if save_path is not None else Path("./outputs")
    as_dir = is_folder_target(save_path)
    paths = []
    for i in range(waveforms.shape[0]):
        wanted = target / f"output_{stamp}_{i}.{fmt}" if as_dir else with_format(target, fmt)
        wanted.parent.mkdir(parents=True, exist_ok=True)
        while True:  # save_audio reserves the audio name; retry if its record was taken meanwhile
            written = Path(save_audio(free_pair(wanted), waveforms[i], sample_rate, fmt))
            record_file = params_path(written)
            try:
                with open(record_file, "x", encoding="utf-8") as handle:
                    json.dump(dict(params, audio_path=str(written)), handle, indent=4, ensure_ascii=False)
                break
            except FileExistsError:
                written.unlink(missing_ok=True)
        paths.append(str(written))
    return paths
