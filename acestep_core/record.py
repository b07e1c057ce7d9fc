"""The `*_input_params.json` record written beside every song: written and read back in one place.

The original writes one per output (spec §11.3). `to_record` makes it from a generation's keywords
and results, `from_record` reads one back (filling the keys older files lack, as the original's UI
does, and checking the types), and `call_kwargs` turns it into the `AceStepPipeline.__call__`
keywords that regenerate that very song. The pipeline, the CLI (`--params`) and ComfyUI's
`AceStepV1ImportParams` node all use these three.
"""
from __future__ import annotations

from typing import Any

from .settings import MAX_CACHE_INTERVAL

# Keys the record stores that are `__call__` keywords of the same name.
CALL_KEYS = (
    "format", "audio_duration", "prompt", "lyrics", "infer_step", "guidance_scale", "scheduler_type", "cfg_type",
    "omega_scale", "guidance_interval", "guidance_interval_decay", "min_guidance_scale", "use_erg_tag",
    "use_erg_lyric", "use_erg_diffusion", "oss_steps", "guidance_scale_text", "guidance_scale_lyric",
    "audio2audio_enable", "ref_audio_strength", "ref_audio_input", "lora_name_or_path", "lora_weight",
    "retake_variance", "task", "repaint_start", "repaint_end", "src_audio_path", "edit_target_prompt",
    "edit_target_lyrics", "edit_n_min", "edit_n_max", "edit_n_avg",
)

# The record's keys in the original's order.
RECORD_KEYS = (
    "format", "lora_name_or_path", "lora_weight", "task", "prompt", "lyrics", "audio_duration", "infer_step",
    "guidance_scale", "scheduler_type", "cfg_type", "omega_scale", "guidance_interval", "guidance_interval_decay",
    "min_guidance_scale", "use_erg_tag", "use_erg_lyric", "use_erg_diffusion", "oss_steps", "timecosts",
    "actual_seeds", "retake_seeds", "retake_variance", "guidance_scale_text", "guidance_scale_lyric", "repaint_start",
    "repaint_end", "edit_n_min", "edit_n_max", "edit_n_avg", "src_audio_path", "edit_target_prompt",
    "edit_target_lyrics", "audio2audio_enable", "ref_audio_strength", "ref_audio_input",
)

# What a key missing from an (older) record means: the original's __call__ / UI defaults.
DEFAULTS: dict[str, Any] = {
    "format": "wav", "audio_duration": 60.0, "infer_step": 60, "guidance_scale": 15.0, "scheduler_type": "euler",
    "cfg_type": "apg", "omega_scale": 10.0, "guidance_interval": 0.5, "guidance_interval_decay": 0.0,
    "min_guidance_scale": 3.0, "use_erg_tag": True, "use_erg_lyric": True, "use_erg_diffusion": True,
    "oss_steps": [], "guidance_scale_text": 0.0, "guidance_scale_lyric": 0.0, "audio2audio_enable": False,
    "ref_audio_strength": 0.5, "ref_audio_input": None, "lora_name_or_path": "none", "lora_weight": 1.0,
    "retake_variance": 0.5, "task": "text2music", "repaint_start": 0.0, "repaint_end": 0.0, "src_audio_path": None,
    "edit_target_prompt": None, "edit_target_lyrics": None, "edit_n_min": 0.0, "edit_n_max": 1.0, "edit_n_avg": 1,
}

# Our own key, not the original's: a song made with step caching says so, since it changes the song.
CACHE_KEY = "guidance_cache_interval"


