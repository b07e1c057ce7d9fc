"""ComfyUI values ↔ acestep_core values, and the progress/interrupt plumbing.

* LATENT: ComfyUI's dict `{"samples": [B, 8, 16, T], "type": "audio", ...}`, the same numbers as
  native ACE-Step latents (`EmptyAceStepLatentAudio`, `VAEEncodeAudio`). Our nodes may add one
  private key, `"acestep_v1"`, holding what the original needs beyond the tensor (the source length
  in seconds, a repaint/extend region) and the frame count it was made for. Nodes that build a new
  dict drop it (everything then falls back to frames); the native latent nodes that copy the dict
  (LatentCut, LatentConcat, LatentBatch, LatentFromBatch, RepeatLatentBatch, ...) keep it while
  they change the samples, so `latent_meta` only returns what still describes them.
* AUDIO: `{"waveform": float32 [B, C, N], "sample_rate": int}`.
* Progress: one ComfyUI ProgressBar tick per denoising step / decode chunk, and an interrupt check
  at every tick, so Cancel stops within one step or chunk; the decode also checks before every
  layer (`layer_check`), so Cancel stops it within about a second on the real model.

Inputs are never modified: every helper returns new dicts/tensors.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

import comfy.model_management as mm
import comfy.utils

META_KEY = "acestep_v1"
FRAMES_KEY = "frames"  # in the record: the latent length it describes


class AceStepInputError(ValueError):
    """Bad input to an ACE-Step node; the message names the problem and the fix."""


# ------------------------------------------------------------------------------------------ LATENT

def _foreign_latent_hint(shape: tuple[int, ...]) -> str:
    if len(shape) == 3 and shape[1] == 64:
        return "a Stable Audio or ACE-Step 1.5 audio latent [B, 64, T]"
    if len(shape) == 4 and shape[1] == 4:
        return "an SD1.x/SDXL image latent [B, 4, H, W]"
    if len(shape) == 4 and shape[1] == 16:
        return "an SD3/Flux image latent [B, 16, H, W]"
    if len(shape) == 5:
        return "a video latent [B, C, T, H, W]"
    return "not an ACE-Step v1 latent"


def ace_latent(latent: Any, what: str = "latent") -> torch.Tensor:
    """The `samples` tensor of an ACE-Step v1 LATENT ([B, 8, 16, T]), or a clear error."""
    if not isinstance(latent, dict) or "samples" not in latent:
        raise AceStepInputError(
            f"{what}: expected a LATENT (a dict with 'samples'), got {type(latent).__name__}. "
            "Connect an ACE-Step latent, e.g. from AceStepV1EmptyLatent or EmptyAceStepLatentAudio.")
    samples = latent["samples"]
    if not isinstance(samples, torch.Tensor):
        raise AceStepInputError(f"{what}: 'samples' is {type(samples).__name__}, not a tensor.")
    shape = tuple(samples.shape)
    if len(shape) != 4 or shape[1] != 8 or shape[2] != 16:
        raise AceStepInputError(
            f"{what}: shape {list(shape)} is {_foreign_latent_hint(shape)}, from another model. ACE-Step v1 "
            "latents are [B, 8, 16, T]: use AceStepV1EmptyLatent, EmptyAceStepLatentAudio, AceStepV1AudioToLatent "
            "or VAEEncodeAudio with the ACE-Step VAE.")
    if shape[0] < 1 or shape[3] < 1:
        raise AceStepInputError(f"{what}: the latent is empty (shape {list(shape)}).")
    if not samples.is_floating_point():
        raise AceStepInputError(f"{what}: 'samples' has dtype {samples.dtype}; expected floating point.")
    if not torch.isfinite(samples).all():
        raise AceStepInputError(f"{what}: the latent contains NaN or infinite values.")
    return samples


def latent_meta(latent: dict) -> dict:
    """Our private record in a LATENT, as far as it still describes the latent's samples.

    A native node may have copied the record along while cutting, joining or re-batching the
    samples. Another frame count than the stamped one drops the source length (the frames are then
    the measure, as for a native latent). A region keeps its own `frames`: the sampler refuses a
    region whose length changed, the region nodes replace it. An extend region re-batched by a
    native node gets its source rebuilt from the padded samples, item for item.
    """
    meta = latent.get(META_KEY)
    samples = latent.get("samples")
    if not isinstance(meta, dict) or not isinstance(samples, torch.Tensor) or samples.ndim != 4:
        return {}
    meta = dict(meta)
    if meta.pop(FRAMES_KEY, None) != int(samples.shape[-1]):
        meta.pop("source_seconds", None)
    if isinstance(meta.get("region"), dict):
        meta["region"] = _rebatched_region(meta["region"], samples)
    return meta


def region_is_current(region: dict | None, samples: torch.Tensor) -> bool:
    """Whether a region record was made for a latent of this length (not one a native node cut or joined)."""
    return isinstance(region, dict) and region.get("frames") == int(samples.shape[-1])


def _rebatched_region(region: dict, samples: torch.Tensor) -> dict:
    """An extend region whose source has another batch than the latent: the source cut out of the samples.

    The padded latent is the source with `left` and `right` zero frames, so after LatentFromBatch,
    LatentBatch or RepeatLatentBatch its middle is each item's own source.
    """
    source = region.get("source")
    if (region.get("task") != "extend" or not isinstance(source, torch.Tensor)
            or not region_is_current(region, samples) or source.shape[0] == samples.shape[0]
            or not isinstance(region.get("left"), int) or not isinstance(region.get("right"), int)):
        return region
    end = int(samples.shape[-1]) - region["right"]
    return {**region, "source": samples[..., region["left"]:end]}


def make_latent(samples: torch.Tensor, meta: dict | None = None, noise_mask: torch.Tensor | None = None) -> dict:
    """A new LATENT dict in ComfyUI's format: float32 on the intermediate device, `type: audio`.

    A record (`meta`) is stamped with the frame count it describes (see `latent_meta`).
    """
    out: dict = {"samples": samples.detach().to(device=mm.intermediate_device(), dtype=torch.float32),
                 "type": "audio"}
    if noise_mask is not None:
        out["noise_mask"] = noise_mask.to(device=mm.intermediate_device(), dtype=torch.float32)
    if meta:
        out[META_KEY] = {**meta, FRAMES_KEY: int(samples.shape[-1])}
    return out


# ------------------------------------------------------------------------------------------ AUDIO

def audio_input(audio: Any, what: str = "audio") -> tuple[torch.Tensor, int]:
    """(waveform [B, C, N] float32, sample_rate) of a ComfyUI AUDIO, checked."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise AceStepInputError(
            f"{what}: expected an AUDIO ({{'waveform', 'sample_rate'}}), got {type(audio).__name__}; "
            "connect LoadAudio or another AUDIO output.")
    wave, sr = audio["waveform"], audio["sample_rate"]
    if not isinstance(wave, torch.Tensor):
        raise AceStepInputError(f"{what}: 'waveform' is {type(wave).__name__}, not a tensor.")
    if wave.ndim == 2:
        wave = wave.unsqueeze(0)
    if wave.ndim != 3:
        raise AceStepInputError(f"{what}: waveform shape {list(wave.shape)}; expected [batch, channels, samples].")
    if wave.shape[-1] == 0:
        raise AceStepInputError(f"{what}: the audio has no samples.")
    if wave.shape[1] not in (1, 2):
        raise AceStepInputError(
            f"{what}: {wave.shape[1]} channels; ACE-Step encodes mono or stereo. Split or mix the channels first "
            "(e.g. SplitAudioChannels).")
    try:
        sr_int = int(sr)
    except (TypeError, ValueError):
        raise AceStepInputError(f"{what}: sample_rate {sr!r} is not a number.") from None
    if sr_int <= 0 or sr_int != sr:
        raise AceStepInputError(f"{what}: sample_rate {sr!r} must be a positive integer.")
    if not wave.is_floating_point():
        raise AceStepInputError(f"{what}: waveform dtype {wave.dtype}; expected float samples in [-1, 1].")
    return wave.to(torch.float32), sr_int


