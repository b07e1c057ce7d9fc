"""The vocoder's log-mel front end (spec §6.2), without torchaudio.

The DCAE was trained on this exact spectrogram, so the encode path must reproduce it: reflect
padding instead of centring, a ``sqrt(re² + im² + 1e-6)`` magnitude, a slaney/slaney mel
filterbank and ``log(clamp(·, 1e-5))``. The window and filterbank are persistent buffers (they are
stored in the vocoder checkpoint); a checkpoint that lacks them keeps the values computed here.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_F_SP = 200.0 / 3  # Hz per mel below 1 kHz (slaney)
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # = 15
_LOGSTEP = math.log(6.4) / 27.0


def hann_window(length: int = 2048) -> torch.Tensor:
    """Periodic Hann window, float32 (``torch.hann_window``'s default, which upstream registers)."""
    return torch.hann_window(length, periodic=True, dtype=torch.float32)


def hz_to_mel_slaney(freq: float) -> float:
    """Slaney mel of a frequency, in Python float64 as torchaudio computes the band edges."""
    if freq >= _MIN_LOG_HZ:
        return _MIN_LOG_MEL + math.log(freq / _MIN_LOG_HZ) / _LOGSTEP
    return freq / _F_SP


def mel_to_hz_slaney(mels: torch.Tensor) -> torch.Tensor:
    """Inverse slaney mapping, elementwise in the tensor's dtype (float32 for the filterbank)."""
    linear = _F_SP * mels
    log_part = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (mels - _MIN_LOG_MEL))
    return torch.where(mels >= _MIN_LOG_MEL, log_part, linear)


def mel_filterbank(
    n_freqs: int = 1025,
    f_min: float = 40.0,
    f_max: float = 16000.0,
    n_mels: int = 128,
    sample_rate: int = 44100,
) -> torch.Tensor:
    """Slaney-scale, slaney-normalised triangular filterbank ``[n_freqs, n_mels]`` in float32.

    Same steps and dtypes as torchaudio's ``melscale_fbanks(..., norm="slaney", mel_scale="slaney")``
    so the stored checkpoint buffer is reproduced exactly when it is missing.
    """
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float32)
    m_pts = torch.linspace(hz_to_mel_slaney(f_min), hz_to_mel_slaney(f_max), n_mels + 2, dtype=torch.float32)
    f_pts = mel_to_hz_slaney(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = torch.max(torch.zeros(1), torch.min(down, up))
    enorm = 2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])
    return fb * enorm.unsqueeze(0)


class _KeepsComputedBuffers(nn.Module):
    """Lets ``load_state_dict(strict=True)`` accept a checkpoint that omits our persistent buffers.

    The buffers are derived data; older or repackaged files may drop them, and then the computed
    values are the right ones.
    """

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name, buf in self._buffers.items():
            if buf is not None and prefix + name not in state_dict:
                state_dict[prefix + name] = buf
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class LinearSpectrogram(_KeepsComputedBuffers):
    """Magnitude STFT with upstream's padding (reflect, ``(win−hop)/2`` each side, not centred)."""

    def __init__(self, n_fft: int = 2048, win_length: int = 2048, hop_length: int = 512) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.register_buffer("window", hann_window(win_length))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``[..., N]`` → ``[..., n_fft/2+1, frames]`` in ``y``'s dtype (``[B, 1, N]`` → ``[B, F, T]``)."""
        if y.ndim == 3 and y.shape[1] == 1:
            y = y.squeeze(1)
        lead = y.shape[:-1]
        left = (self.win_length - self.hop_length) // 2
        right = (self.win_length - self.hop_length + 1) // 2
        flat = F.pad(y.reshape(-1, 1, y.shape[-1]), (left, right), mode="reflect").squeeze(1)
        compute = torch.promote_types(flat.dtype, torch.float32)  # half types run the STFT in float32
        spec = torch.stft(
            flat.to(compute),
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(compute),
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        spec = torch.view_as_real(spec)
        mag = torch.sqrt(spec.pow(2).sum(-1) + 1e-6).to(y.dtype)
        return mag.reshape(lead + mag.shape[-2:])


class MelScale(_KeepsComputedBuffers):
    """Projects a linear spectrogram onto the mel filterbank (buffer ``fb``)."""

    def __init__(
        self,
        n_mels: int = 128,
        sample_rate: int = 44100,
        f_min: float = 40.0,
        f_max: float = 16000.0,
        n_stft: int = 1025,
    ) -> None:
        super().__init__()
        self.register_buffer("fb", mel_filterbank(n_stft, f_min, f_max, n_mels, sample_rate))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """``[..., n_stft, frames]`` → ``[..., n_mels, frames]``."""
        return torch.matmul(spec.transpose(-1, -2), self.fb).transpose(-1, -2)


class LogMelSpectrogram(nn.Module):
    """Natural-log mel spectrogram: the DCAE's input space and the vocoder's ``mel_transform``."""

    def __init__(
        self,
        sample_rate: int = 44100,
        n_fft: int = 2048,
        win_length: int = 2048,
        hop_length: int = 512,
        n_mels: int = 128,
        f_min: float = 40.0,
        f_max: float | None = 16000.0,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.spectrogram = LinearSpectrogram(n_fft, win_length, hop_length)
        self.mel_scale = MelScale(n_mels, sample_rate, f_min, f_max or sample_rate // 2, n_fft // 2 + 1)
        if dtype is not None or device is not None:
            self.to(device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., N]`` waveform → ``[..., n_mels, N/hop]`` log-mel."""
        return torch.log(torch.clamp(self.mel_scale(self.spectrogram(x)), min=1e-5))
