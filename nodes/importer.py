"""Import an original ACE-Step `*_input_params.json`: its settings and seeds as node outputs, so a
shared song can be regenerated exactly (missing keys default the way the original's UI does, spec §11.3)."""
from __future__ import annotations

import hashlib
import json

from ..acestep_core import from_record

from . import paths
from ._comfy import CATEGORY, OptionsType, io
from .convert import AceStepInputError
from .noise import seeds_text
from .sampling import SamplerOptions

PASTE = "(paste JSON below)"

RETAKE_TASKS = ("retake", "repaint", "extend", "edit")


def parse_params(text: str) -> dict:
    """Every output of the node, from the JSON text of an input_params file (read by acestep_core.from_record)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise AceStepInputError(f"input_params: not valid JSON ({e}).") from None
    try:
        p = from_record(data, require_seeds=True, require_text=False)
    except ValueError as e:
        raise AceStepInputError(str(e)) from None
    task = str(p["task"])
    if not p["retake_seeds"] and task in RETAKE_TASKS:
        raise AceStepInputError(f"input_params: task {task!r} needs 'retake_seeds', which this file lacks.")
    a2a = bool(p["audio2audio_enable"]) or task == "audio2audio"
    options = {
        "scheduler": p["scheduler_type"], "cfg_type": p["cfg_type"], "omega_scale": float(p["omega_scale"]),
        "guidance_interval": float(p["guidance_interval"]), "guidance_interval_decay": float(p["guidance_interval_decay"]),
        "min_guidance_scale": float(p["min_guidance_scale"]), "guidance_scale_text": float(p["guidance_scale_text"]),
        "guidance_scale_lyric": float(p["guidance_scale_lyric"]), "use_erg_tag": bool(p["use_erg_tag"]),
        "use_erg_lyric": bool(p["use_erg_lyric"]), "use_erg_diffusion": bool(p["use_erg_diffusion"]),
        "oss_steps": ", ".join(str(v) for v in p["oss_steps"]),
        "guidance_cache_interval": p["guidance_cache_interval"],
    }
    try:
        opts = SamplerOptions.execute(**options).args[0]
    except ValueError as e:
        raise AceStepInputError(f"input_params: {e}") from None
    seeds = p["actual_seeds"]
    out = {
        "tags": str(p["prompt"]), "lyrics": str(p["lyrics"]), "seconds": float(p["audio_duration"]),
        "batch_size": len(seeds), "seeds": seeds_text(seeds), "retake_seeds": seeds_text(p["retake_seeds"]),
        "retake_variance": float(p["retake_variance"]), "steps": int(p["infer_step"]),
        "guidance_scale": float(p["guidance_scale"]), "options": opts, "task": task,
        "repaint_start": float(p["repaint_start"]), "repaint_end": float(p["repaint_end"]),
        "audio2audio_strength": float(p["ref_audio_strength"]) if a2a else 0.0,
        "edit_target_tags": p["edit_target_prompt"] or "", "edit_target_lyrics": p["edit_target_lyrics"] or "",
        "edit_n_min": float(p["edit_n_min"]), "edit_n_max": float(p["edit_n_max"]), "edit_n_avg": int(p["edit_n_avg"]),
        "lora_name": str(p["lora_name_or_path"]), "lora_weight": float(p["lora_weight"]),
    }
    out["summary"] = _summary(out, a2a)
    return out


def _summary(o: dict, a2a: bool) -> str:
    task = "audio2audio" if a2a else o["task"]
    lines = [f"task: {task}; {o['steps']} steps, guidance {o['guidance_scale']:g}, seeds {o['seeds']}"
             + (f", retake seeds {o['retake_seeds']} (variance {o['retake_variance']:g})" if o["retake_seeds"] else "")]
    if task == "text2music":
        lines.append(f"EmptyLatent {o['seconds']:g} s x {o['batch_size']} -> Sampler with SeededNoise(seeds).")
    elif task == "retake":
        lines.append("EmptyLatent + VariationNoise(retake_seeds, retake_variance) -> Sampler.")
    elif task == "repaint":
        lines.append(f"source audio -> AudioToLatent -> RepaintRegion({o['repaint_start']:g}, {o['repaint_end']:g}) "
                     "-> Sampler with VariationNoise(retake_seeds, retake_variance).")
    elif task == "extend":
        lines.append(f"source audio -> AudioToLatent -> ExtendRegion(left {max(0.0, -o['repaint_start']):g} s, "
                     f"right = {o['repaint_end']:g} s - source length) -> Sampler with VariationNoise.")
    elif task == "edit":
        lines.append("source audio -> AudioToLatent -> FlowEditSampler; tags/lyrics here are the TARGET ones (the "
                     "file does not keep the source's).")
    elif task == "audio2audio":
        lines.append(f"reference audio -> AudioToLatent -> Sampler(audio2audio_strength {o['audio2audio_strength']:g}).")
    if o["lora_name"] not in ("", "none"):
        lines.append(f"LoRA: {o['lora_name']} at {o['lora_weight']:g} (AceStepV1LoraLoader).")
    return "\n".join(lines)


OUTPUTS = [
    ("tags", io.String, "The tags (prompt)."), ("lyrics", io.String, "The lyrics."),
    ("seconds", io.Float, "audio_duration, for AceStepV1EmptyLatent."),
    ("batch_size", io.Int, "Number of seeds = batch size, for AceStepV1EmptyLatent."),
    ("seeds", io.String, "actual_seeds, for AceStepV1SeededNoise's 'seeds'."),
    ("retake_seeds", io.String, "retake_seeds, for AceStepV1VariationNoise's 'retake_seeds' (empty if absent)."),
    ("retake_variance", io.Float, "retake_variance, for AceStepV1VariationNoise."),
    ("steps", io.Int, "infer_step."), ("guidance_scale", io.Float, "guidance_scale."),
    ("options", OptionsType, "Every other sampler setting, for the samplers' 'options'."),
    ("task", io.String, "The original task."),
    ("repaint_start", io.Float, "repaint_start (seconds)."), ("repaint_end", io.Float, "repaint_end (seconds)."),
    ("audio2audio_strength", io.Float, "ref_audio_strength if audio2audio was on, else 0."),
    ("edit_target_tags", io.String, "edit_target_prompt."), ("edit_target_lyrics", io.String, "edit_target_lyrics."),
    ("edit_n_min", io.Float, "edit_n_min."), ("edit_n_max", io.Float, "edit_n_max."), ("edit_n_avg", io.Int, "edit_n_avg."),
    ("lora_name", io.String, "lora_name_or_path ('none' if none)."), ("lora_weight", io.Float, "lora_weight."),
    ("summary", io.String, "How to wire these outputs to regenerate the song."),
]


def _read(params_file: str | None, params_json: str | None) -> str:
    if params_json and params_json.strip():
        return params_json
    if params_file in (None, "", PASTE):
        raise AceStepInputError("choose an input_params .json file from the input folder, or paste its content.")
    path = paths.find_param_file(params_file)
    if path is None:
        raise AceStepInputError(f"{params_file!r} not found in ComfyUI's input folder.")
    return path.read_text(encoding="utf-8")


class ImportParams(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1ImportParams",
            display_name="ACE-Step v1 Import input_params.json",
            category=CATEGORY,
            description=("Reads an original ACE-Step *_input_params.json (written next to every generated song) and "
                         "outputs its settings and seeds, to regenerate the song exactly with these nodes."),
            inputs=[
                io.Combo.Input("params_file", options=[PASTE] + paths.list_param_files(), default=PASTE,
                               tooltip="A .json file in ComfyUI's input folder."),
                io.String.Input("params_json", multiline=True, default="", optional=True,
                                tooltip="Or paste the JSON here; when not empty it is used instead of the file."),
            ],
            outputs=[t.Output(display_name=name, tooltip=tip) for name, t, tip in OUTPUTS],
        )

    @classmethod
    def validate_inputs(cls, params_file=None, params_json=None) -> bool | str:
        if params_json and params_json.strip():
            try:
                parse_params(params_json)
            except AceStepInputError as e:
                return str(e)
            return True
        if params_file is not None and params_file != PASTE and paths.find_param_file(params_file) is None:
            return f"{params_file!r} not found in ComfyUI's input folder."
        return True

    @classmethod
    def fingerprint_inputs(cls, params_file=None, params_json=None):
        try:
            text = _read(params_file, params_json)
        except AceStepInputError:
            return ""
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def execute(cls, params_file: str = PASTE, params_json: str | None = None) -> io.NodeOutput:
        out = parse_params(_read(params_file, params_json))
        return io.NodeOutput(*(out[name] for name, _t, _tip in OUTPUTS))


NODES = [ImportParams]
