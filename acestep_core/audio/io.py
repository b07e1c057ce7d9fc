"""Audio files in and out with soundfile (no torchaudio), in the layout the DCAE expects.

Waveforms are float32 tensors ``[channels, samples]`` in [−1, 1]. Upstream duplicates mono to
stereo and cannot encode more than two channels; here a multichannel file is refused unless the
caller asks for a down-mix, so nothing is silently dropped. Saving never overwrites an existing
file: the first free ``name_<k>.<ext>`` is used and returned.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "FLOAT"),
    "flac": ("FLAC", "PCM_24"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
"""Output format → (libsndfile container, subtype). WAV stays float32 so it round-trips exactly."""


class AudioFileError(ValueError):
    """A file exists but cannot be decoded as audio."""


def load_audio(path: str | os.PathLike[str]) -> tuple[torch.Tensor, int]:
    """Read a file → ``(wave float32 [C, N], sample_rate)``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    try:
        data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types (LibsndfileError, RuntimeError, TypeError)
        raise AudioFileError(f"cannot decode audio file {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise AudioFileError(f"audio file {path} contains no samples")
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(sample_rate)


def to_stereo(wave: torch.Tensor, *, downmix: bool = False) -> torch.Tensor:
    """``[C, N]`` (or ``[N]``; channels at dim −2) → ``[2, N]``-shaped stereo.

    Mono is duplicated, as upstream does. More than two channels raise ``ValueError`` unless
    ``downmix=True``, which puts the mean of all channels on both sides.
    """
    if wave.ndim == 1:
        wave = wave.unsqueeze(0)
    channels = wave.shape[-2]
    if channels == 2:
        return wave
    if channels == 1:
        return wave.repeat_interleave(2, dim=-2)
    if channels == 0:
        raise ValueError("waveform has no channels")
    if not downmix:
        raise ValueError(
            f"waveform has {channels} channels; ACE-Step encodes stereo only (pass downmix=True to average them)"
        )
    return wave.mean(dim=-2, keepdim=True).repeat_interleave(2, dim=-2)


def as_waveform(audio: Any) -> tuple[torch.Tensor, int]:
    """Normalise an audio value to ``(float32 tensor, sample_rate)``.

    Accepts a file path (read with ``load_audio``), a ``(waveform, sample_rate)`` pair or a
    mapping with ``waveform`` and ``sample_rate`` (ComfyUI's AUDIO); the waveform may be a tensor
    or a numpy array, and its shape is kept.
    """
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio)
    if isinstance(audio, Mapping):
        if "waveform" not in audio or "sample_rate" not in audio:
            raise TypeError("an audio mapping needs 'waveform' and 'sample_rate'")
        wave, sample_rate = audio["waveform"], audio["sample_rate"]
    elif isinstance(audio, (tuple, list)) and len(audio) == 2:
        wave, sample_rate = audio
    else:
        raise TypeError(f"expected a path, (waveform, sample_rate) or a mapping, got {type(audio).__name__}")
    wave = torch.as_tensor(wave)
    if not wave.is_floating_point():
        raise TypeError(f"waveform must be floating point, got {wave.dtype}")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    return wave.to(torch.float32), int(sample_rate)


def with_format(path: Path, fmt: str) -> Path:
    """`path` with the format's extension: a known audio extension is replaced, anything else kept."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix == fmt:
        return path
    if suffix in FORMATS:
        return path.with_suffix("." + fmt)
    return path.with_name(path.name + "." + fmt)


def _reserve(path: Path) -> tuple[Path, Any]:
    """Create the first free ``path``, ``stem_1.ext``, ``stem_2.ext``… exclusively (race-free)."""
    k = 0
    while True:
        candidate = path if k == 0 else path.with_name(f"{path.stem}_{k}{path.suffix}")
        try:
            return candidate, open(candidate, "xb")
        except FileExistsError:
            k += 1


def save_audio(
    path: str | os.PathLike[str],
    wave: torch.Tensor | np.ndarray,
    sample_rate: int,
    format: str | None = None,
) -> Path:
    """Write ``wave`` (``[C, N]`` or ``[N]``) as wav/flac/ogg/mp3; returns the path actually written.

    ``format`` defaults to the path's extension; the extension is made to match the format. An
    existing file is never replaced. Integer and lossy formats clip to [−1, 1].
    """
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"unsupported audio format {fmt!r}; choose one of {sorted(FORMATS)}")
    container, subtype = FORMATS[fmt]
    data = torch.as_tensor(wave).detach().to("cpu", torch.float32)
    if data.ndim == 1:
        data = data.unsqueeze(0)
    if data.ndim != 2 or data.shape[-1] == 0:
        raise ValueError(f"expected a non-empty waveform [C, N], got shape {tuple(data.shape)}")
    if subtype != "FLOAT":
        data = data.clamp(-1.0, 1.0)
    frames = np.ascontiguousarray(data.numpy().T)
    path.parent.mkdir(parents=True, exist_ok=True)
    target, handle = _reserve(with_format(path, fmt))
    try:
        with handle:
            sf.write(handle, frames, int(sample_rate), format=container, subtype=subtype)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
