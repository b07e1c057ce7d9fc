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


def free_pair(path: Path, taken: list[Path] | tuple[Path, ...] = ()) -> Path:
    """The first of `path`, `stem_1.ext`, `stem_2.ext`… whose audio file and record are both free
    (and that is not among `taken`)."""
    k = 0
    while True:
        candidate = path if k == 0 else path.with_name(f"{path.stem}_{k}{path.suffix}")
        if candidate not in taken and not candidate.exists() and not params_path(candidate).exists():
            return candidate
        k += 1


def wanted_path(save_path: str | Path | None, fmt: str, item: int, stamp: str) -> Path:
    """The name batch item `item` asks for: `output_<stamp>_<item>.<fmt>` in a folder target, else the file."""
    target = Path(save_path) if save_path is not None else Path("./outputs")
    return target / f"output_{stamp}_{item}.{fmt}" if is_folder_target(save_path) else with_format(target, fmt)


def planned_paths(save_path: str | Path | None, fmt: str, batch_size: int = 1,
                  stamp: str | None = None) -> list[Path]:
    """The audio files a call would write now (before any is written), one per batch item, named as
    `write_outputs` names them."""
    stamp = stamp or time.strftime("%Y%m%d%H%M%S")
    paths: list[Path] = []
    for i in range(batch_size):
        paths.append(free_pair(wanted_path(save_path, fmt, i, stamp), taken=paths))
    return paths


def write_outputs(waveforms: torch.Tensor, sample_rate: int, params: dict, save_path, fmt: str) -> list[str]:
    """Audio + `_input_params.json` per batch item, the original's naming, never overwriting anything."""
    from .audio.io import save_audio

    stamp = time.strftime("%Y%m%d%H%M%S")
    paths = []
    for i in range(waveforms.shape[0]):
        wanted = wanted_path(save_path, fmt, i, stamp)
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
