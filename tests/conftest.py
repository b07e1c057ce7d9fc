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
