"""Rotary position tables and ACE-Step's interleaved rotation (spec §5.5, §14 item 12).

The DiT pairs channels as interleaved pairs (0,1), (2,3), ... for the rotation, but its tables use
the "rotate-half" frequency layout (``cat([angles, angles])``), so the two elements of a pair turn
with different frequencies. That is how the model was trained, so it is reproduced exactly here.
"""
from __future__ import annotations

import torch


def rope_inv_freq(dim: int, theta: float, device: torch.device | str | None = None) -> torch.Tensor:
    """``1 / theta^(2j/dim)`` in float32, formed exactly as upstream (int64 arange cast to float)."""
    exponent = torch.arange(0, dim, 2, dtype=torch.int64, device=device).float() / dim
    return 1.0 / (theta**exponent)


def rope_tables(length: int, dim: int, theta: float,
                device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 ``(cos, sin)`` tables ``[length, dim]`` for positions ``0..length-1``.

    Every entry is an elementwise function of (position, frequency), so a table built for fewer
    rows than upstream's 32768 holds the same values in those rows.
    """
    inv_freq = rope_inv_freq(dim, theta, device)
    positions = torch.arange(length, dtype=torch.int64, device=device).to(inv_freq.dtype)
    angles = torch.outer(positions, inv_freq)
    emb = torch.cat((angles, angles), dim=-1)
    return emb.cos(), emb.sin()


class RotaryTables:
    """Lazily built, cached RoPE tables (never in the state dict).

    The float32 master table grows to the longest length requested so far (rounded up, so that a
    generation of slowly growing lengths does not rebuild it each time) and is cast once per
    (dtype, device); callers get row slices, which are views and cost nothing per step.
    """

    _ROUND = 1024

    def __init__(self, dim: int, theta: float, max_position: int) -> None:
        self.dim = dim
        self.theta = float(theta)
        self.max_position = int(max_position)
        self._master: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self._cast: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def _float32_tables(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        have = self._master.get(device)
        if have is None or have[0].shape[0] < length:
            rounded = -(-length // self._ROUND) * self._ROUND
            # Upstream's table covers max_position rows and is rebuilt longer on demand.
            capacity = max(length, min(rounded, self.max_position))
            have = rope_tables(capacity, self.dim, self.theta, device)
            self._master[device] = have
            self._cast = {k: v for k, v in self._cast.items() if k[1] != device}
        return have

    def get(self, length: int, dtype: torch.dtype, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(cos, sin)`` rows ``0..length-1`` in ``dtype`` (values computed in float32, then cast)."""
        device = torch.device(device)
        cos32, sin32 = self._float32_tables(length, device)
        key = (dtype, device)
        cast = self._cast.get(key)
        if cast is None or cast[0].shape[0] != cos32.shape[0]:
            cast = (cos32.to(dtype), sin32.to(dtype))
            self._cast[key] = cast
        return cast[0][:length], cast[1][:length]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x [..., S, D]`` with tables ``[S, D]`` using interleaved pairs; product in float32.

    ``rot[2i] = -x[2i+1]``, ``rot[2i+1] = x[2i]``; ``out = x*cos + rot*sin`` cast back to x's dtype.
    """
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)
