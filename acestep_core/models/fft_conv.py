"""Wide 1-D convolutions by overlap-save FFT: the vocoder's long-kernel layers in fewer multiplies.

The vocoder's 128–512-channel ResBlocks hold most of the decode's arithmetic, and their direct
convolutions already run near this CPU's GEMM peak, so only fewer FLOPs make them faster. In the
frequency domain a block of ``n`` samples costs one complex channel-mixing product per frequency
bin instead of one real product per kernel tap: for k = 13 and n = 64, 33 bins per 52 outputs
against 13 taps per output, ~5× fewer multiplies (measured 1.5–3× per layer on a CPU, float32
error the size of the direct convolution's own: ~2e-6 of the RMS against float64).

A dilated convolution is split into its ``d`` phases (every d-th sample), each an undilated
convolution with the same kernel, so every layer uses the short block of its undilated kernel and
one spectrum serves all phases. The kernel spectra cost a DFT of every weight and 2.5–5× the
weight's memory, so callers compute them once per song and drop them (``MusicVocoder.spectral``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Rules = tuple[tuple[int, int], ...]
"""``(narrowest width, shortest kernel)`` pairs, widest first: a convolution at least that wide
runs by FFT from that kernel length on (the first pair its width reaches decides)."""

AVX512_RULES: Rules = ((128, 11),)
"""Measured on AVX-512 CPUs (Intel Xeon with AMX, bench/RESULTS.md): narrower layers and k = 7
lose or break even there (the direct convolutions run near the fast GEMM peak; k = 7 at ≥ 256
channels was 1.3–1.8× per layer, within noise for the whole vocoder, for 0.7 GB more spectra)."""
AVX2_RULES: Rules = ((128, 7), (64, 11))
"""Measured on an AVX2-only CPU (AMD EPYC, Zen 1): with half the vector width the direct
convolutions are slower against the transforms, and per layer k = 7 wins 1.4–2.1× at 128–512
channels and k = 11/13 1.1–2× at 64 (k = 3 loses everywhere: 0.4–0.9×)."""


def cpu_rules() -> Rules:
    """The rules measured for this CPU's vector width (``torch.backends.cpu.get_cpu_capability``)."""
    capability = torch.backends.cpu.get_cpu_capability()
    return AVX512_RULES if capability.startswith("AVX512") else AVX2_RULES


def min_kernel(width: int, rules: Rules) -> int | None:
    """The shortest kernel run by FFT at ``width`` channels under ``rules`` (None: none is)."""
    for narrowest, shortest in rules:
        if width >= narrowest:
            return shortest
    return None


def block_size(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *,
               rules: Rules) -> int | None:
    """The FFT block length worth using for this convolution on a CPU, or None for the direct one.

    Measured per layer on the vocoder's shapes (bench/RESULTS.md): 64 samples for ≥ 512 channels
    (the 33-bin spectrum stays in cache), 128 below (more outputs per block pay for the transforms).
    """
    width = min(in_channels, out_channels)
    shortest = min_kernel(width, rules)
    if stride != 1 or shortest is None or kernel_size < shortest:
        return None
    n = 64 if width >= 512 else 128
    while n < 2 * kernel_size:  # at least half of each block is output
        n *= 2
    return n


def _dft_basis(kernel_size: int, n: int, device: torch.device) -> torch.Tensor:
    """``[bins, k, 2]``: cos and sin of 2π·f·j/n, so that taps @ basis is the conjugated DFT (correlation)."""
    bins = n // 2 + 1
    angle = (2 * math.pi / n) * torch.outer(
        torch.arange(bins, dtype=torch.float64, device=device),
        torch.arange(kernel_size, dtype=torch.float64, device=device),
    )
    return torch.stack([angle.cos(), angle.sin()], dim=-1).float()


def kernel_spectrum(weight: torch.Tensor, n: int) -> torch.Tensor:
    """Conjugated length-``n`` DFT of each kernel ``[out, in, k]``, laid out ``[bins, in, out]`` (complex64).

    One real product with a cos/sin basis writes the layout the channel mixing needs directly
    (2.5× faster than ``rfft`` + transpose for 512 channels).
    """
    out_ch, in_ch, k = weight.shape
    taps = weight.detach().float().permute(1, 0, 2).reshape(in_ch * out_ch, k)
    spectrum = torch.matmul(taps, _dft_basis(k, n, weight.device))  # [bins, in·out, 2]
    return torch.view_as_complex(spectrum).view(-1, in_ch, out_ch)


def fft_conv1d(
    x: torch.Tensor,
    spectrum: torch.Tensor,
    bias: torch.Tensor | None,
    kernel_size: int,
    padding: int = 0,
    dilation: int = 1,
) -> torch.Tensor:
    """``F.conv1d(x, w, bias, 1, padding, dilation)`` for ``x [B, C, L]``, given ``kernel_spectrum(w, n)``."""
    batch, channels, length = x.shape
    bins, _, out_ch = spectrum.shape
    n = 2 * (bins - 1)
    hop = n - kernel_size + 1  # outputs per block that see no wrap-around
    out_len = length + 2 * padding - (kernel_size - 1) * dilation
    if out_len < 1:
        raise ValueError(f"input of {length} samples is shorter than the kernel's span")
    per_phase = -(-out_len // dilation)
    blocks = -(-per_phase // hop)
    phase_len = (blocks - 1) * hop + n
    # Sample q·d + r of the padded input is sample q of phase r: [B, C, phase_len, d].
    xp = F.pad(x, (padding, phase_len * dilation - length - padding)).view(batch, channels, phase_len, dilation)
    spec = torch.fft.rfft(xp.unfold(2, n, hop), dim=-1)  # [B, C, blocks, d, bins]
    rows = batch * blocks * dilation
    mixed = torch.matmul(spec.permute(4, 0, 2, 3, 1).reshape(bins, rows, channels), spectrum)
    mixed = mixed.view(bins, batch, blocks, dilation, out_ch).permute(1, 4, 2, 3, 0)
    y = torch.fft.irfft(mixed, n=n, dim=-1)[..., :hop]  # [B, O, blocks, d, hop]
    y = y.transpose(-1, -2).reshape(batch, out_ch, blocks * hop * dilation)[..., :out_len]
    if bias is not None:
        y = y + bias[:, None]
    return y