def to_record(call: dict, *, actual_seeds: list[int], retake_seeds: list[int], oss_steps: list[int],
              timecosts: dict, guidance_cache_interval: int = 1) -> dict:
    """The record of one generation, with the original's keys and values (spec §11.3).

    `call` holds the `__call__` keywords as the user gave them; for flow-edit the record keeps the edit
    *target* as prompt/lyrics, as the original does.
    """
    results = {"oss_steps": list(oss_steps), "timecosts": dict(timecosts), "actual_seeds": list(actual_seeds),
               "retake_seeds": list(retake_seeds)}
    rec = {k: results[k] if k in results else call.get(k, DEFAULTS.get(k)) for k in RECORD_KEYS}
    if rec["task"] == "edit":
        rec["prompt"], rec["lyrics"] = call.get("edit_target_prompt"), call.get("edit_target_lyrics")
    for key in ("src_audio_path", "ref_audio_input"):
        value = rec[key]
        rec[key] = value if value is None or isinstance(value, str) else (str(value) if hasattr(value, "__fspath__")
                                                                          else None)
    if guidance_cache_interval != 1:
        rec[CACHE_KEY] = int(guidance_cache_interval)
    return rec


def _seed_list(value: Any, key: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise ValueError(f"input_params: '{key}' must be a list of integer seeds, got {value!r}")


def _oss_list(value: Any) -> list[int]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        from .sampling.schedules import parse_oss_steps

        return list(parse_oss_steps(value))
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise ValueError(f"input_params: 'oss_steps' must be a list of integers, got {value!r}")


def _cache_interval(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CACHE_INTERVAL:
        raise ValueError(f"input_params: '{CACHE_KEY}' must be a whole number from 1 to {MAX_CACHE_INTERVAL}, "
                         f"got {value!r}")
    return value


def from_record(data: Any, *, require_seeds: bool = False, require_text: bool = True) -> dict:
    """A record read back: every call key present (older files' missing keys get their defaults),
    `actual_seeds` / `retake_seeds` as lists (empty when absent), `oss_steps` a list, and our
    `guidance_cache_interval` (1 when absent). Bad content is a ValueError naming the key.

    `require_seeds`: a record without `actual_seeds` cannot regenerate its song exactly (an error);
    `require_text`: without `prompt`/`lyrics` it is probably not an input_params file (else they are "").
    """
    if not isinstance(data, dict):
        raise ValueError("input_params: expected a JSON object (an ACE-Step *_input_params.json)")
    if data.get("actual_seeds") is None and require_seeds:
        raise ValueError("input_params: no 'actual_seeds'; without the seeds the song cannot be regenerated exactly")
    if require_text and ("prompt" not in data or "lyrics" not in data):
        raise ValueError("input_params lacks 'prompt' or 'lyrics'; is it an ACE-Step input_params file?")
    rec = {**DEFAULTS, "prompt": "", "lyrics": "",
           **{k: v for k, v in data.items() if v is not None or k.startswith("edit_target")}}
    rec["oss_steps"] = _oss_list(rec["oss_steps"])
    rec["actual_seeds"] = _seed_list(data["actual_seeds"], "actual_seeds") if data.get("actual_seeds") else []
    rec["retake_seeds"] = _seed_list(data["retake_seeds"], "retake_seeds") if data.get("retake_seeds") else []
    rec[CACHE_KEY] = _cache_interval(data.get(CACHE_KEY, 1))
    if rec["task"] == "edit":
        # The record stores the edit *target* as prompt/lyrics (spec §11.3); the source is not recoverable.
        rec["edit_target_prompt"] = rec.get("edit_target_prompt") or rec["prompt"]
        rec["edit_target_lyrics"] = rec.get("edit_target_lyrics") or rec["lyrics"]
    return rec


def call_kwargs(record: dict) -> dict:
    """`__call__` keywords that regenerate the recorded song: its settings and its actual seeds.

    The step-caching interval is not a `__call__` keyword of the original: it is returned as
    `guidance_cache_interval` for the caller's sampling policy.
    """
    call = {k: record[k] for k in CALL_KEYS if k in record}
    call["oss_steps"] = ", ".join(str(int(s)) for s in record["oss_steps"]) or None
    if record["actual_seeds"]:
        call["manual_seeds"] = list(record["actual_seeds"])
        call["batch_size"] = len(record["actual_seeds"])
    if record["retake_seeds"]:
        call["retake_seeds"] = list(record["retake_seeds"])
    call[CACHE_KEY] = record[CACHE_KEY]
    return call
