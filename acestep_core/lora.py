"""LoRA adapters in the PEFT/diffusers format ACE-Step loads (spec §12), stackable.

A LoRA file holds `<module>.lora_A.weight` [r, in] and `<module>.lora_B.weight` [out, r] relative to
the transformer. Upstream stores no alpha, so PEFT sets alpha = rank and the effective scale is
exactly `lora_weight`: y = W·x + b + weight · B(A(x)), unmerged (spec §12, parity item 32).

We apply adapters by swapping the target nn.Linear modules for a wrapper for the duration of a
generation (`applied_loras`), instead of mutating the model for good: a model object can then be
shared (ComfyUI caches it) and several LoRAs stack as the sum of each adapter's weight · B·A.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch
from torch import nn

LORA_FILE_NAME = "pytorch_lora_weights.safetensors"
# Prefixes other trainers put before the transformer-relative module path.
_STRIP_PREFIXES = ("base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer.")


class LoraError(ValueError):
    """A LoRA that cannot be used with this model; the message says why and what to do."""


@dataclass(frozen=True)
class LoraAdapter:
    """One adapter: per target module its (A [r,in], B [out,r]) pair, plus where it came from."""

    name: str
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]

    @property
    def rank(self) -> int:
        ranks = [a.shape[0] for a, _ in self.pairs.values()]
        return max(set(ranks), key=ranks.count)


def _lora_file(path_or_repo: str | Path, cache_dir: str | Path | None) -> Path:
    p = Path(path_or_repo).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        f = p / LORA_FILE_NAME
        if f.is_file():
            return f
        found = sorted(p.glob("*.safetensors"))
        if len(found) == 1:
            return found[0]
        raise LoraError(f"{p}: no {LORA_FILE_NAME} in this LoRA folder (only safetensors LoRAs are loaded).")
    name = str(path_or_repo)
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        raise LoraError(f"LoRA {name!r}: no such file or folder.")
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(name, cache_dir=str(cache_dir) if cache_dir else None,
                                   allow_patterns=[LORA_FILE_NAME, "*.json"])
    except Exception as e:
        raise LoraError(
            f"cannot download the LoRA {name} ({type(e).__name__}); download it elsewhere and pass its folder."
        ) from e
    return _lora_file(folder, None)


def load_lora(path_or_repo: str | Path, *, cache_dir: str | Path | None = None) -> LoraAdapter:
    """Read a LoRA (a file, a folder holding pytorch_lora_weights.safetensors, or a HF repo id)."""
    from safetensors.torch import load_file

    f = _lora_file(path_or_repo, cache_dir)
    if f.suffix != ".safetensors":
        raise LoraError(f"{f}: only .safetensors LoRAs are loaded (pickle files are refused).")
    try:
        raw = load_file(str(f))
    except Exception as e:
        raise LoraError(f"{f}: cannot read this LoRA file ({e}); it may be corrupt.") from e
    a_keys: dict[str, torch.Tensor] = {}
    b_keys: dict[str, torch.Tensor] = {}
    for key, t in raw.items():
        k = key
        for pre in _STRIP_PREFIXES:
            if k.startswith(pre):
                k = k[len(pre):]
                break
        k = k.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")
        if k.endswith(".lora_A.weight"):
            a_keys[k[: -len(".lora_A.weight")]] = t
        elif k.endswith(".lora_B.weight"):
            b_keys[k[: -len(".lora_B.weight")]] = t
        elif k.endswith((".alpha", ".lora_alpha")):
            continue  # upstream ignores alpha (scale = lora_weight), spec §12
        else:
            raise LoraError(f"{f}: key {key!r} is not a PEFT LoRA key (<module>.lora_A/B.weight).")
    if not a_keys or set(a_keys) != set(b_keys):
        odd = sorted(set(a_keys) ^ set(b_keys))[:3]
        raise LoraError(f"{f}: incomplete LoRA (lora_A/lora_B pairs do not match: {odd or 'no pairs'}).")
    pairs = {}
    for mod, a in a_keys.items():
        b = b_keys[mod]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise LoraError(f"{f}: {mod}: lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)} do not pair up.")
        pairs[mod] = (a, b)
    return LoraAdapter(str(path_or_repo), pairs)


class LoraLinear(nn.Module):
    """A Linear plus a sum of low-rank updates; PEFT's unmerged arithmetic, in its order."""

    def __init__(self, base: nn.Linear, deltas: list[tuple[torch.Tensor, torch.Tensor, float]]):
        super().__init__()
        self.base = base
        self.deltas = deltas

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        for a, b, weight in self.deltas:
            h = x.to(a.dtype)
            out = out + torch.nn.functional.linear(torch.nn.functional.linear(h, a), b) * weight
        return out


def check_fits(model: nn.Module, adapter: LoraAdapter) -> None:
    """Every target must be a Linear of this model with matching in/out sizes."""
    modules = dict(model.named_modules())
    wrong = []
    for path, (a, b) in adapter.pairs.items():
        m = modules.get(path)
        if isinstance(m, LoraLinear):
            m = m.base
        if not isinstance(m, nn.Linear):
            wrong.append(f"{path} (not a linear layer of this model)")
        elif m.in_features != a.shape[1] or m.out_features != b.shape[0]:
            wrong.append(f"{path} (LoRA {a.shape[1]}→{b.shape[0]}, model {m.in_features}→{m.out_features})")
    if wrong:
        raise LoraError(
            f"LoRA {adapter.name} does not fit this ACE-Step model: {len(wrong)} target(s) wrong, e.g. "
            + "; ".join(wrong[:3]) + ". Is it a LoRA for ACE-Step v1 3.5B?"
        )


def _set_module(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, module)


@contextmanager
def applied_loras(model: nn.Module, loras: Sequence[tuple[LoraAdapter, float]]) -> Iterator[nn.Module]:
    """Wrap the targeted Linears with the given (adapter, weight) list; restored on exit."""
    loras = [(ad, float(w)) for ad, w in loras]
    if not loras:
        yield model
        return
    for ad, _ in loras:
        check_fits(model, ad)
    param = next(model.parameters())
    per_module: dict[str, list[tuple[torch.Tensor, torch.Tensor, float]]] = {}
    for ad, w in loras:
        for path, (a, b) in ad.pairs.items():
            per_module.setdefault(path, []).append(
                (a.to(param.device, param.dtype), b.to(param.device, param.dtype), w)
            )
    originals: dict[str, nn.Module] = {}
    try:
        for path, deltas in per_module.items():
            base = model.get_submodule(path)
            originals[path] = base
            _set_module(model, path, LoraLinear(base, deltas))
        yield model
    finally:
        for path, base in originals.items():
            _set_module(model, path, base)
