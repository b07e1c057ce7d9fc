"""The layer sets a model is built with, passed in by the caller as ComfyUI's ``operations``.

Every model of this package takes ``operations`` and makes its torch layers through it
(``operations.Linear(...)``, ``operations.Conv2d(...)``, and ``operations.linear`` where a weight is
applied as a function). Why: how a layer computes is the host's choice, made once when the model is
built (``loading`` picks the CPU GEMM route there), never by code that swaps layers afterwards or
looks at the environment on every call. The default, :class:`TorchOps`, is torch itself.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .cpu_gemm import OneDnnLinear, cpu_gemm_route, onednn_linear


class TorchOps:
    """torch.nn's own layers: the numbers torch gives, on every device."""

    Linear = nn.Linear
    Conv1d = nn.Conv1d
    Conv2d = nn.Conv2d
    GroupNorm = nn.GroupNorm
    LayerNorm = nn.LayerNorm
    RMSNorm = nn.RMSNorm
    Embedding = nn.Embedding
    linear = staticmethod(F.linear)


class OneDnnOps(TorchOps):
    """Float32 CPU linear layers as oneDNN 1×1 convolutions, for CPUs where MKL's sgemm is slow (``cpu_gemm``)."""

    Linear = OneDnnLinear
    linear = staticmethod(onednn_linear)


Operations = type[TorchOps]


def cpu_operations(route: str = "auto") -> Operations:
    """The layer set of a CPU GEMM route (``auto``, ``onednn`` or ``blas``; see ``cpu_gemm.cpu_gemm_route``)."""
    return OneDnnOps if cpu_gemm_route(route) == "onednn" else TorchOps
