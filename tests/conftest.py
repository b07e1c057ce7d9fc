"""Session fixtures: the golden fixtures, the tiny checkpoint and the lyric vocabulary."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden_utils import GOLDEN, extract_vocab, materialize_tiny_ckpt


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    if not GOLDEN.is_dir():
        pytest.fail(f"golden fixtures not found at {GOLDEN} (set ACESTEP_SHARED)")
    return GOLDEN


@pytest.fixture(scope="session")
def golden_index(golden_dir) -> dict:
    return json.loads((golden_dir / "index.json").read_text())


@pytest.fixture(scope="session")
def tiny_ckpt(golden_dir) -> Path:
    return materialize_tiny_ckpt()


@pytest.fixture(scope="session")
def lyric_vocab() -> Path:
    return extract_vocab()


@pytest.fixture(params=["blas", "onednn"])
def cpu_gemm_route(request, monkeypatch):
    """The layer set (models/operations.py) of each CPU GEMM library, whatever this machine's default,
    for a golden case to build its model with; ACESTEP_CPU_GEMM names it too, for the models a case
    loads itself. Down to one row, so that the tiny models' short inputs take the route too."""
    from acestep_core.models import cpu_gemm
    from acestep_core.models.operations import cpu_operations

    monkeypatch.setenv("ACESTEP_CPU_GEMM", request.param)
    monkeypatch.setattr(cpu_gemm, "MIN_ROWS", 1)
    operations = cpu_operations(request.param)
    assert (operations.linear is cpu_gemm.onednn_linear) == (request.param == "onednn")
    return operations


@pytest.fixture(scope="module")
def one_torch_thread():
    """The tiny models' matmuls are small: one thread is several times faster than two on a busy
    machine (the training tests run dozens of optimizer steps)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
