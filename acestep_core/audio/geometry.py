"""Latent/mel/sample geometry and the normalisation constants of ACE-Step v1 (spec §1, §6.7).

One latent frame is 8 mel frames of 512 samples at 44.1 kHz. These formulas decide how many
frames a duration or an input file gets and how long the decoded audio is; upstream evaluates
them in Python floats in a fixed order, so they are reproduced here exactly rather than "fixed".
"""
from __future__ import annotations

import random

from .resample import resampled_length

SAMPLE_RATE = 44100
"""Native rate of the vocoder (and of the DCAE's mel)."""
OUTPUT_SAMPLE_RATE = 48000
"""Rate the upstream pipeline resamples its output to."""
HOP_LENGTH = 512
MEL_FRAMES_PER_LATENT = 8
SAMPLES_PER_LATENT = HOP_LENGTH * MEL_FRAMES_PER_LATENT  # 4096
N_MELS = 128
LATENT_CHANNELS = 8
LATENT_HEIGHT = 16

LATENT_SCALE = 0.1786
LATENT_SHIFT = -1.9091
MEL_MIN = -11.0
MEL_MAX = 3.0


def frames_for_duration(seconds: float) -> int:
    """Latent frames for a requested duration: ``int(d·44100/512/8)``, left to right in float64."""
    return int(seconds * SAMPLE_RATE / HOP_LENGTH / MEL_FRAMES_PER_LATENT)


MAX_DURATION = 240.0
"""The longest song the model was trained on, in seconds."""
MAX_FRAMES = frames_for_duration(MAX_DURATION)  # 2583


def check_frames(frames: int, what: str = "audio_duration") -> int:
    """A frame count the model can generate (1 to MAX_FRAMES), or a ValueError naming `what`."""
    if frames < 1:
        raise ValueError(f"{what} is too short: it gives {frames} latent frames; use at least 0.1 s")
    if frames > MAX_FRAMES:
        raise ValueError(f"{what} gives {frames} latent frames, more than the model's maximum {MAX_FRAMES} (240 s)")
    return frames


def frames_for_samples(num_samples: int, sample_rate: int) -> int:
    """Latent frames the encoder yields for ``num_samples`` at ``sample_rate`` (resample, pad to 4096)."""
    n44 = resampled_length(num_samples, sample_rate, SAMPLE_RATE)
    return -(-n44 // SAMPLES_PER_LATENT)


def samples_for_frames(frames: int, sample_rate: int | None = OUTPUT_SAMPLE_RATE, *, overlapped: bool = False) -> int:
    """Decoded length: ``4096·T`` at 44.1 kHz, else ``ceil`` (plain) or ``int`` (overlapped) of the ratio."""
    native = SAMPLES_PER_LATENT * int(frames)
    if sample_rate is None or sample_rate == SAMPLE_RATE:
        return native
    if overlapped:
        return int(native * sample_rate / SAMPLE_RATE)
    return resampled_length(native, SAMPLE_RATE, sample_rate)


def seconds_for_frames(frames: int) -> float:
    """Audio duration of ``frames`` latent frames (≤ the duration that produced them)."""
    return frames * SAMPLES_PER_LATENT / SAMPLE_RATE


__all__ = [
    "SAMPLE_RATE",
    "OUTPUT_SAMPLE_RATE",
    "HOP_LENGTH",
    "MEL_FRAMES_PER_LATENT",
    "SAMPLES_PER_LATENT",
    "N_MELS",
    "LATENT_CHANNELS",
    "LATENT_HEIGHT",
    "LATENT_SCALE",
    "LATENT_SHIFT",
    "MEL_MIN",
    "MEL_MAX",
    "MAX_DURATION",
    "MAX_FRAMES",
    "check_frames",
    "frames_for_duration",
    "frames_for_samples",
    "samples_for_frames",
    "seconds_for_frames",
]


def random_duration(seed: int) -> float:
    """The original's song length when audio_duration <= 0: 30–240 s drawn from the first seed."""
    return random.Random(seed).uniform(30.0, MAX_DURATION)
