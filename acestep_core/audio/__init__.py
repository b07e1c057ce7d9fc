"""Audio ↔ latent geometry, audio files and resampling (public: what the nodes and the CLI use)."""
from .geometry import (MAX_DURATION, MAX_FRAMES, OUTPUT_SAMPLE_RATE, SAMPLE_RATE, SAMPLES_PER_LATENT, check_frames,
                       frames_for_duration, seconds_for_frames)

__all__ = [
    "MAX_DURATION", "MAX_FRAMES", "OUTPUT_SAMPLE_RATE", "SAMPLE_RATE", "SAMPLES_PER_LATENT", "check_frames",
    "frames_for_duration", "seconds_for_frames",
]
