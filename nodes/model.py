"""The ACESTEP_V1_MODEL value: an `AceStepPipeline` whose three networks ComfyUI manages.

Each network (UMT5 text encoder, DiT transformer, DCAE + vocoder) is wrapped in a
`comfy.model_patcher.ModelPatcher`, so ComfyUI's model management loads it onto the GPU for a
stage (`load_models_gpu`), evicts it when another model needs the memory, and unloads it between
jobs (`--lowvram`, "free memory", `--cpu` all behave as for native models).

The value is immutable: the LoRA loader returns a copy with one more adapter; the adapters are
applied by the sampler for the duration of one generation (acestep_core.lora), never written into
the shared weights.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import torch
from torch import nn

import comfy.model_management as mm
import comfy.model_patcher

from ..acestep_core import AceStepPipeline

PARTS = ("text", "transformer", "dcae")
OFFLOAD_MODES = ("comfyui", "after_each_stage")


class _Holder(nn.Module):
    """A plain container so ModelPatcher can set `.device` (diffusers/transformers make it read-only)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.device = _param_device(inner)

    def get_dtype(self) -> torch.dtype | None:
        for p in self.inner.parameters():
            return p.dtype
        return None


def _param_device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


@dataclass(frozen=True, eq=False)
class LoraEntry:
    adapter: Any  # acestep_core.lora.LoraAdapter
    weight: float
    name: str


@dataclass(frozen=True, eq=False)
class AceStepModel:
    """What the loader nodes output and every other node consumes."""

    pipe: AceStepPipeline
    name: str
    patchers: dict = field(compare=False)
    offload: str = "comfyui"
    loras: tuple = ()

    def with_lora(self, entry: LoraEntry) -> "AceStepModel":
        return replace(self, loras=self.loras + (entry,))

    @property
    def lora_list(self) -> list:
        return [(e.adapter, e.weight) for e in self.loras]

    @property
    def dtype(self) -> torch.dtype:
        return self.pipe.dtype

    def describe(self) -> str:
        extra = "".join(f" + LoRA {e.name} @ {e.weight:g}" for e in self.loras)
        return f"{self.name} ({str(self.pipe.dtype).removeprefix('torch.')}){extra}"


def _patcher(module: nn.Module, load_device, offload_device) -> comfy.model_patcher.ModelPatcher:
    return comfy.model_patcher.ModelPatcher(_Holder(module), load_device=load_device, offload_device=offload_device)


def build_model(pipe: AceStepPipeline, name: str, offload: str = "comfyui") -> AceStepModel:
    """Load the three networks (on the offload device) and wrap each in a ModelPatcher."""
    if offload not in OFFLOAD_MODES:
        raise ValueError(f"offload {offload!r} is unknown; choose one of {', '.join(OFFLOAD_MODES)}")
    with torch.inference_mode(False):  # ordinary (not inference) tensors: see _plain_tensors
        text = pipe.text_encoder.model
        transformer = pipe.transformer
        dcae = pipe.codec
    patchers = {
        "text": _patcher(text, mm.text_encoder_device(), mm.text_encoder_offload_device()),
        "transformer": _patcher(transformer, mm.get_torch_device(), mm.unet_offload_device()),
        "dcae": _patcher(dcae, mm.vae_device(), mm.vae_offload_device()),
    }
    return AceStepModel(pipe=pipe, name=name, patchers=patchers, offload=offload)


def _plain_tensors(module: nn.Module) -> None:
    """Replace inference tensors among the weights by ordinary copies.

    ComfyUI runs nodes under torch.inference_mode(), so weights it moves between devices become
    inference tensors, and acestep_core keys caches on tensor version counters, which inference
    tensors lack. Costs nothing when there are none (the usual case: we load and move the weights
    outside inference mode); tied weights stay tied.
    """
    if not any(t.is_inference() for t in module.parameters()) and not any(t.is_inference() for t in module.buffers()):
        return
    done: dict[int, torch.Tensor] = {}
    with torch.inference_mode(False):
        for m in module.modules():
            for name, p in list(m._parameters.items()):
                if p is not None and p.is_inference():
                    if id(p) not in done:
                        done[id(p)] = nn.Parameter(p.clone(), requires_grad=False)
                    m._parameters[name] = done[id(p)]
            for name, b in list(m._buffers.items()):
                if b is not None and b.is_inference():
                    if id(b) not in done:
                        done[id(b)] = b.clone()
                    m._buffers[name] = done[id(b)]


def _unload(patcher) -> None:
    """Move one of our models back to its offload device now (the 'after_each_stage' option)."""
    for i, loaded in enumerate(list(mm.current_loaded_models)):
        if loaded.model is patcher:
            mm.current_loaded_models.pop(i)
            with torch.inference_mode(False):
                loaded.model_unload()
            break
    mm.soft_empty_cache()


@contextmanager
def running(model: AceStepModel, part: str | tuple[str, ...], memory_required: int = 0) -> Iterator[AceStepPipeline]:
    """Load one network (or several, e.g. ("dcae", "text")) through ComfyUI and yield a view of the
    pipeline computing where the (first) one now lives.

    The view is a pipeline built from the model's components, computing where ComfyUI put them;
    the cached model value is never modified. Weights are loaded fully (`force_full_load`): our layers
    are plain torch layers, which ComfyUI cannot stream partially. Under `--novram` ComfyUI keeps
    them on the CPU and the stage runs there. The text encoder computes on its own device, the
    codec and transformer on the view's.
    """
    parts = (part,) if isinstance(part, str) else tuple(part)
    patchers = [model.patchers[p] for p in parts]
    with torch.inference_mode(False):  # moved weights stay ordinary tensors
        mm.load_models_gpu(patchers, memory_required=int(memory_required), force_full_load=True)
    for patcher in patchers:
        _plain_tensors(patcher.model)
    device = _param_device(patchers[0].model)
    # ComfyUI moves and frees the weights (the networks are shared with the patchers), so the view
    # neither offloads nor drops them.
    view = AceStepPipeline(**model.pipe.components, dtype=model.pipe.dtype, device=device, source=model.pipe.source)
    try:
        # ComfyUI runs nodes under torch.inference_mode(); acestep_core keys caches on tensor version
        # counters, which inference tensors lack. Run the stage as plain no-grad code (same numbers).
        with torch.inference_mode(False), torch.no_grad():
            yield view
    finally:
        if model.offload == "after_each_stage":
            for patcher in patchers:
                _unload(patcher)
