"""UMT5 prompt encoder vs the golden fixtures (spec §3), through the same loader users use."""
from __future__ import annotations

import pytest
import torch

from acestep_core.checkpoint import open_checkpoint
from acestep_core.loading import load_text_encoder
from golden_utils import assert_close_rel, component_tol, load_golden


@pytest.fixture(scope="module")
def encoder(tiny_ckpt):
    return load_text_encoder(open_checkpoint(tiny_ckpt), dtype=torch.float32)


@pytest.mark.parametrize("case", ["text_encoder_base", "text_encoder_alt", "text_encoder_cjk_unknown"])
def test_single_prompt(tiny_ckpt, golden_dir, golden_index, case, cpu_gemm_route):
    # built per route: its linear layers through each CPU GEMM library
    encoder = load_text_encoder(open_checkpoint(tiny_ckpt), dtype=torch.float32, operations=cpu_gemm_route)
    ref, meta = load_golden(golden_dir, case)
    tokens = encoder.tokenize([meta["prompt"]])
    assert torch.equal(tokens["input_ids"], ref["input_ids"])
    assert torch.equal(tokens["attention_mask"], ref["attention_mask"])
    enc = encoder.encode(meta["prompt"])
    assert torch.equal(enc.attention_mask, ref["attention_mask"])
    assert_close_rel(enc.hidden_states, ref["last_hidden_state"],
                     component_tol(golden_index, case, "last_hidden_state"), "last_hidden_state")
    weak = encoder.encode(meta["prompt"], erg=True)
    assert_close_rel(weak.hidden_states, ref["last_hidden_state_erg_null"],
                     component_tol(golden_index, case, "last_hidden_state_erg_null"), "erg_null")
    # the ERG hooks are removed afterwards: a plain call gives the plain states again
    assert torch.equal(encoder.encode(meta["prompt"]).hidden_states, enc.hidden_states)


def test_padded_batch(encoder, golden_dir, golden_index):
    ref, meta = load_golden(golden_dir, "text_encoder_batch_padded")
    enc = encoder.encode(meta["prompts"])
    assert torch.equal(enc.attention_mask, ref["attention_mask"])
    assert_close_rel(enc.hidden_states, ref["last_hidden_state"],
                     component_tol(golden_index, "text_encoder_batch_padded", "last_hidden_state"), "batch")


def test_repeat_broadcasts_over_batch(encoder):
    enc = encoder.encode("lofi").repeat(3)
    assert enc.hidden_states.shape[0] == 3 and enc.attention_mask.shape[0] == 3
    assert torch.equal(enc.hidden_states[0], enc.hidden_states[2])


def test_non_string_prompt_is_a_clear_error(encoder):
    with pytest.raises(TypeError, match="prompt must be a string"):
        encoder.encode([None])
