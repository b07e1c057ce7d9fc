"""The tag/prompt encoder: UMT5-base through `transformers`, exactly as ACE-Step calls it (spec §3).

We use transformers' own UMT5 rather than re-implementing it (spec §3: its numerics are the
reference). Eager attention is forced: transformers 4.50 ran UMT5 eagerly, and newer versions'
default SDPA path differs by ~3e-6 (golden README).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from .operations import Operations, TorchOps

# ERG-tag ("weak" text) hook points and factor, spec §3 / §8.6.
ERG_TAG_BLOCKS = (8, 9)
ERG_TAU = 0.01
MAX_PROMPT_TOKENS = 256


@dataclass
class TextEncoding:
    """UMT5 output for one or more prompts: hidden states [B, Lt, D] and the int64 mask [B, Lt]."""

    hidden_states: torch.Tensor
    attention_mask: torch.Tensor

    def repeat(self, batch_size: int) -> "TextEncoding":
        """Broadcast a single prompt's encoding over a batch, as the pipeline does (spec §9.1)."""
        if self.hidden_states.shape[0] == batch_size:
            return self
        return TextEncoding(self.hidden_states.repeat(batch_size, 1, 1), self.attention_mask.repeat(batch_size, 1))


def umt5_config_dict(config: dict) -> "object":
    """A transformers UMT5Config with eager attention, from a config.json dict."""
    from transformers import UMT5Config

    cfg = UMT5Config(**{k: v for k, v in config.items() if not k.startswith("_")})
    cfg._attn_implementation = "eager"
    return cfg


def build_umt5_encoder(config: dict, device: torch.device | str | None = None,
                       operations: Operations = TorchOps) -> nn.Module:
    """An (uninitialised when device='meta') UMT5 encoder built from its config dict, linears from ``operations``."""
    from transformers import UMT5EncoderModel

    cfg = umt5_config_dict(config)
    with torch.device(device or "cpu"):
        model = UMT5EncoderModel(cfg)
        _make_linears(model, operations)
    return model.eval().requires_grad_(False)


def _make_linears(model: nn.Module, operations: Operations) -> None:
    """Rebuild every plain ``nn.Linear`` of a freshly built ``model`` as ``operations.Linear`` (same shapes).

    transformers makes UMT5's layers itself and takes no layer set, so its linears are made again
    here, before any weights are loaded; nothing but their class differs.
    """
    if operations.Linear is nn.Linear:
        return
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, operations.Linear(child.in_features, child.out_features,
                                                        bias=child.bias is not None, dtype=child.weight.dtype))


def infer_umt5_config(shapes: dict[str, tuple[int, ...]]) -> dict:
    """UMT5 hyper-parameters from tensor shapes (ComfyUI's all-in-one file carries no config.json).

    Everything not visible in a shape is the google/umt5-base value (spec §2.4).
    """
    vocab, d_model = shapes["shared.weight"]
    layers = 1 + max(int(k.split(".")[2]) for k in shapes if k.startswith("encoder.block."))
    buckets, heads = shapes["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    inner = shapes["encoder.block.0.layer.0.SelfAttention.q.weight"][0]
    d_ff = shapes["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"][0]
    return {
        "vocab_size": vocab,
        "d_model": d_model,
        "d_kv": inner // heads,
        "d_ff": d_ff,
        "num_layers": layers,
        "num_decoder_layers": layers,
        "num_heads": heads,
        "relative_attention_num_buckets": buckets,
        "relative_attention_max_distance": 128,
        "feed_forward_proj": "gated-gelu",
        "dense_act_fn": "gelu_new",
        "is_gated_act": True,
        "layer_norm_epsilon": 1e-6,
        "tie_word_embeddings": False,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
        "model_type": "umt5",
    }


@contextmanager
def erg_tag_hooks(encoder: nn.Module, tau: float = ERG_TAU, blocks: tuple[int, ...] = ERG_TAG_BLOCKS) -> Iterator[None]:
    """Scale the q projection of UMT5 blocks 8 and 9 in place by tau while active (spec §3)."""

    def scale(_module, _inputs, output):
        output.mul_(tau)
        return output

    handles = [encoder.encoder.block[b].layer[0].SelfAttention.q.register_forward_hook(scale) for b in blocks]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


class PromptEncoder:
    """Tokenizer + UMT5 encoder pair; `encode` is upstream's get_text_embeddings."""

    def __init__(self, tokenizer, model: nn.Module):
        self.tokenizer = tokenizer
        self.model = model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """Upstream's tokenizer call: padding, truncation at 256 tokens, </s> appended by T5 (spec §3)."""
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise TypeError("prompt must be a string (tags / description of the music)")
        return self.tokenizer(
            prompts, padding=True, truncation=True, max_length=MAX_PROMPT_TOKENS, return_tensors="pt"
        )

    @torch.no_grad()
    def encode(self, prompts: list[str] | str, *, erg: bool = False) -> TextEncoding:
        """last_hidden_state and attention mask; `erg=True` gives the ERG-tag weak states."""
        if isinstance(prompts, str):
            prompts = [prompts]
        tokens = self.tokenize(prompts)
        ids = tokens["input_ids"].to(self.device)
        mask = tokens["attention_mask"].to(self.device)
        if erg:
            with erg_tag_hooks(self.model):
                out = self.model(input_ids=ids, attention_mask=mask)
        else:
            out = self.model(input_ids=ids, attention_mask=mask)
        return TextEncoding(out.last_hidden_state, mask)
