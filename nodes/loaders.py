"""Loader nodes: the upstream folder layout, ComfyUI's all-in-one checkpoint, and LoRAs."""
from __future__ import annotations

import inspect
from pathlib import Path

import torch

import comfy.model_management as mm
import comfy.utils
import folder_paths

from ..acestep_core import (DEFAULT_MODEL_NAME, HF_REPO_ID, PART_FOLDERS, AceStepPipeline, CheckpointError,
                           ModelUnavailable, check_fits, download_checkpoint, load_lora, open_all_in_one)
from ..acestep_core import resolve_dtype as library_dtype

from . import paths
from ._comfy import CATEGORY, ModelType, info, io
from .conditioning import check_model
from .convert import AceStepInputError
from .model import OFFLOAD_MODES, LoraEntry, build_model

DTYPE_CHOICES = ["auto", "float32", "bfloat16", "float16"]
DTYPE_TOOLTIP = ("Precision of all three networks. auto: ComfyUI's choice for this device (bfloat16 on GPUs that "
                 "support it, as the original's default; float32 on CPU). float32 reproduces the original's float32 "
                 "results; float16 is not what the model was trained in.")
OFFLOAD_TOOLTIP = ("comfyui: ComfyUI's model management keeps each network on the GPU while memory allows and "
                   "unloads it when another model needs room. after_each_stage: move each network back to the CPU "
                   "right after its stage (the original's cpu_offload; least VRAM, slower).")


def resolve_dtype(choice: str) -> torch.dtype:
    if choice == "auto":
        dt = mm.unet_dtype(device=mm.get_torch_device(), supported_dtypes=[torch.bfloat16, torch.float32])
        return dt if dt in (torch.float32, torch.bfloat16, torch.float16) else torch.float32
    try:
        return library_dtype(choice)
    except ValueError:
        raise AceStepInputError(f"dtype {choice!r} is unknown; choose one of {', '.join(DTYPE_CHOICES)}.") from None


def _open_pipeline(path: Path, dtype: str) -> AceStepPipeline:
    return AceStepPipeline.from_pretrained(str(path), dtype=resolve_dtype(dtype), device="cpu",
                                           lyric_vocab=paths.comfy_lyric_vocab(), download=False)


def _download_progress_class():
    """A tqdm class that drives a ComfyUI progress bar and honours Cancel between files."""
    from tqdm.auto import tqdm

    pbar = comfy.utils.ProgressBar(1)

    class ComfyTqdm(tqdm):
        def update(self, n=1):
            out = super().update(n)
            self._comfy_done = getattr(self, "_comfy_done", 0) + (n or 0)
            mm.throw_exception_if_processing_interrupted()
            if self.total:
                pbar.update_absolute(min(self._comfy_done, self.total), self.total)
            return out

    return ComfyTqdm


def download_default_model(name: str = DEFAULT_MODEL_NAME) -> Path:
    """Download ACE-Step/ACE-Step-v1-3.5B into models/acestep/<name> (resumable)."""
    target = paths.download_target(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    info("downloading %s to %s (about 7.7 GB, resumable)", HF_REPO_ID, target)
    kwargs = {"local_dir": target}
    if "tqdm_class" in inspect.signature(download_checkpoint).parameters:
        kwargs["tqdm_class"] = _download_progress_class()
    try:
        folder = Path(download_checkpoint(HF_REPO_ID, **kwargs))
    except ModelUnavailable as e:  # the library's advice names CLI options; here the ways are ComfyUI's
        raise AceStepInputError(
            f"cannot download the model {e.repo_id} ({e.reason}). Download it on a machine with network access "
            f"(https://huggingface.co/{e.repo_id}) and copy its four folders ({', '.join(PART_FOLDERS.values())}) "
            f"into {target}, or put ComfyUI's ace_step_v1_3.5b.safetensors in models/checkpoints and load it with "
            "AceStepV1CheckpointLoader.") from None
    if not paths.is_v1_folder(folder):
        raise AceStepInputError(f"the download into {folder} is incomplete; run the node again to resume it.")
    return folder


class ModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1ModelLoader",
            display_name="ACE-Step v1 Model Loader",
            category=CATEGORY,
            description=(
                "Loads an ACE-Step v1 checkpoint in the original's folder layout (ace_step_transformer, "
                "music_dcae_f8c8, music_vocoder, umt5-base) from models/acestep/<name>. "
                f"'{DEFAULT_MODEL_NAME}' is downloaded from Hugging Face ({HF_REPO_ID}) on first use if missing."),
            inputs=[
                io.Combo.Input("model_name", options=paths.list_model_folders(), default=DEFAULT_MODEL_NAME,
                               tooltip=("A checkpoint folder in models/acestep (or models/TTS). "
                                        f"{DEFAULT_MODEL_NAME} is downloaded there when it is not present yet.")),
                io.Combo.Input("dtype", options=DTYPE_CHOICES, default="auto", tooltip=DTYPE_TOOLTIP),
                io.Combo.Input("offload", options=list(OFFLOAD_MODES), default="comfyui", tooltip=OFFLOAD_TOOLTIP),
            ],
            outputs=[ModelType.Output(display_name="model", tooltip="The ACE-Step v1 model for every other node.")],
        )

    @classmethod
    def validate_inputs(cls, model_name=None) -> bool | str:
        if model_name is None:
            return True
        if paths.find_model_folder(model_name) is None and not paths.can_download(model_name):
            return paths.missing_model_message(model_name)
        return True

    @classmethod
    def execute(cls, model_name: str, dtype: str = "auto", offload: str = "comfyui") -> io.NodeOutput:
        folder = paths.find_model_folder(model_name)
        if folder is None:
            if not paths.can_download(model_name):
                raise AceStepInputError(paths.missing_model_message(model_name))
            folder = download_default_model(model_name)
        info("loading %s from %s", model_name, folder)
        return io.NodeOutput(build_model(_open_pipeline(folder, dtype), model_name, offload))


class CheckpointLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1CheckpointLoader",
            display_name="ACE-Step v1 All-in-one Checkpoint Loader",
            category=CATEGORY,
            description=("Loads ComfyUI's single-file ACE-Step v1 checkpoint (ace_step_v1_3.5b.safetensors from "
                         "models/checkpoints) with this pack's own faithful model code, not ComfyUI's."),
            inputs=[
                io.Combo.Input("ckpt_name", options=paths.list_checkpoints(),
                               tooltip="The all-in-one .safetensors file (transformer, DCAE, vocoder, UMT5, tokenizer)."),
                io.Combo.Input("dtype", options=DTYPE_CHOICES, default="auto", tooltip=DTYPE_TOOLTIP),
                io.Combo.Input("offload", options=list(OFFLOAD_MODES), default="comfyui", tooltip=OFFLOAD_TOOLTIP),
            ],
            outputs=[ModelType.Output(display_name="model", tooltip="The ACE-Step v1 model for every other node.")],
        )

    @classmethod
    def validate_inputs(cls, ckpt_name=None) -> bool | str:
        if ckpt_name is None:
            return True
        path = folder_paths.get_full_path("checkpoints", ckpt_name)
        if path is None:
            return f"checkpoint {ckpt_name!r} not found in models/checkpoints."
        try:
            open_all_in_one(Path(path))  # reads the header only
        except CheckpointError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, ckpt_name: str, dtype: str = "auto", offload: str = "comfyui") -> io.NodeOutput:
        path = folder_paths.get_full_path("checkpoints", ckpt_name)
        if path is None:
            raise AceStepInputError(f"checkpoint {ckpt_name!r} not found in models/checkpoints.")
        info("loading all-in-one checkpoint %s", path)
        return io.NodeOutput(build_model(_open_pipeline(Path(path), dtype), Path(ckpt_name).stem, offload))


class LoraLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1LoraLoader",
            display_name="ACE-Step v1 LoRA Loader",
            category=CATEGORY,
            description=("Adds an ACE-Step v1 LoRA (PEFT format, e.g. ACE-Step-v1-chinese-rap-LoRA) from models/loras. "
                         "Chain several; each applies weight·B·A on top of the base model while sampling, without "
                         "changing the shared weights."),
            inputs=[
                ModelType.Input("model", tooltip="The ACE-Step v1 model (possibly with LoRAs already)."),
                io.Combo.Input("lora_name", options=paths.list_loras(),
                               tooltip=("A LoRA .safetensors file, or a folder holding pytorch_lora_weights.safetensors "
                                        "(the layout the original downloads).")),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.05,
                               tooltip=("The original's lora_weight (default 1.0, its UI allows -3..3). The update is "
                                        "exactly strength·B·A: the adapter's own alpha is ignored, as in the original.")),
            ],
            outputs=[ModelType.Output(display_name="model", tooltip="The model with this LoRA added.")],
        )

    @classmethod
    def validate_inputs(cls, lora_name=None) -> bool | str:
        if lora_name is not None and paths.find_lora(lora_name) is None:
            return f"LoRA {lora_name!r} not found in models/loras (a .safetensors file or a PEFT folder)."
        return True

    @classmethod
    def execute(cls, model, lora_name: str, strength: float = 1.0) -> io.NodeOutput:
        model = check_model(model)
        if strength == 0:
            return io.NodeOutput(model)
        path = paths.find_lora(lora_name)
        if path is None:
            raise AceStepInputError(f"LoRA {lora_name!r} not found in models/loras.")
        adapter = load_lora(path)
        check_fits(model.pipe.transformer, adapter)
        return io.NodeOutput(model.with_lora(LoraEntry(adapter, float(strength), lora_name)))


NODES = [ModelLoader, CheckpointLoader, LoraLoader]
