"""The full-size transformer's parameter names/shapes equal the real checkpoint's (spec Appendix A.1),
and the config can be recovered from shapes alone (ComfyUI's all-in-one file has no config)."""
from __future__ import annotations

import json
import re

import pytest
import torch

from golden_utils import SHARED
from acestep_core.models.transformer import (
    ACESTEP_V1_TRANSFORMER_CONFIG,
    TRANSFORMER_UNUSED_KEY_PATTERNS,
    AceStepTransformer,
    infer_transformer_config,
    is_unused_transformer_key,
)

KEYS_FILE = SHARED / "spec" / "keys" / "ace_step_transformer.json"

# spec §2.1, written out here so the constant in the library is checked too.
REAL_CONFIG = {
    "in_channels": 8, "num_layers": 24, "inner_dim": 2560, "attention_head_dim": 128,
    "num_attention_heads": 20, "mlp_ratio": 2.5, "out_channels": 8, "max_position": 32768,
    "rope_theta": 1000000.0, "speaker_embedding_dim": 512, "text_embedding_dim": 768,
    "ssl_encoder_depths": [8, 8], "ssl_names": ["mert", "m-hubert"], "ssl_latent_dims": [1024, 768],
    "patch_size": [16, 1], "max_height": 16, "max_width": 32768, "lyric_encoder_vocab_size": 6693,
    "lyric_hidden_size": 1024,
}
TRAINING_ONLY = re.compile(r"^projectors\.|\.cross_attn\.(add_q_proj|add_k_proj|add_v_proj|to_add_out)\.")


@pytest.fixture(scope="module")
def key_map() -> dict[str, tuple[int, ...]]:
    keys = {k: tuple(v) for k, v in json.loads(KEYS_FILE.read_text()).items()}
    assert len(keys) == 874
    return keys


@pytest.fixture(scope="module")
def meta_model() -> AceStepTransformer:
    return AceStepTransformer.from_config({"_class_name": "Transformer2DModel", **REAL_CONFIG},
                                          device=torch.device("meta"))


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def test_library_constant_is_spec_config():
    assert ACESTEP_V1_TRANSFORMER_CONFIG == REAL_CONFIG


def test_meta_model_matches_live_key_map(meta_model, key_map):
    ours = {k: tuple(v.shape) for k, v in meta_model.state_dict().items()}
    live = {k: s for k, s in key_map.items() if not is_unused_transformer_key(k)}
    assert set(ours) - set(live) == set(), "keys the checkpoint does not have"
    assert set(live) - set(ours) == set(), "live checkpoint keys the model lacks"
    assert ours == live
    assert all(p.is_meta for p in meta_model.parameters())


def test_unused_keys_are_exactly_training_modules(key_map):
    unused = {k for k in key_map if is_unused_transformer_key(k)}
    assert unused == {k for k in key_map if TRAINING_ONLY.search(k)}
    assert len(unused) == 12 + 24 * 4 * 2
    assert sum(_numel(key_map[k]) for k in unused) == 717_231_872
    assert not is_unused_transformer_key("transformer_blocks.3.cross_attn.to_q.weight")
    assert len(TRANSFORMER_UNUSED_KEY_PATTERNS) == 2


def test_live_parameter_count(meta_model, key_map):
    assert sum(p.numel() for p in meta_model.parameters()) == 2_588_427_392
    assert sum(_numel(s) for s in key_map.values()) == 3_305_659_264


def test_erg_and_lora_targets_are_linear(meta_model):
    modules = dict(meta_model.named_modules())
    names = [f"lyric_encoder.encoders.{j}.self_attn.linear_{x}" for j in range(6) for x in "qkv"]
    names += [f"transformer_blocks.{i}.{a}.{p}" for i in range(24) for a in ("attn", "cross_attn")
              for p in ("to_q", "to_k", "to_v", "to_out.0")]
    names.append("speaker_embedder")
    # cpu_gemm.Linear: nn.Linear's parameters and keys, so LoRA wraps it and ERG hooks it alike
    assert all(isinstance(modules[n], torch.nn.Linear) for n in names)


def test_infer_config_full_key_map(key_map):
    assert infer_transformer_config(key_map) == REAL_CONFIG
    prefixed = {f"model.diffusion_model.{k}": s for k, s in key_map.items()}
    assert infer_transformer_config(prefixed) == REAL_CONFIG
    live_only = {k: s for k, s in key_map.items() if not is_unused_transformer_key(k)}
    assert infer_transformer_config(live_only) == REAL_CONFIG  # ssl dims fall back to the released ones
    hinted = infer_transformer_config(key_map, num_attention_heads=40)
    assert (hinted["num_attention_heads"], hinted["attention_head_dim"]) == (40, 64)


def test_infer_config_tiny_checkpoint(tiny_ckpt):
    from safetensors import safe_open

    folder = tiny_ckpt / "ace_step_transformer"
    with safe_open(str(folder / "diffusion_pytorch_model.safetensors"), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    cfg = json.loads((folder / "config.json").read_text())
    expected = {k: v for k, v in cfg.items() if not k.startswith("_")}
    assert infer_transformer_config(shapes) == expected


def test_infer_config_rejects_impossible_split(key_map):
    with pytest.raises(ValueError):
        infer_transformer_config(key_map, attention_head_dim=100)
