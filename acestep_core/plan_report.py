"""What the CLI says before the long work: the song it will make, the memory path, a time estimate.

A random seed or a drawn duration is no surprise when it is printed before the minutes of work,
and a memory path chosen up front replaces a silent kill by the kernel.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from .checkpoint import CheckpointSource
from .cli_call import Job
from .costs import (GB, SongSize, dit_passes, gemm_gflops, human_seconds, memory_need, model_size,
                    time_estimate)
from .memory import available_bytes, plan_memory
from .progress import say


def _lyric_tokens(call: dict, vocab) -> int:
    """The lyric tokens of the longest lyrics (the lyric encoder's memory grows with their square);
    lyrics over the limit are refused here, before any plan is printed or a model is loaded."""
    texts = [t for t in (call.get("lyrics"), call.get("edit_target_lyrics")) if isinstance(t, str) and t.strip()]
    if not texts or vocab is None:
        return 1
    from .conditioning import check_lyric_length
    from .lyrics import LyricTokenizer

    tokenizer = LyricTokenizer(vocab)
    longest = max(len(tokenizer.encode(t)) for t in texts)
    check_lyric_length(longest)
    return longest


def plan_run(args: argparse.Namespace, job: Job, source: CheckpointSource, vocab, device: torch.device,
             seeds: list[int], retake: list[int] | None, drawn: float | None, seconds: float) -> bool:
    """Print the plan; return whether to hold one network at a time. Raises NotEnoughMemory."""
    from .audio.geometry import frames_for_duration
    from .loading import resolve_dtype

    call = job.call
    dtype = resolve_dtype(args.dtype)
    model = model_size(source)
    steps = int(call.get("infer_step") or 60)
    double = float(call.get("guidance_scale_text") or 0) > 1 and float(call.get("guidance_scale_lyric") or 0) > 1
    batch = len(seeds)
    song = SongSize(frames_for_duration(seconds) + 1, seconds, batch, _lyric_tokens(call, vocab),
                    dit_passes(steps, float(call.get("guidance_scale", 15.0)), float(call.get("guidance_interval", 0.5)),
                               double, job.cache_interval))
    need = memory_need(model, song, dtype)
    half = memory_need(model, song, torch.bfloat16)
    short = memory_need(model, replace(song, frames=frames_for_duration(30.0), seconds=30.0), dtype)
    smaller = {}
    if dtype == torch.float32:
        smaller["--dtype bfloat16"] = half
    if seconds > 30:
        smaller["--duration 30"] = short
    if batch > 1:
        smaller["--batch-size 1"] = memory_need(model, replace(song, batch=1), dtype)
    available = args.memory_limit * GB if args.memory_limit is not None else available_bytes(device)
    where = "on the GPU" if device.type == "cuda" else "in RAM"
    one_at_a_time = args.low_memory or (args.cpu_offload and device.type == "cuda")
    plan = plan_memory(need, available, low_memory=one_at_a_time, where=where, smaller=smaller)

    for note in job.notes:
        say(f"note: {note}")
    seed_word = "seeds" if batch > 1 else "seed"
    parts = [f"{call['task']}", f"{seconds:.2f} s of audio"]
    if drawn is not None:
        parts[-1] += " (--duration <= 0: drawn at random from the seed, the original's rule)"
    parts.append(f"{steps} steps")
    parts.append(f"{seed_word} {', '.join(map(str, seeds))}")
    if retake:
        parts.append(f"retake {seed_word} {', '.join(map(str, retake))}")
    parts.append(f"{args.dtype} on {device}")
    say("song: " + ", ".join(parts))
    say(f"output: {', '.join(str(p) for p in job.outputs)}")
    say(plan.note)
    estimate = time_estimate(model, song, dtype, gemm_gflops(device, dtype))
    say(f"estimated time: about {human_seconds(estimate.total)} (loading ~{human_seconds(estimate.load)}, "
        f"sampling ~{human_seconds(estimate.sampling)}, decoding ~{human_seconds(estimate.decode)}; "
        f"a rough guess from a quick speed test of this {device.type})")
    if args.cpu_offload and device.type == "cuda" and not args.low_memory:
        return False  # cpu_offload already keeps one network at a time on the GPU
    return plan.low_memory
