"""From the command line's options to the pipeline's keywords, refusing plain typos before any work.

Everything here is cheap (no model is loaded), so a mistake costs the user a second, not the minute
that loading takes. Errors are `UsageError`s naming the option and the fix.
"""
from __future__ import annotations

import argparse
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .audio.geometry import MAX_DURATION, frames_for_duration, frames_for_samples, random_duration, seconds_for_frames
from .outputs import AUDIO_FORMATS, is_folder_target, planned_paths, with_format
from .record import CACHE_KEY, call_kwargs, from_record
# Options that belong to some tasks only: given with another task they are a mistake, not ignored.
TASK_OPTIONS = {
    "src_audio": ("repaint", "extend", "edit"),
    "repaint_start": ("repaint",), "repaint_end": ("repaint",),
    "extend_left": ("extend",), "extend_right": ("extend",),
    "ref_audio": ("audio2audio",), "ref_strength": ("audio2audio",),
    "edit_prompt": ("edit",), "edit_lyrics": ("edit",), "edit_n_min": ("edit",), "edit_n_max": ("edit",),
    "retake_seed": ("retake", "repaint", "extend", "edit"),
    "retake_variance": ("retake", "repaint", "extend"),
}
# Audio extensions we cannot write: `--out x.m4a` is a mistake, not a file called x.m4a.wav.
OTHER_AUDIO = ("m4a", "aac", "opus", "aif", "aiff", "wma", "mp4", "oga", "alac", "ape", "mp2", "wave")


class UsageError(ValueError):
    """A mistake in the command line; the message names the option and how to fix it."""


@dataclass
class Job:
    """The pipeline's keywords and what the CLI decided around them, to print before the work."""

    call: dict
    cache_interval: int
    notes: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    source_seconds: float | None = None  # the source (repaint/extend/edit) or reference (audio2audio)
    added_seconds: float = 0.0  # extend: seconds added on both sides together


