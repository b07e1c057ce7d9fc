"""Trainable LoRA layers on the transformer, saved in the PEFT layout our loader (and upstream) reads.

PEFT's `LoraLayer` arithmetic for a Linear: `y = W·x + b + scaling · B(A(dropout(x)))`, with A
initialised Kaiming-uniform (a = √5), B zero, the input cast to the LoRA's dtype and the sum cast
back to the base output's dtype. The base weights stay frozen in the model dtype; A and B are
float32 so the optimizer state is float32 too.

Saved files hold `<module path>.lora_A.weight` [r, in] and `<module path>.lora_B.weight` [out, r]
relative to the transformer, as diffusers' `save_lora_adapter` writes them, with no alpha. So a LoRA
trained with scaling s applies s·B·A during training but `lora_weight`·B·A when loaded (spec §12:
the original's RapMachine trained at 32/√256 = 2 and is used at weight 1; we keep that behaviour).
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import skip_init

from ..lora import LORA_FILE_NAME
from .lora_config import LoraSpec

LORA_CONFIG_NAME = "config.json"


class LoraTargetError(ValueError):
    """The LoRA config's target_modules do not fit the transformer."""


class TrainableLoraLinear(nn.Module):
    """A frozen Linear plus a trainable float32 low-rank update (PEFT's unmerged LoRA forward)."""

    def __init__(self, base: nn.Linear, r: int, scaling: float, generator: torch.Generator | None = None):
        super().__init__()
        self.base = base
        self.scaling = scaling
        device = base.weight.device
        # skip_init: no draw from torch's global generator (the host's); the weights are set just below
        self.lora_A = skip_init(nn.Linear, base.in_features, r, bias=False, device=device, dtype=torch.float32)
        self.lora_B = skip_init(nn.Linear, r, base.out_features, bias=False, device=device, dtype=torch.float32)
        with torch.no_grad():
            a = torch.empty(r, base.in_features, dtype=torch.float32)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=generator)
            self.lora_A.weight.copy_(a)
            self.lora_B.weight.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        dtype = out.dtype
        delta = self.lora_B(self.lora_A(x.to(self.lora_A.weight.dtype))) * self.scaling
        return (out + delta).to(dtype)


@dataclass
class LoraLayers:
    """The adapters injected into one model, by the module path they replaced."""

    layers: dict[str, TrainableLoraLinear]
    spec: LoraSpec

    def parameters(self) -> Iterator[nn.Parameter]:
        """A then B of every layer, in path order (a stable order for the optimizer state)."""
        for path in sorted(self.layers):
            yield self.layers[path].lora_A.weight
            yield self.layers[path].lora_B.weight

    def state_dict(self) -> dict[str, torch.Tensor]:
        """PEFT keys `<path>.lora_A.weight` / `<path>.lora_B.weight`, float32, on the CPU."""
        out = {}
        for path in sorted(self.layers):
            layer = self.layers[path]
            out[f"{path}.lora_A.weight"] = layer.lora_A.weight.detach().float().cpu().contiguous()
            out[f"{path}.lora_B.weight"] = layer.lora_B.weight.detach().float().cpu().contiguous()
        return out

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Copy saved A/B weights back in (resume); every key must match a layer."""
        expected = set(self.state_dict())
        if set(state) != expected:
            odd = sorted(set(state) ^ expected)[:3]
            raise LoraTargetError(f"the saved LoRA does not match this model and LoRA config (e.g. {odd}); resume "
                                  "with the same checkpoint and LoRA config as the run that wrote it.")
        with torch.no_grad():
            for path, layer in self.layers.items():
                layer.lora_A.weight.copy_(state[f"{path}.lora_A.weight"])
                layer.lora_B.weight.copy_(state[f"{path}.lora_B.weight"])


def _set_module(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, module)


def lora_targets(model: nn.Module, spec: LoraSpec) -> list[tuple[str, nn.Linear]]:
    """The Linear layers the config targets, by path; LoraTargetError when they do not fit the model."""
    targets = [(p, m) for p, m in model.named_modules() if p and spec.matches(p)]
    if not targets:
        raise LoraTargetError(f"target_modules {spec.target_modules!r} match no layer of this transformer; use names "
                              "such as speaker_embedder, linear_q, to_q, to_out.0")
    wrong = [p for p, m in targets if not isinstance(m, nn.Linear)]
    if wrong:
        raise LoraTargetError(f"target_modules select {len(wrong)} layer(s) that are not Linear (e.g. {wrong[:3]}); "
                              "LoRA is trained on Linear layers only, name those instead.")
    return targets


def inject_lora(model: nn.Module, spec: LoraSpec, generator: torch.Generator | None = None) -> LoraLayers:
    """Replace every Linear the config targets with a TrainableLoraLinear; freeze everything else.

    Layers are initialised in module order from `generator` (seeded: the same seed gives the same LoRA).
    """
    targets = lora_targets(model, spec)
    model.requires_grad_(False)
    layers = {}
    for path, base in targets:
        layer = TrainableLoraLinear(base, spec.r, spec.scaling, generator)
        _set_module(model, path, layer)
        layers[path] = layer
    return LoraLayers(layers, spec)


def remove_lora(model: nn.Module, lora: LoraLayers) -> None:
    """Put the original Linear layers back (the model is as before `inject_lora`)."""
    for path, layer in lora.layers.items():
        _set_module(model, path, layer.base)


def save_lora_folder(folder: str | Path, lora: LoraLayers) -> Path:
    """Write `pytorch_lora_weights.safetensors` + the LoRA `config.json` into a new folder."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=False)
    save_file(lora.state_dict(), str(folder / LORA_FILE_NAME), metadata={"format": "pt"})
    (folder / LORA_CONFIG_NAME).write_text(json.dumps(lora.spec.to_json(), indent=4) + "\n", encoding="utf-8")
    return folder
