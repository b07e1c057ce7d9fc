"""Checkpoint folders of a run: one per save, never overwritten, each a loadable LoRA plus resume state.

`OUT/step-00000500/` (every `save_every` steps) and `OUT/final-step-00001000/` (the end) each hold
`pytorch_lora_weights.safetensors` + `config.json` (what `acestep_core.load_lora` reads) and the
resume state, which `--resume` continues from exactly: its tensors (optimizer moments, the random
generator's state) in `training_state.safetensors`, everything else (step, position in the data,
losses, recipe, optimizer hyper-parameters) in `trainer_state.json`. Nothing is pickled, so resuming
reads no executable data (safetensors and JSON only).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .lora_layers import LoraLayers, save_lora_folder

STATE_FILE = "training_state.safetensors"
SUMMARY_FILE = "trainer_state.json"
_NAME = re.compile(r"^(final-)?step-(\d+)$")


class ResumeError(ValueError):
    """A run that cannot be resumed as asked; the message says what differs and what to do."""


def checkpoint_name(step: int, final: bool) -> str:
    return f"{'final-' if final else ''}step-{step:08d}"


@dataclass
class TrainingState:
    """Everything besides the LoRA weights needed to continue a run bit for bit."""

    step: int  # optimizer steps done
    micro_batches: int  # micro-batches consumed (position in the data order)
    optimizer: dict[str, Any]
    generator: torch.Tensor
    losses: list[float]
    recipe: dict[str, Any]


def save_checkpoint(out: Path, lora: LoraLayers, state: TrainingState, *, final: bool) -> Path:
    """Write a new checkpoint folder (an existing one of the same name is an error, never replaced)."""
    folder = Path(out) / checkpoint_name(state.step, final)
    if folder.exists():
        raise FileExistsError(f"{folder} already exists; checkpoints are never overwritten (choose another --out).")
    tmp = folder.with_name(f".{folder.name}.partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    from safetensors.torch import save_file

    save_lora_folder(tmp, lora)
    tensors, groups = _flatten_optimizer(state.optimizer)
    tensors["generator"] = state.generator
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp / STATE_FILE))
    summary = {"step": state.step, "micro_batches": state.micro_batches, "final": final,
               "last_loss": state.losses[-1] if state.losses else None, "recipe": state.recipe,
               "losses": state.losses, "optimizer_param_groups": groups}
    (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.rename(folder)
    return folder


def list_checkpoints(out: Path) -> list[tuple[int, bool, Path]]:
    """(step, final, folder) of every complete checkpoint in `out`, oldest first."""
    found = []
    if Path(out).is_dir():
        for p in Path(out).iterdir():
            m = _NAME.match(p.name)
            if m and p.is_dir() and (p / STATE_FILE).is_file():
                found.append((int(m.group(2)), bool(m.group(1)), p))
    return sorted(found, key=lambda x: (x[0], x[1]))


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], TrainingState]:
    """The LoRA weights and the training state of one checkpoint folder."""
    from safetensors.torch import load_file

    from ..lora import LORA_FILE_NAME

    try:
        weights = load_file(str(folder / LORA_FILE_NAME))
        tensors = load_file(str(folder / STATE_FILE))
        summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
        optimizer = _unflatten_optimizer(tensors, summary["optimizer_param_groups"])
        state = TrainingState(int(summary["step"]), int(summary["micro_batches"]), optimizer, tensors["generator"],
                              [float(x) for x in summary["losses"]], summary["recipe"])
    except Exception as e:
        raise ResumeError(f"{folder}: cannot read this checkpoint ({e}); resume from an earlier one by moving "
                          "this folder away.") from e
    return weights, state


def _flatten_optimizer(optimizer: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """An optimizer state_dict as named tensors (`optimizer.<param>.<name>`) and JSON-able param groups."""
    tensors = {}
    for index, values in optimizer["state"].items():
        for name, value in values.items():
            tensors[f"optimizer.{int(index)}.{name}"] = torch.as_tensor(value)
    return tensors, optimizer["param_groups"]


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for group in groups:  # JSON has no tuples: AdamW's betas come back as a list
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def check_recipe(saved: dict[str, Any], current: dict[str, Any], folder: Path) -> None:
    """A resumed run must use the saved recipe, or it would not continue the same run."""
    current = json.loads(json.dumps(current))  # compared as saved: JSON has lists, not tuples
    diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if diff:
        detail = "; ".join(f"{k}: saved {saved.get(k)!r}, now {current.get(k)!r}" for k in diff[:4])
        raise ResumeError(f"cannot resume from {folder}: the settings differ ({detail}). Resume with the saved "
                          "settings, or start a new run in another --out folder.")
