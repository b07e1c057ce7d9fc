"""cpu_gemm: float32 linear layers by a oneDNN 1×1 convolution, chosen per machine."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden_utils import _rel_error, randn
from acestep_core.models import cpu_gemm
from acestep_core.models.cpu_gemm import Linear, cpu_gemm_route, linear, use_cpu_gemm


@pytest.fixture
def conv_calls(monkeypatch) -> list[tuple[int, ...]]:
    """The input shapes of every F.conv2d call made while a test runs."""
    calls: list[tuple[int, ...]] = []
    real = F.conv2d

    def spy(x, *args, **kwargs):
        calls.append(tuple(x.shape))
        return real(x, *args, **kwargs)

    monkeypatch.setattr(cpu_gemm.F, "conv2d", spy)
    return calls


@pytest.mark.parametrize("route", ["onednn", "blas"])
def test_forced_route(monkeypatch, route):
    monkeypatch.setenv("ACESTEP_CPU_GEMM", route.upper())
    assert cpu_gemm_route() == route


def test_unknown_route_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("ACESTEP_CPU_GEMM", "mkl")
    with pytest.raises(ValueError, match="ACESTEP_CPU_GEMM='mkl'.*auto, onednn, blas"):
        cpu_gemm_route()


@pytest.mark.parametrize("vendor, expected", [("GenuineIntel", "blas"), ("AuthenticAMD", "onednn"),
                                              ("AMD64 Family 25 Model 17 Stepping 1, AuthenticAMD", "onednn")])
def test_auto_route_follows_the_vendor_when_mkl_is_the_blas(monkeypatch, vendor, expected):
    monkeypatch.delenv("ACESTEP_CPU_GEMM", raising=False)
    monkeypatch.setattr(cpu_gemm, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: True)
    assert cpu_gemm_route() == expected
    monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: False)  # OpenBLAS, Accelerate: no vendor path
    assert cpu_gemm_route() == "blas"


def test_cpu_vendor_is_a_string():
    cpu_gemm.cpu_vendor.cache_clear()
    assert isinstance(cpu_gemm.cpu_vendor(), str)


@pytest.mark.parametrize("shape", [(200, 96), (2, 70, 96), (3, 2, 40, 96)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_onednn_route_equals_a_float64_linear(monkeypatch, conv_calls, shape, with_bias):
    monkeypatch.setenv("ACESTEP_CPU_GEMM", "onednn")
    x, w, b = randn(*shape), randn(48, 96, seed=1) * 0.1, randn(48, seed=2) if with_bias else None
    y = linear(x, w, b)
    ref = F.linear(x.double(), w.double(), None if b is None else b.double())
    assert conv_calls, "the oneDNN route was not taken"
    assert y.shape == ref.shape and y.dtype == torch.float32 and y.is_contiguous()
    assert _rel_error(y, ref) < 2e-6


def test_onednn_route_takes_a_strided_input(monkeypatch, conv_calls):
    monkeypatch.setenv("ACESTEP_CPU_GEMM", "onednn")
    x = randn(96, 300).t()  # [300, 96], not contiguous
    w = randn(48, 96, seed=1)
    assert _rel_error(linear(x, w), F.linear(x.double(), w.double())) < 2e-6 and conv_calls


@pytest.mark.parametrize("case", ["blas", "few rows", "bfloat16"])
def test_other_cases_are_f_linear_exactly(monkeypatch, conv_calls, case):
    monkeypatch.setenv("ACESTEP_CPU_GEMM", "blas" if case == "blas" else "onednn")
    rows = cpu_gemm.MIN_ROWS - 1 if case == "few rows" else 200
    dtype = torch.bfloat16 if case == "bfloat16" else torch.float32
    x, w, b = randn(rows, 96).to(dtype), randn(48, 96, seed=1).to(dtype), randn(48, seed=2).to(dtype)
    assert torch.equal(linear(x, w, b), F.linear(x, w, b)) and not conv_calls


def test_linear_module_keeps_nn_linear_keys_and_routes(monkeypatch, conv_calls):
    monkeypatch.setenv("ACESTEP_CPU_GEMM", "onednn")
    torch.manual_seed(0)
    ours, plain = Linear(96, 48), nn.Linear(96, 48)
    plain.load_state_dict(ours.state_dict())
    assert isinstance(ours, nn.Linear) and list(ours.state_dict()) == ["weight", "bias"]
    x = randn(2, 100, 96)
    with torch.no_grad():
        assert _rel_error(ours(x), plain.double()(x.double())) < 2e-6
    assert conv_calls


def test_use_cpu_gemm_swaps_plain_linears_only():
    class Custom(nn.Linear):
        pass

    model = nn.Sequential(nn.Linear(4, 4), Custom(4, 4), nn.Conv1d(4, 4, 1))
    assert use_cpu_gemm(model) is model
    assert type(model[0]) is Linear and type(model[1]) is Custom and type(model[2]) is nn.Conv1d
