"""Windowed-sinc resampling that reproduces torchaudio's ``Resample`` bit for bit (spec §6.8).

Upstream resamples 44.1 kHz vocoder output to 48 kHz and any input rate to 44.1 kHz with
torchaudio's default polyphase filter (Hann-windowed sinc, 6 zero crossings, rolloff 0.99).
torchaudio is not a dependency here, so the kernel and its application are rebuilt with plain
torch, following the same operation order so the output is identical, not merely close.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

LOWPASS_FILTER_WIDTH = 6
ROLLOFF = 0.99


def _reduced_rates(orig_sr: int, new_sr: int) -> tuple[int, int]:
    """Both rates divided by their gcd: the polyphase filter has ``new`` phases and stride ``orig``."""
    if int(orig_sr) != orig_sr or int(new_sr) != new_sr or orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive integers, got {orig_sr} and {new_sr}")
    g = math.gcd(int(orig_sr), int(new_sr))
    return int(orig_sr) // g, int(new_sr) // g


def resampled_length(num_samples: int, orig_sr: int, new_sr: int) -> int:
    """Output length torchaudio gives for ``num_samples`` inputs: ``ceil(n·N/o)`` (identity if equal)."""
    if orig_sr == new_sr:
        return int(num_samples)
    o, n = _reduced_rates(orig_sr, new_sr)
    return int(math.ceil(n * num_samples / o))


@lru_cache(maxsize=32)
def _kernel_cpu(orig_sr: int, new_sr: int, compute_dtype: torch.dtype | None) -> tuple[torch.Tensor, int]:
    """The kernel as torchaudio builds it; never mutated by callers, so it is safe to cache.

    ``compute_dtype=None`` is torchaudio's default path: the tap positions are float64 except the
    per-phase offsets ``-j/new``, which torch forms in float32 (integer arange divided by an int),
    and the result is stored as float32. With a dtype, everything is computed in that dtype and
    not cast (what ``Resample(..., dtype=d)`` does; upstream's overlapped decode uses it).
    """
    o, n = _reduced_rates(orig_sr, new_sr)
    base = min(o, n) * ROLLOFF
    width = math.ceil(LOWPASS_FILTER_WIDTH * o / base)
    idx_dtype = torch.float64 if compute_dtype is None else compute_dtype
    idx = torch.arange(-width, width + o, dtype=idx_dtype)[None, None] / o
    if compute_dtype is None:
        phase = torch.arange(0, -n, -1).to(torch.float32) / n
    else:
        phase = torch.arange(0, -n, -1, dtype=compute_dtype) / n
    t = phase[:, None, None] + idx
    t = t * base
    t = t.clamp(-LOWPASS_FILTER_WIDTH, LOWPASS_FILTER_WIDTH)
    window = torch.cos(t * math.pi / LOWPASS_FILTER_WIDTH / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.ones((), dtype=t.dtype), t.sin() / t)
    kernel = kernel * (window * (base / o))
    if compute_dtype is None:
        kernel = kernel.to(torch.float32)
    return kernel, width


@lru_cache(maxsize=32)
def _kernel_on(
    orig_sr: int, new_sr: int, compute_dtype: torch.dtype | None, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, int]:
    """The cached kernel moved to the run's dtype and device (cached per key, like a module buffer)."""
    kernel, width = _kernel_cpu(orig_sr, new_sr, compute_dtype)
    return kernel.to(device=device, dtype=dtype), width


def resample_kernel(
    orig_sr: int,
    new_sr: int,
    *,
    compute_dtype: torch.dtype | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, int]:
    """``(kernel [n, 1, 2·width + o], width)``; ``dtype`` defaults to the kernel's own dtype.

    The returned tensor is shared through a cache: read it, never modify it in place.
    """
    base, _ = _kernel_cpu(int(orig_sr), int(new_sr), compute_dtype)
    return _kernel_on(
        int(orig_sr),
        int(new_sr),
        compute_dtype,
        dtype or base.dtype,
        torch.device(device) if device is not None else torch.device("cpu"),
    )


def resample(
    wave: torch.Tensor, orig_sr: int, new_sr: int, *, compute_dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Resample ``wave`` along its last dim from ``orig_sr`` to ``new_sr`` (torchaudio ``Resample``).

    The kernel takes the wave's dtype and device. ``compute_dtype`` selects how it is built (see
    ``_kernel_cpu``). Equal rates return ``wave`` itself, as torchaudio does.
    """
    if orig_sr == new_sr:
        return wave
    if not wave.is_floating_point():
        raise TypeError(f"expected a floating-point waveform, got {wave.dtype}")
    o, n = _reduced_rates(orig_sr, new_sr)
    kernel, width = resample_kernel(orig_sr, new_sr, compute_dtype=compute_dtype, dtype=wave.dtype, device=wave.device)
    shape = wave.shape
    flat = wave.reshape(-1, shape[-1])
    num_wavs, length = flat.shape
    padded = F.pad(flat, (width, width + o))
    out = F.conv1d(padded[:, None], kernel, stride=o)
    out = out.transpose(1, 2).reshape(num_wavs, -1)
    out = out[..., : resampled_length(length, orig_sr, new_sr)]
    return out.reshape(shape[:-1] + out.shape[-1:])