def _option(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _read_text(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{option} {path}: no such file; check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{option} {path}: is a folder, not a text file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as e:
        raise UsageError(f"{option} {path}: cannot read it ({e.strerror or e})") from None


def _audio_seconds(path: str, option: str) -> float:
    """Length of an audio file in seconds, read from its header (the original's UI does the same)."""
    import soundfile as sf

    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"{option} {p}: no such audio file; check the path")
    try:
        info = sf.info(str(p))
    except Exception as e:  # soundfile raises several types for files it cannot parse
        raise UsageError(f"{option} {p}: not an audio file soundfile can read ({' '.join(str(e).split())[:120]}); "
                         "use wav, flac, ogg or mp3") from None
    if info.frames == 0:
        raise UsageError(f"{option} {p}: the audio file is empty")
    return info.frames / info.samplerate


def _base_call(args: argparse.Namespace) -> tuple[dict, int]:
    if args.params:
        try:
            record = json.loads(_read_text(args.params, "--params"))
            call = call_kwargs(from_record(record))
        except ValueError as e:
            raise UsageError(f"--params {args.params}: {e}") from None
        return call, call.pop(CACHE_KEY)  # our own key: a song made with step caching
    if args.prompt is None:
        raise UsageError("give --prompt (tags) or --params (an input_params.json); see acestep-v1 --help")
    return {"prompt": args.prompt, "lyrics": ""}, 1


def _lyrics(args: argparse.Namespace, call: dict) -> None:
    if args.lyrics is not None:
        text = args.lyrics
        if "\n" not in text and "\\n" not in text and len(text) < 256 and Path(text).expanduser().is_file():
            raise UsageError(f"--lyrics {text!r} is the name of a file; use --lyrics-file {text} to read the "
                             "lyrics from it (--lyrics takes the words themselves)")
        call["lyrics"] = text.replace("\\n", "\n")
    if args.lyrics_file is not None:
        call["lyrics"] = _read_text(args.lyrics_file, "--lyrics-file")


def _check_numbers(args: argparse.Namespace) -> None:
    checks = (("steps", 1, 1000), ("batch_size", 1, 64), ("guidance_cache", 1, 100))
    for dest, lo, hi in checks:
        v = getattr(args, dest)
        if v is not None and not lo <= v <= hi:
            raise UsageError(f"{_option(dest)} {v}: use a whole number from {lo} to {hi}")
    if args.duration is not None:
        if args.duration != args.duration or args.duration in (float("inf"), float("-inf")):
            raise UsageError(f"--duration {args.duration}: give a number of seconds")
        if args.duration > MAX_DURATION:
            raise UsageError(f"--duration {args.duration:g}: longer than the model supports (240 s); use <= 240, "
                             "or extend a song in several steps (--task extend)")
    for dest in ("ref_strength", "retake_variance", "edit_n_min", "edit_n_max"):
        v = getattr(args, dest)
        if v is not None and not 0.0 <= v <= 1.0:
            raise UsageError(f"{_option(dest)} {v:g}: use a number from 0 to 1")
    for dest in ("extend_left", "extend_right"):
        v = getattr(args, dest)
        if v is not None and not 0.0 <= v <= MAX_DURATION:
            raise UsageError(f"{_option(dest)} {v:g}: use seconds from 0 to 240")


def _task(args: argparse.Namespace, call: dict, notes: list[str]) -> str:
    task = args.task or call.get("task") or "text2music"
    if call.get("audio2audio_enable") and task == "text2music":
        if not (args.ref_audio or call.get("ref_audio_input")):
            raise UsageError(f"--params {args.params}: audio2audio_enable=True needs ref_audio_input (the reference "
                             "song): give --ref-audio, or set audio2audio_enable=False in the file for text2music")
        task = "audio2audio"
    if args.ref_audio is not None and task == "text2music":
        task = "audio2audio"
        notes.append("--ref-audio given: the task is audio2audio")
    if args.src_audio is not None and args.task is None and task == "text2music":
        raise UsageError("--src-audio needs a task that changes a song: add --task repaint, --task extend or "
                         "--task edit")
    for dest, tasks in TASK_OPTIONS.items():
        if getattr(args, dest) is not None and task not in tasks:
            raise UsageError(f"{_option(dest)} is for --task {' / '.join(tasks)}, not {task}; "
                             f"leave it out or change --task")
    return task


def _task_inputs(args: argparse.Namespace, call: dict, task: str, job: Job) -> None:
    """The source/reference audio and each task's own keywords (the UI's mapping for extend)."""
    call["task"] = task
    if task in ("repaint", "extend", "edit"):
        src = args.src_audio or call.get("src_audio_path")
        if not src:
            raise UsageError(f"--task {task} needs --src-audio (the song to {task})")
        seconds = _audio_seconds(src, "--src-audio")
        job.source_seconds = seconds
        call["src_audio_path"] = str(Path(src).expanduser())
        call["audio_duration"] = seconds  # the UI takes the duration from the source
    if task == "repaint":
        start = args.repaint_start if args.repaint_start is not None else call.get("repaint_start", 0.0)
        end = args.repaint_end if args.repaint_end is not None else (call.get("repaint_end") or job.source_seconds)
        if not 0 <= start < end <= job.source_seconds + 1e-6:
            raise UsageError(f"--repaint-start {start:g} / --repaint-end {end:g}: the range must lie inside the "
                             f"source (0 to {job.source_seconds:.2f} s) with start < end; to add audio before or "
                             "after it use --task extend")
        call["repaint_start"], call["repaint_end"] = float(start), float(end)
    if task == "extend":
        left = args.extend_left if args.extend_left is not None else 0.0
        right = args.extend_right if args.extend_right is not None else (0.0 if args.extend_left else 30.0)
        if left + right <= 0:
            raise UsageError("--extend-left and --extend-right are both 0: give the seconds to add on either side")
        # The original measures the right side from the left-padded song (spec 9.5), so with both sides the
        # UI's `source + right` would add only right - left after it: the end is moved so each side gets its own.
        call["repaint_start"], call["repaint_end"] = -float(left), job.source_seconds + float(right) + float(left)
        call.setdefault("retake_variance", 1.0)  # the UI's fixed value for extend
        job.added_seconds = float(left) + float(right)
    if task == "audio2audio":
        ref = args.ref_audio or call.get("ref_audio_input")
        if not ref:
            raise UsageError("--task audio2audio needs --ref-audio (the reference song)")
        job.source_seconds = _audio_seconds(ref, "--ref-audio")
        call["ref_audio_input"] = str(Path(ref).expanduser())
        call["audio2audio_enable"] = True
    options = {"ref_strength": "ref_audio_strength", "edit_prompt": "edit_target_prompt",
               "edit_lyrics": "edit_target_lyrics", "edit_n_min": "edit_n_min", "edit_n_max": "edit_n_max",
               "retake_seed": "retake_seeds", "retake_variance": "retake_variance"}
    for dest, key in options.items():
        if getattr(args, dest) is not None:
            call[key] = getattr(args, dest)
    if "edit_target_lyrics" in call and isinstance(call["edit_target_lyrics"], str):
        call["edit_target_lyrics"] = call["edit_target_lyrics"].replace("\\n", "\n")


def _output(args: argparse.Namespace, call: dict, job: Job) -> None:
    """The format (from --format, else --out's extension, else the record's, else wav) and the files."""
    out = args.out
    suffix = "" if out is None or is_folder_target(out) else Path(out).suffix.lower().lstrip(".")
    if suffix and suffix not in AUDIO_FORMATS:
        near = difflib.get_close_matches(suffix, AUDIO_FORMATS, n=1, cutoff=0.6)
        if suffix in OTHER_AUDIO or near:
            hint = f" (did you mean .{near[0]}?)" if near else ""
            raise UsageError(f"--out {out}: .{suffix} is not a format written here{hint}; use .wav, .flac, .ogg or "
                             ".mp3, or --format")
    fmt = args.format or (suffix if suffix in AUDIO_FORMATS else None) or call.get("format") or "wav"
    call["format"] = fmt
    call["save_path"] = out
    job.outputs = planned_paths(out, fmt, int(call.get("batch_size") or 1))
    if out is not None and not is_folder_target(out):
        wanted = with_format(Path(out), fmt)
        if suffix in AUDIO_FORMATS and suffix != fmt:
            job.notes.append(f"--format {fmt}: the file is {wanted.name}, not {Path(out).name}")
        elif wanted != Path(out):
            job.notes.append(f"--out {out} has no audio extension: the file is {wanted.name}")
        if job.outputs[0] != wanted:
            job.notes.append(f"{wanted.name} (or its _input_params.json) exists and is never overwritten: the file "
                             f"is {job.outputs[0].name}")


def build_job(args: argparse.Namespace) -> Job:
    """Everything the command line asks for, checked; no model is touched."""
    _check_numbers(args)
    call, cache_interval = _base_call(args)
    job = Job(call, cache_interval)
    if args.guidance_cache is not None:
        job.cache_interval = args.guidance_cache
    _lyrics(args, call)
    if args.prompt is not None:
        call["prompt"] = args.prompt
    if not str(call.get("prompt", "")).strip():
        raise UsageError("--prompt is empty: give tags, e.g. --prompt 'pop, rock, female vocals, 120 bpm'")
    overrides = {"audio_duration": args.duration, "infer_step": args.steps, "guidance_scale": args.guidance_scale,
                 "scheduler_type": args.scheduler, "cfg_type": args.cfg_type, "manual_seeds": args.seed,
                 "batch_size": args.batch_size, "lora_name_or_path": args.lora, "lora_weight": args.lora_weight}
    call.update({k: v for k, v in overrides.items() if v is not None})
    call.setdefault("audio_duration", 60.0)
    if args.batch_size is None and args.seed is not None and "," in str(args.seed):
        call["batch_size"] = len([s for s in str(args.seed).split(",") if s.strip()])  # one song per seed
    _task_inputs(args, call, _task(args, call, job.notes), job)
    _output(args, call, job)
    return job


def fix_seeds_and_duration(call: dict) -> tuple[list[int], list[int] | None, float | None]:
    """Draw the seeds now (as the pipeline would) so they can be printed before the work, and apply the
    original's rule for a duration <= 0 (30–240 s drawn from the first seed, as the pipeline does).
    Returns the seeds, the retake seeds (None where the task draws none) and the drawn duration."""
    from .sampling.noise import make_generators

    batch = int(call.get("batch_size") or 1)
    _, seeds = make_generators(batch, call.get("manual_seeds"), name="manual_seeds")
    call["manual_seeds"] = seeds
    retake = None
    if call.get("task") in ("retake", "repaint", "extend", "edit"):
        _, retake = make_generators(batch, call.get("retake_seeds"), name="retake_seeds")
        call["retake_seeds"] = retake
    drawn = None
    if call.get("task") in ("text2music", "retake") and float(call["audio_duration"]) <= 0:
        drawn = random_duration(seeds[0])  # the pipeline's rule (pipeline.__call__, step 3)
        call["audio_duration"] = drawn
    return seeds, retake, drawn


def output_seconds(call: dict, job: Job) -> float:
    """Seconds of audio the song will have: whole latent frames (a 10 s request gives 9.94 s)."""
    task = call.get("task")
    if task in ("repaint", "edit", "audio2audio", "extend") and job.source_seconds is not None:
        frames = frames_for_samples(round(job.source_seconds * 44100), 44100)
        return seconds_for_frames(frames + frames_for_duration(job.added_seconds))  # extend: about
    return seconds_for_frames(frames_for_duration(float(call["audio_duration"])))