def make_audio(waveform: torch.Tensor, sample_rate: int) -> dict:
    return {"waveform": waveform.detach().to(device="cpu", dtype=torch.float32).contiguous(),
            "sample_rate": int(sample_rate)}


# ------------------------------------------------------------------------------------------ progress

def step_progress(total: int | None = None) -> Callable[[int, int, Any], None]:
    """A sampler callback `(step, total, latents)`: progress bar tick + interrupt check."""
    pbar = comfy.utils.ProgressBar(max(1, int(total or 1)))

    def callback(step: int, steps: int, _latents=None) -> None:
        mm.throw_exception_if_processing_interrupted()
        pbar.update_absolute(int(step), int(steps))

    return callback


def layer_check() -> Callable[[], None]:
    """A decode's `on_layer` hook: ComfyUI's interrupt check alone, no progress tick.

    Why: the decoder and vocoder passes between progress ticks run for tens of seconds on a CPU
    with the real model; this runs before each of their layers, so Cancel stops within one layer.
    """
    return mm.throw_exception_if_processing_interrupted


def chunk_progress(total: int | None = None) -> Callable[[int, int], None]:
    """A decode/encode callback `(done, total)`: progress bar tick + interrupt check."""
    pbar = comfy.utils.ProgressBar(max(1, int(total or 1)))

    def on_chunk(done: int, chunks: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        pbar.update_absolute(int(done), int(chunks))

    return on_chunk
