"""The LoRA config JSON in the original trainer's format (a PEFT `LoraConfig` as a dict).

The original reads e.g. `config/zh_rap_lora_config.json` ({"r": 256, "lora_alpha": 32,
"target_modules": [...], "use_rslora": true}) into `peft.LoraConfig(**json)`. We read the same
file without needing peft: the fields that change the maths are parsed here, PEFT's bookkeeping
fields are accepted and kept, and anything we cannot reproduce is refused with the reason.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The original RapMachine recipe (config/zh_rap_lora_config.json).
RAPMACHINE_LORA_CONFIG: dict[str, Any] = {
    "r": 256,
    "lora_alpha": 32,
    "target_modules": ["speaker_embedder", "linear_q", "linear_k", "linear_v", "to_q", "to_k", "to_v", "to_out.0"],
    "use_rslora": True,
}

# PEFT fields that carry no maths for a plain Linear LoRA (or only their default is accepted below).
_BOOKKEEPING = {"peft_type", "task_type", "base_model_name_or_path", "revision", "inference_mode",
                "auto_mapping", "library_version", "layers_to_transform", "layers_pattern",
                "megatron_config", "megatron_core", "loftq_config", "use_dora", "layer_replication",
                "fan_in_fan_out", "modules_to_save", "rank_pattern", "alpha_pattern", "bias",
                "init_lora_weights", "lora_dropout", "exclude_modules", "runtime_config", "lora_bias",
                "eva_config", "corda_config", "trainable_token_indices", "use_qalora", "qalora_group_size",
                "target_parameters"}
# Values of those fields we reproduce; any other value is refused.
_ACCEPTED = {"use_dora": (False, None), "fan_in_fan_out": (False, None), "modules_to_save": (None, []),
             "rank_pattern": (None, {}), "alpha_pattern": (None, {}), "bias": ("none", None),
             "init_lora_weights": (True, None), "lora_dropout": (0, 0.0, None), "layers_to_transform": (None,),
             "layer_replication": (None,), "exclude_modules": (None, [], ""), "lora_bias": (False, None),
             "loftq_config": ({}, None), "trainable_token_indices": (None,), "target_parameters": (None, []),
             "use_qalora": (False, None)}


class LoraConfigError(ValueError):
    """A LoRA config file we cannot train with; the message names the field and the fix."""


@dataclass(frozen=True)
class LoraSpec:
    """What decides the LoRA's maths: rank, alpha, rsLoRA and which Linear layers get an adapter."""

    r: int
    lora_alpha: float
    target_modules: tuple[str, ...] | str
    use_rslora: bool = False
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def scaling(self) -> float:
        """PEFT's scale of B·A during training: alpha/√r with rsLoRA, else alpha/r."""
        return self.lora_alpha / (math.sqrt(self.r) if self.use_rslora else self.r)

    def matches(self, module_path: str) -> bool:
        """PEFT's rule: a regex string must match the whole path; a list entry must equal the path or end it."""
        if isinstance(self.target_modules, str):
            return re.fullmatch(self.target_modules, module_path) is not None
        return any(module_path == t or module_path.endswith("." + t) for t in self.target_modules)

    def to_json(self) -> dict[str, Any]:
        """The config as the user wrote it (round-trips into the saved LoRA folder)."""
        return dict(self.raw) if self.raw else {"r": self.r, "lora_alpha": self.lora_alpha,
                                                "target_modules": list(self.target_modules)
                                                if not isinstance(self.target_modules, str) else self.target_modules,
                                                "use_rslora": self.use_rslora}


def parse_lora_config(data: dict[str, Any], where: str = "the LoRA config") -> LoraSpec:
    """Validate a config dict (the JSON file's content) and return its LoraSpec."""
    if not isinstance(data, dict):
        raise LoraConfigError(f"{where}: expected a JSON object like {json.dumps(RAPMACHINE_LORA_CONFIG)}")
    known = {"r", "lora_alpha", "target_modules", "use_rslora"} | _BOOKKEEPING
    unknown = sorted(set(data) - known)
    if unknown:
        raise LoraConfigError(f"{where}: unknown field(s) {unknown}; a LoRA config has r, lora_alpha, "
                              "target_modules and use_rslora (PEFT LoraConfig fields).")
    for key, allowed in _ACCEPTED.items():
        if key in data and data[key] not in allowed:
            raise LoraConfigError(f"{where}: {key}={data[key]!r} is not supported by this trainer (it reproduces "
                                  f"the original's plain LoRA); remove the field or set it to {allowed[0]!r}.")
    r = data.get("r", 8)
    if not isinstance(r, int) or isinstance(r, bool) or r < 1:
        raise LoraConfigError(f"{where}: r must be a positive integer (the LoRA rank), got {r!r}")
    alpha = data.get("lora_alpha", 8)
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha <= 0:
        raise LoraConfigError(f"{where}: lora_alpha must be a positive number, got {alpha!r}")
    targets = data.get("target_modules")
    if isinstance(targets, list) and targets and all(isinstance(t, str) and t for t in targets):
        targets = tuple(targets)
    elif not (isinstance(targets, str) and targets):
        raise LoraConfigError(f"{where}: target_modules must be a non-empty list of module names (e.g. "
                              f"{RAPMACHINE_LORA_CONFIG['target_modules']}) or a regex string")
    rslora = data.get("use_rslora", False)
    if not isinstance(rslora, bool):
        raise LoraConfigError(f"{where}: use_rslora must be true or false, got {rslora!r}")
    return LoraSpec(r, float(alpha), targets, rslora, raw=dict(data))


def read_lora_config(path: str | Path) -> LoraSpec:
    """Read a LoRA config JSON file (the original's `--lora_config_path`)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise LoraConfigError(f"LoRA config {p}: no such file; write one like {json.dumps(RAPMACHINE_LORA_CONFIG)}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LoraConfigError(f"LoRA config {p}: not readable JSON ({e}); fix the file.") from e
    return parse_lora_config(data, where=f"LoRA config {p}")
