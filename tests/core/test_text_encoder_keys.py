"""The full-size UMT5 encoder built on the meta device has the real checkpoints' key→shape maps."""
from __future__ import annotations

import json

from acestep_core.models.text_encoder import build_umt5_encoder, infer_umt5_config
from golden_utils import SHARED

KEYS = SHARED / "spec" / "keys"
UMT5_BASE = {"vocab_size": 256384, "d_model": 768, "d_kv": 64, "d_ff": 2048, "num_layers": 12, "num_heads": 12,
             "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
             "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new", "is_gated_act": True,
             "layer_norm_epsilon": 1e-6, "tie_word_embeddings": False, "pad_token_id": 0, "eos_token_id": 1}


def _model_shapes(config: dict) -> dict:
    return {k: list(v.shape) for k, v in build_umt5_encoder(config, device="meta").state_dict().items()}


def test_upstream_folder_key_map():
    assert _model_shapes(UMT5_BASE) == json.loads((KEYS / "umt5-base.json").read_text())


def test_all_in_one_key_map_and_inferred_config():
    allin = json.loads((KEYS / "comfyui_all_in_one.json").read_text())["keys"]
    prefix = "text_encoders.umt5base.transformer."
    shapes = {k[len(prefix):]: tuple(v) for k, v in allin.items() if k.startswith(prefix)}
    config = infer_umt5_config(shapes)
    assert {k: config[k] for k in UMT5_BASE} == UMT5_BASE
    model = _model_shapes(config)
    # the all-in-one file stores the embedding once (shared.weight); encoder.embed_tokens is tied to it
    assert {k: tuple(v) for k, v in model.items() if k != "encoder.embed_tokens.weight"} == shapes


def test_all_in_one_transformer_and_vae_keys_match_the_folder_layout():
    allin = json.loads((KEYS / "comfyui_all_in_one.json").read_text())["keys"]
    for prefix, name in (("model.diffusion_model.", "ace_step_transformer"), ("vae.dcae.", "music_dcae_f8c8")):
        part = {k[len(prefix):]: v for k, v in allin.items() if k.startswith(prefix)}
        assert part == json.loads((KEYS / f"{name}.json").read_text())
