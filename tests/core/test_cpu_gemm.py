"""cpu_gemm: float32 linear layers by a oneDNN 1×1 convolution, chosen per machine when a model is built."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden_utils import _rel_error, randn
from acestep_core.loading import operations_from_env
from acestep_core.models import cpu_gemm
from acestep_core.models.cpu_gemm import OneDnnLinear, cpu_gemm_route, onednn_linear
from acestep_core.models.operations import OneDnnOps, TorchOps, cpu_operations
from acestep_core.models.text_encoder import build_umt5_encoder
from acestep_core.models.transformer import AceStepTransformer


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


@pytest.mark.parametrize("route, ops", [("onednn", OneDnnOps), ("blas", TorchOps)])
def test_forced_route(monkeypatch, route, ops):
    assert cpu_gemm_route(route.upper()) == route and cpu_operations(route) is ops
    monkeypatch.setenv("ACESTEP_CPU_GEMM", route.upper())
    assert operations_from_env() is ops


def test_unknown_route_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("ACESTEP_CPU_GEMM", "mkl")
    with pytest.raises(ValueError, match="ACESTEP_CPU_GEMM='mkl'.*auto, onednn, blas"):
        operations_from_env()


@pytest.mark.parametrize("vendor, expected", [("GenuineIntel", "blas"), ("AuthenticAMD", "onednn"),
                                              ("AMD64 Family 25 Model 17 Stepping 1, AuthenticAMD", "onednn")])
def test_auto_route_follows_the_vendor_when_mkl_is_the_blas(monkeypatch, vendor, expected):
    monkeypatch.delenv("ACESTEP_CPU_GEMM", raising=False)
    monkeypatch.setattr(cpu_gemm, "cpu_vendor", lambda: vendor)
    monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: True)
    assert cpu_gemm_route() == expected
    assert operations_from_env() is (OneDnnOps if expected == "onednn" else TorchOps)
    monkeypatch.setattr(torch.backends.mkl, "is_available", lambda: False)  # OpenBLAS, Accelerate: no vendor path
    assert cpu_gemm_route() == "blas"


def test_cpu_vendor_is_a_string():
    cpu_gemm.cpu_vendor.cache_clear()
    assert isinstance(cpu_gemm.cpu_vendor(), str)


@pytest.mark.parametrize("shape", [(200, 96), (2, 70, 96), (3, 2, 40, 96)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_onednn_route_equals_a_float64_linear(conv_calls, shape, with_bias):
    x, w, b = randn(*shape), randn(48, 96, seed=1) * 0.1, randn(48, seed=2) if with_bias else None
    y = onednn_linear(x, w, b)
    ref = F.linear(x.double(), w.double(), None if b is None else b.double())
    assert conv_calls, "the oneDNN route was not taken"
    assert y.shape == ref.shape and y.dtype == torch.float32 and y.is_contiguous()
    assert _rel_error(y, ref) < 2e-6


def test_onednn_route_takes_a_strided_input(conv_calls):
    x = randn(96, 300).t()  # [300, 96], not contiguous
    w = randn(48, 96, seed=1)
    assert _rel_error(onednn_linear(x, w), F.linear(x.double(), w.double())) < 2e-6 and conv_calls


@pytest.mark.parametrize("case", ["blas", "few rows", "bfloat16"])
def test_other_cases_are_f_linear_exactly(conv_calls, case):
    linear = TorchOps.linear if case == "blas" else OneDnnOps.linear
    rows = cpu_gemm.MIN_ROWS - 1 if case == "few rows" else 200
    dtype = torch.bfloat16 if case == "bfloat16" else torch.float32
    x, w, b = randn(rows, 96).to(dtype), randn(48, 96, seed=1).to(dtype), randn(48, seed=2).to(dtype)
    assert torch.equal(linear(x, w, b), F.linear(x, w, b)) and not conv_calls


def test_linear_module_keeps_nn_linear_keys_and_routes(conv_calls):
    torch.manual_seed(0)
    ours, plain = OneDnnLinear(96, 48), nn.Linear(96, 48)
    plain.load_state_dict(ours.state_dict())
    assert isinstance(ours, nn.Linear) and list(ours.state_dict()) == ["weight", "bias"]
    x = randn(2, 100, 96)
    with torch.no_grad():
        assert _rel_error(ours(x), plain.double()(x.double())) < 2e-6
    assert conv_calls


def _linear_types(model: nn.Module) -> set[type]:
    return {type(m) for m in model.modules() if isinstance(m, nn.Linear)}


def test_the_transformer_is_built_with_the_operations_it_is_given(tiny_ckpt):
    config = json.loads((tiny_ckpt / "ace_step_transformer" / "config.json").read_text())
    fast = AceStepTransformer.from_config(config, device="meta", operations=OneDnnOps)
    plain = AceStepTransformer.from_config(config, device="meta")
    assert _linear_types(fast) == {OneDnnLinear} and _linear_types(plain) == {nn.Linear}
    assert fast.transformer_blocks[0].ff._linear is onednn_linear
    assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}


def test_umt5_linears_come_from_the_operations(tiny_ckpt):
    config = json.loads((tiny_ckpt / "umt5-base" / "config.json").read_text())
    fast, plain = build_umt5_encoder(config, "meta", OneDnnOps), build_umt5_encoder(config, "meta")
    assert _linear_types(fast) == {OneDnnLinear} and _linear_types(plain) == {nn.Linear}
    assert {k: v.shape for k, v in fast.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
