"""Float32 linear layers through oneDNN on CPUs where torch's BLAS takes a slow path.

On a CPU, ``F.linear`` in float32 is MKL's sgemm, and MKL chooses its kernels by CPU vendor: on
AMD processors it runs a path at about half of what the cores can do (a 2-core AMD EPYC with
AVX-512: 110–180 GFLOP/s on the DiT's shapes), while oneDNN, which chooses by instruction set,
runs the very same product as a 1×1 convolution at 210–400 GFLOP/s. A token-major ``[rows, in]``
input already is a channels-last ``[1, in, 1, rows]`` image, so the detour costs no copies. The
sums run in another order (a few 1e-7 of the RMS, like any change of GEMM kernel).

The route is chosen once per machine, when a model is built (``operations.cpu_operations``), never
per call, so a machine always gives the same numbers. Other dtypes and devices keep ``F.linear``
(bfloat16 on a CPU already runs in oneDNN).
"""
from __future__ import annotations

import functools
import platform

import torch
import torch.nn.functional as F
from torch import nn

MIN_ROWS = 64
"""Fewer rows (a timestep embedding, one token): the convolution's set-up costs more than it saves."""

ROUTES = ("auto", "onednn", "blas")


@functools.lru_cache(maxsize=1)
def cpu_vendor() -> str:
    """``GenuineIntel``, ``AuthenticAMD``, ... as the OS reports it ('' when it does not)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()  # Windows: "... AuthenticAMD" / "... GenuineIntel"


def cpu_gemm_route(wanted: str = "auto") -> str:
    """``onednn`` or ``blas``: the library for float32 CPU linear layers; ``auto`` decides by CPU and BLAS."""
    wanted = wanted.strip().lower() or "auto"
    if wanted not in ROUTES:
        raise ValueError(f"CPU GEMM route {wanted!r} is not one of {', '.join(ROUTES)}")
    if not torch.backends.mkldnn.is_available():
        return "blas"
    if wanted == "auto":
        slow_blas = torch.backends.mkl.is_available() and "GenuineIntel" not in cpu_vendor()
        return "onednn" if slow_blas else "blas"
    return wanted


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)``, by a oneDNN 1×1 convolution for float32 CPU inputs of ``MIN_ROWS`` rows."""
    out_features, in_features = weight.shape
    rows = x.numel() // in_features if in_features else 0
    if x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32 or rows < MIN_ROWS:
        return F.linear(x, weight, bias)
    image = x.reshape(1, 1, rows, in_features).permute(0, 3, 1, 2)  # [1, in, 1, rows], channels-last
    y = F.conv2d(image, weight.view(out_features, in_features, 1, 1), bias)
    return y.permute(0, 2, 3, 1).reshape(*x.shape[:-1], out_features)  # a view: the output is channels-last


class OneDnnLinear(nn.Linear):
    """``nn.Linear`` (same parameters and keys, so LoRA and ERG hooks act alike) run by :func:`onednn_linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return onednn_linear(x, self.weight, self.bias)
