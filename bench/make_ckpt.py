"""Write a full-size ACE-Step v1 checkpoint folder with random weights (upstream 4-folder layout).

The DCAE/vocoder and whole-song benchmarks load real files so that both implementations read the
very same weights and the loaders' memory behaviour is part of what is measured. The transformer
is stored in bfloat16 (as the released file, ~6.6 GB) including the training-only keys that the
original loads and we skip. The tokenizer is the golden tiny checkpoint's (ids < 320 are valid in
the full 256384-entry vocabulary). Usage: ``python bench/make_ckpt.py [DEST]``.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402
from worker import no_init  # noqa: E402

TINY = Path(os.environ.get("ACESTEP_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "golden" / "tiny_ckpt"
UMT5_BASE = {"vocab_size": 256384, "d_model": 768, "d_kv": 64, "d_ff": 2048, "num_layers": 12,
             "num_decoder_layers": 12, "num_heads": 12, "relative_attention_num_buckets": 32,
             "relative_attention_max_distance": 128, "feed_forward_proj": "gated-gelu", "dense_act_fn": "gelu_new",
             "is_gated_act": True, "layer_norm_epsilon": 1e-06, "tie_word_embeddings": False, "pad_token_id": 0,
             "eos_token_id": 1, "decoder_start_token_id": 0, "model_type": "umt5", "is_encoder_decoder": True,
             "architectures": ["UMT5EncoderModel"], "tokenizer_class": "T5Tokenizer"}


def _save(folder: Path, name: str, sd: dict, config: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / name))
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def _unused_transformer_keys(cfg: dict) -> dict:
    """Random training-only tensors with the released shapes (REPA projectors, add_*_proj)."""
    dim, hid = cfg["inner_dim"], 2 * cfg["inner_dim"]
    shapes = {}
    for i, ssl in enumerate(cfg["ssl_latent_dims"]):
        shapes.update({f"projectors.{i}.0.weight": (hid, dim), f"projectors.{i}.0.bias": (hid,),
                       f"projectors.{i}.2.weight": (hid, hid), f"projectors.{i}.2.bias": (hid,),
                       f"projectors.{i}.4.weight": (ssl, hid), f"projectors.{i}.4.bias": (ssl,)})
    for b in range(cfg["num_layers"]):
        for n in ("add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"):
            shapes[f"transformer_blocks.{b}.cross_attn.{n}.weight"] = (dim, dim)
            shapes[f"transformer_blocks.{b}.cross_attn.{n}.bias"] = (dim,)
    g = torch.Generator().manual_seed(7)
    return {k: (torch.rand(s, generator=g) * 0.02 - 0.01).to(torch.bfloat16) for k, s in shapes.items()}


def make(dest: Path) -> None:
    from acestep_core.models.dcae import DEFAULT_DCAE_CONFIG, build_autoencoder
    from acestep_core.models.transformer import AceStepTransformer
    from acestep_core.models.vocoder import DEFAULT_CONFIG, MusicVocoder

    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / "music_dcae_f8c8" / "config.json").exists():
        with no_init():
            dcae = build_autoencoder(DEFAULT_DCAE_CONFIG)
        C.fill_random_(dcae, seed=1)
        _save(dest / "music_dcae_f8c8", "diffusion_pytorch_model.safetensors", dcae.state_dict(),
              {"_class_name": "AutoencoderDC", "_diffusers_version": "0.33.1", **DEFAULT_DCAE_CONFIG})
    if not (dest / "music_vocoder" / "config.json").exists():
        voc = MusicVocoder.from_config(DEFAULT_CONFIG)
        C.fill_random_(voc, seed=2)
        _save(dest / "music_vocoder", "diffusion_pytorch_model.safetensors", voc.state_dict(),
              {"_class_name": "ADaMoSHiFiGANV1", "_diffusers_version": "0.33.1", **DEFAULT_CONFIG})
    if not (dest / "umt5-base" / "config.json").exists():
        from transformers import UMT5Config, UMT5EncoderModel

        with no_init():
            enc = UMT5EncoderModel(UMT5Config(**UMT5_BASE))
        C.fill_random_(enc, seed=3)
        sd = {k: v for k, v in enc.state_dict().items() if k != "encoder.embed_tokens.weight"}
        _save(dest / "umt5-base", "model.safetensors", sd, UMT5_BASE)
        for name in ("special_tokens_map.json", "spiece.model", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(TINY / "umt5-base" / name, dest / "umt5-base" / name)
    if not (dest / "ace_step_transformer" / "config.json").exists():
        cfg = json.loads((Path(__file__).resolve().parent / "dit_config.json").read_text())
        model = AceStepTransformer.from_config(cfg, dtype=torch.bfloat16, device="meta").to_empty(device="cpu")
        C.fill_random_(model)
        sd = dict(model.state_dict())
        sd.update(_unused_transformer_keys(cfg))
        _save(dest / "ace_step_transformer", "diffusion_pytorch_model.safetensors", sd,
              {"_class_name": "Transformer2DModel", "_diffusers_version": "0.27.2", **cfg})
    print(dest)


if __name__ == "__main__":
    make(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/acestep-bench-ckpt"))
