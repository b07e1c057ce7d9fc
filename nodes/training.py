"""Training nodes: a folder of songs → a LoRA in models/loras, with the original trainer's recipe.

Both nodes are thin: the data checks, the training loop and the checkpoint folders are
`acestep_core.training`'s. The nodes add what ComfyUI needs: folders from ComfyUI's own places
(input/ for the songs, models/loras/ for the result), a progress tick per optimizer step, Cancel
that stops at the next step boundary with that step saved (resumable), and outputs other nodes
use: the model with the trained LoRA, its folder, and the loss per step as ComfyUI's LOSS_MAP
(what the core LossGraphNode plots).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import comfy.model_management as mm
import comfy.utils
import folder_paths
import torch

from ..acestep_core import check_fits, load_lora
from ..acestep_core.training import (
    RAPMACHINE_LORA_CONFIG,
    DataError,
    LoraConfigError,
    LoraTargetError,
    ResumeError,
    StepReport,
    TrainConfig,
    TrainResult,
    encode_training_data,
    lora_targets,
    parse_lora_config,
    scan_songs,
    train_lora,
    training_step_bytes,
)
from ._comfy import CATEGORY, ModelType, info, io, warn
from .conditioning import check_model
from .convert import AceStepInputError
from .model import AceStepModel, LoraEntry, running

TRAIN_CATEGORY = f"{CATEGORY}/training"
DatasetType = io.Custom("ACESTEP_V1_LORA_DATASET")
NO_FOLDER = "(no folder in input/)"
BAD_SONG_CHOICES = ["refuse", "skip"]
_POLICY = {"refuse": "error", "skip": "skip"}  # the node's words → TrainConfig.on_bad_data
DEFAULT_TARGETS = ", ".join(RAPMACHINE_LORA_CONFIG["target_modules"])


@dataclass(frozen=True)
class LoraDataset:
    """The ACESTEP_V1_LORA_DATASET value: a checked folder of songs and what to do with bad ones.

    Only the folder travels to the trainer (the library re-reads it, so a song edited after this
    node ran cannot slip in unchecked); the names are kept for the preview and the trainer's log.
    """

    folder: Path
    on_bad_data: str  # "error" | "skip" (TrainConfig.on_bad_data)
    songs: tuple[str, ...]
    skipped: tuple[str, ...]


# ------------------------------------------------------------------------------------------ dataset

def list_input_folders() -> list[str]:
    """Subfolders of ComfyUI's input directory (each may be a training folder); safe in define_schema."""
    base = Path(folder_paths.get_input_directory())
    try:
        names = sorted((p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")), key=str.lower)
    except OSError:
        names = []
    return names or [NO_FOLDER]


def resolve_data_folder(folder: str, path: str = "") -> Path:
    """The training folder: `path` when given (absolute), else `folder` inside ComfyUI's input directory."""
    path = (path or "").strip()
    if path:
        p = Path(path).expanduser()
        if not p.is_absolute():
            raise AceStepInputError(f"path {path!r} is not absolute; give a full path (e.g. /data/my_songs), or "
                                    "leave it empty and pick a folder of ComfyUI's input directory.")
        return p
    if folder in ("", NO_FOLDER) or ".." in Path(folder).parts or os.path.isabs(folder):
        raise AceStepInputError(f"folder {folder!r}: put a folder of songs into ComfyUI's input directory "
                                f"({folder_paths.get_input_directory()}) and pick it, or give an absolute path.")
    return Path(folder_paths.get_input_directory()) / folder


def scan_dataset(root: Path, on_bad_song: str) -> LoraDataset:
    """Find and check every song (library rules); refuse mode raises naming every bad file."""
    try:
        songs, problems = scan_songs(root, on_bad_song == "refuse", "set on_bad_song to 'skip' to train without them")
    except DataError as e:
        raise AceStepInputError(str(e)) from e
    return LoraDataset(root, _POLICY[on_bad_song], tuple(s.name for s in songs), tuple(str(p) for p in problems))


def describe_dataset(data: LoraDataset) -> str:
    """The preview text: what will be trained on and what was left out, with the reason."""
    lines = [f"{data.folder}: {len(data.songs)} song(s)"]
    lines += [f"  + {name}" for name in data.songs]
    if data.skipped:
        lines.append(f"skipped {len(data.skipped)}:")
        lines += [f"  - {reason}" for reason in data.skipped]
    return "\n".join(lines)


def folder_fingerprint(root: Path) -> str:
    """Names, sizes and times of the folder's files: a changed song re-runs the scan (ComfyUI caches otherwise)."""
    try:
        entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in root.iterdir() if p.is_file())
    except OSError as e:
        return f"unreadable: {e}"
    return repr(entries)


class LoraDatasetNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1LoraDataset",
            display_name="ACE-Step v1 LoRA Dataset",
            category=TRAIN_CATEGORY,
            description=("A folder of songs to train a LoRA on: each NAME.mp3, .wav or .flac with NAME_prompt.txt "
                         "(tags) and NAME_lyrics.txt beside it (the original trainer's layout). Every song is "
                         "checked now, so a bad one is named before any model loads."),
            inputs=[
                io.Combo.Input("folder", options=list_input_folders(),
                               tooltip="A folder inside ComfyUI's input directory holding the songs."),
                io.Combo.Input("on_bad_song", options=BAD_SONG_CHOICES, default="refuse",
                               tooltip=("refuse: stop with a list of every unusable song and why. skip: train "
                                        "without them (the preview lists them).")),
                io.String.Input("path", default="", optional=True,
                                tooltip="An absolute folder path instead of the input-directory folder (optional)."),
            ],
            outputs=[
                DatasetType.Output(display_name="dataset", tooltip="The checked songs, for AceStepV1TrainLora."),
                io.String.Output(display_name="preview", tooltip="The songs found, and those skipped with the reason."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, folder: str = "", on_bad_song: str = "refuse", path: str = "") -> str:
        try:
            return folder_fingerprint(resolve_data_folder(folder, path))
        except AceStepInputError as e:
            return str(e)

    @classmethod
    def execute(cls, folder: str, on_bad_song: str = "refuse", path: str = "") -> io.NodeOutput:
        if on_bad_song not in BAD_SONG_CHOICES:
            raise AceStepInputError(f"on_bad_song {on_bad_song!r} is unknown; choose one of {BAD_SONG_CHOICES}.")
        data = scan_dataset(resolve_data_folder(folder, path), on_bad_song)
        for reason in data.skipped:
            warn("skipped: %s", reason)
        return io.NodeOutput(data, describe_dataset(data))


# ------------------------------------------------------------------------------------------ training

def lora_spec_json(r: int, alpha: float, use_rslora: bool, target_modules: str) -> dict:
    """The original's LoRA config dict (as in its lora.json) from the node's widgets, checked by the library."""
    targets = [t.strip() for t in target_modules.split(",") if t.strip()]
    data = {"r": int(r), "lora_alpha": alpha, "use_rslora": bool(use_rslora), "target_modules": targets}
    try:
        parse_lora_config(data, where="the LoRA settings")
    except LoraConfigError as e:
        raise AceStepInputError(str(e)) from e
    return data


def lora_output_folder(lora_name: str, resume: bool) -> Path:
    """models/loras/<lora_name>: must be new (or, to resume, exist); an existing run is never overwritten."""
    name = lora_name.strip()
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise AceStepInputError(f"lora_name {lora_name!r}: give a plain folder name (no slashes); the LoRA is "
                                "written to models/loras/<lora_name>/.")
    roots = folder_paths.get_folder_paths("loras")
    if not roots:
        raise AceStepInputError("ComfyUI has no models/loras folder configured; add one (extra_model_paths.yaml).")
    out = Path(roots[0]) / name
    if out.exists() and not resume:
        raise AceStepInputError(f"{out} already exists; choose another lora_name, or set resume to true to continue "
                                "the run saved there (existing checkpoints are never overwritten).")
    if resume and not out.is_dir():
        raise AceStepInputError(f"resume: {out} does not exist, so there is nothing to continue; set resume to false "
                                "to start a new run.")
    return out


class _StepHooks:
    """The library's callbacks: a progress tick per step, and Cancel turned into a clean stop.

    ComfyUI's progress hook raises InterruptProcessingException on Cancel; raising through the
    library would lose the steps since the last checkpoint, so the exception is caught here and
    `should_stop` asks the library to save this step and return.
    """

    def __init__(self, total: int):
        self.pbar = comfy.utils.ProgressBar(max(1, total))
        self.cancelled = False

    def on_step(self, report: StepReport) -> None:
        try:
            self.pbar.update_absolute(report.step, report.total)
        except mm.InterruptProcessingException:
            self.cancelled = True

    def should_stop(self) -> bool:
        if mm.processing_interrupted():
            self.cancelled = True
        return self.cancelled

    def on_message(self, text: str) -> None:
        info("%s", text)
        if not self.cancelled:  # before training (encoding): nothing trained yet, nothing to save
            mm.throw_exception_if_processing_interrupted()


def run_training(model: AceStepModel, config: TrainConfig, total: int) -> TrainResult:
    """Encode the songs with the model's text encoder and codec, then train the model's own transformer.

    Each stage loads its networks through ComfyUI's model management, as sampling does (the
    transformer with room for a training step); the trainer hands the transformer back unchanged.
    Gradients are on only inside; Cancel ends as ComfyUI's interrupt.
    """
    hooks = _StepHooks(total)
    try:
        with running(model, ("dcae", "text")) as pipe:
            data = encode_training_data(config, pipe, hooks.on_message)
        frames = max(song.latents.shape[-1] for song in data.songs)
        lyric_tokens = max(song.lyric_ids.shape[-1] for song in data.songs)
        memory = training_step_bytes(model.pipe.transformer, config.lora_spec(), frames, config.batch_size,
                                     config.gradient_checkpointing, lyric_tokens)
        with running(model, "transformer", memory) as pipe, torch.enable_grad():
            result = train_lora(config, data=data, transformer=pipe.transformer, on_step=hooks.on_step,
                                on_message=hooks.on_message, should_stop=hooks.should_stop)
    except (DataError, LoraConfigError, LoraTargetError, ResumeError) as e:
        raise AceStepInputError(str(e)) from e
    if result.stopped:
        info("training stopped at step %d; the checkpoint %s resumes it (resume = true)", result.steps, result.final)
        mm.throw_exception_if_processing_interrupted()  # clears the flag if it is still set
        raise mm.InterruptProcessingException()
    return result


def trained_model(model: AceStepModel, folder: Path, name: str) -> AceStepModel:
    """The input model plus the freshly trained LoRA at strength 1 (read back as the LoRA loader would)."""
    adapter = load_lora(folder)
    check_fits(model.pipe.transformer, adapter)
    return model.with_lora(LoraEntry(adapter, 1.0, name))


def loss_map(losses: list[float]) -> dict:
    """ComfyUI's LOSS_MAP, as its TrainLoraNode makes it: {"loss": [one float per optimizer step]}."""
    return {"loss": [float(x) for x in losses]}


class TrainLoraNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1TrainLora",
            display_name="ACE-Step v1 Train LoRA",
            category=TRAIN_CATEGORY,
            description=("Trains a LoRA on a dataset with the original trainer's recipe (AdamW, warm-up, linear "
                         "decay, condition dropout, gradient clipping) and writes it to models/loras/<lora_name>/: "
                         "one folder per checkpoint, final-step-N being the result. Cancel stops after the current "
                         "step with that step saved; resume continues a run bit for bit. Trains the model's own "
                         "transformer (loaded by ComfyUI as for sampling) and takes the LoRA out again afterwards, "
                         "so the input model is unchanged."),
            is_output_node=True,
            inputs=[
                ModelType.Input("model", tooltip=("The model to train on: its text encoder and codec encode the songs, "
                                                  "its transformer gets the LoRA.")),
                DatasetType.Input("dataset", tooltip="From AceStepV1LoraDataset."),
                io.String.Input("lora_name", default="my_acestep_lora",
                                tooltip="The output folder under models/loras; an existing one is never overwritten."),
                io.Boolean.Input("resume", default=False,
                                 tooltip=("Continue the run saved in models/loras/<lora_name> from its newest "
                                          "checkpoint (same settings needed); raise max_steps to train further.")),
                io.Int.Input("max_steps", default=2000, min=1, max=10_000_000,
                             tooltip="Optimizer steps; the learning rate decays linearly to 0 there."),
                io.Int.Input("save_every", default=200, min=1, max=10_000_000,
                             tooltip="A checkpoint folder every N steps (the original saves every 2000)."),
                io.Float.Input("learning_rate", default=1e-4, min=1e-8, max=1.0, step=1e-5,
                               tooltip="AdamW's peak learning rate (the original's 1e-4), after 10 warm-up steps."),
                io.Int.Input("batch_size", default=1, min=1, max=64,
                             tooltip="Songs per micro-batch (the original: 1)."),
                io.Int.Input("accumulate", default=1, min=1, max=1024,
                             tooltip="Micro-batches per optimizer step (gradient accumulation)."),
                io.Int.Input("seed", default=42, min=0, max=2**63 - 1,
                             tooltip="Data order, dropout, noise, timesteps and the LoRA's initial weights."),
                io.Int.Input("r", default=256, min=1, max=4096, tooltip="LoRA rank (RapMachine: 256)."),
                io.Float.Input("lora_alpha", default=32.0, min=0.01, max=100_000.0, step=1.0,
                               tooltip="LoRA alpha (RapMachine: 32); the training scale is alpha/√r with rsLoRA."),
                io.Boolean.Input("use_rslora", default=True, tooltip="rsLoRA scaling alpha/√r (RapMachine: true)."),
                io.String.Input("target_modules", default=DEFAULT_TARGETS,
                                tooltip="Comma-separated layer names that get an adapter (RapMachine's list)."),
                io.Boolean.Input("gradient_checkpointing", default=True,
                                 tooltip="Recompute the transformer blocks in the backward pass: less memory, slower."),
                io.Int.Input("tag_orders", default=8, min=1, max=64, optional=True,
                             tooltip=("Shuffled orders of each song's tags, encoded once each; each read of a song "
                                      "takes the next (the original reshuffles the tags at every read); 1 = as "
                                      "written.")),
            ],
            outputs=[
                ModelType.Output(display_name="model", tooltip="The input model with the trained LoRA at strength 1."),
                io.String.Output(display_name="lora_path", tooltip="The final LoRA folder (PEFT layout)."),
                io.LossMap.Output(display_name="loss", tooltip="The loss per optimizer step, for LossGraphNode."),
            ],
        )

    @classmethod
    def execute(cls, model, dataset, lora_name: str, resume: bool = False, max_steps: int = 2000,
                save_every: int = 200, learning_rate: float = 1e-4, batch_size: int = 1, accumulate: int = 1,
                seed: int = 42, r: int = 256, lora_alpha: float = 32.0, use_rslora: bool = True,
                target_modules: str = DEFAULT_TARGETS, gradient_checkpointing: bool = True,
                tag_orders: int = 8) -> io.NodeOutput:
        model = check_model(model)
        if not isinstance(dataset, LoraDataset):
            raise AceStepInputError(f"dataset: expected the output of AceStepV1LoraDataset, got "
                                    f"{type(dataset).__name__}; connect AceStepV1LoraDataset's dataset output.")
        out = lora_output_folder(lora_name, resume)
        config = TrainConfig(
            data=dataset.folder, lora_config=lora_spec_json(r, lora_alpha, use_rslora, target_modules), out=out,
            max_steps=int(max_steps), seed=int(seed), save_every=int(save_every), tag_orders=int(tag_orders),
            learning_rate=float(learning_rate), batch_size=int(batch_size), accumulate=int(accumulate),
            resume=bool(resume), dtype=str(model.dtype).removeprefix("torch."),
            gradient_checkpointing=bool(gradient_checkpointing), on_bad_data=dataset.on_bad_data)
        try:
            config.check()
            lora_targets(model.pipe.transformer, config.lora_spec())  # before any song is encoded
        except ValueError as e:  # LoraTargetError too
            raise AceStepInputError(str(e)) from e
        info("training LoRA %s on %d song(s) from %s", out, len(dataset.songs), dataset.folder)
        result = run_training(model, config, int(max_steps))
        name = f"{out.name}/{result.final.name}"
        return io.NodeOutput(trained_model(model, result.final, name), str(result.final), loss_map(result.losses))


NODES: list[type[io.ComfyNode]] = [LoraDatasetNode, TrainLoraNode]
