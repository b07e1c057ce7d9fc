"""What a song will cost before anything large is loaded: memory per path and a rough time.

Everything is computed from the checkpoint's headers (parameter counts, no weights read) and the
song's size. The terms are fitted to peaks measured on CPU with the full-size model and err on the
high side (bench/RESULTS.md: 13.44 GB default and 11.89 GB low_memory at 10 s, 15.72 GB default at
60 s in float32; session 11, 10 s: 15.17 GB default and 11.88 GB low_memory in float32, 7.98 GB and
6.91 GB in bfloat16); beyond 60 s they are extrapolated linearly.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from .checkpoint import CheckpointSource
from .conditioning import MAX_LYRIC_TOKENS
from .loading import UMT5_UNUSED_KEYS

GB = 1e9
BASE_BYTES = 1.9 * GB  # the process itself: torch, tokenizers, loading buffers, allocator slack
SAMPLING_BYTES = 0.25 * GB  # DiT activations: a base…
SAMPLING_BYTES_PER_FRAME = 1.3e6  # …plus this per latent frame and batch item (1.1 GB at 60 s)
LYRIC_BYTES_AT_LIMIT = 7.1e9  # the lyric Conformer at 4096 tokens per batch item (grows with the square)
DECODE_BYTES = 0.3 * GB  # DCAE + vocoder activations: a base…
DECODE_BYTES_PER_SECOND = 0.045 * GB  # …plus this per second of audio (items are decoded one by one)
DIT_EFFICIENCY = 0.65  # share of the GEMM probe's speed the DiT reaches (61–78 % measured)
DECODE_GFLOP_PER_SECOND = 330.0  # full-size decode work per second of audio (1 s per s at 330 GFLOP/s)
FULL_CODEC_PARAMS = 259_817_564  # DCAE 156,812,426 + vocoder 103,005,138: the decode work scales with it
LOAD_BYTES_PER_SECOND = 250e6  # reading + casting weights from a local disk



@dataclass(frozen=True)
class ModelSize:
    """Live parameter counts per network (training-only and decoder tensors are not counted)."""

    text: int
    transformer: int
    codec: int
    blocks: int  # the DiT's per-token part (transformer_blocks.*), which sets the sampling FLOPs

    @property
    def total(self) -> int:
        return self.text + self.transformer + self.codec


def model_size(source: CheckpointSource) -> ModelSize:
    """Parameter counts read off the safetensors headers (no weights are read)."""
    from .models.transformer import is_unused_transformer_key

    def count(part: str, skip=lambda key: False) -> tuple[int, int]:
        shapes = source[part].tensors.shapes()
        live = {k: s for k, s in shapes.items() if not skip(k)}
        n = sum(math.prod(s) for s in live.values())
        blocks = sum(math.prod(s) for k, s in live.items() if k.startswith("transformer_blocks."))
        return n, blocks

    text, _ = count("text_encoder", lambda k: bool(UMT5_UNUSED_KEYS.match(k)))
    transformer, blocks = count("transformer", is_unused_transformer_key)
    codec = count("dcae")[0] + count("vocoder")[0]
    return ModelSize(text, transformer, codec, blocks)


def dtype_bytes(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


@dataclass(frozen=True)
class SongSize:
    """What a generation computes: latent frames, seconds of audio, batch, lyric tokens, DiT passes."""

    frames: int
    seconds: float
    batch: int
    lyric_tokens: int
    passes: int


@dataclass(frozen=True)
class MemoryNeed:
    """Peak bytes of each path: all networks resident (default) or one at a time (low_memory)."""

    default: float
    one_at_a_time: float
    stages: dict  # stage → bytes of its network + activations, for the message


def memory_need(model: ModelSize, song: SongSize, dtype: torch.dtype) -> MemoryNeed:
    """The peak resident memory of each path, from the weights and the song's activations."""
    width = dtype_bytes(dtype)
    lyrics = song.batch * LYRIC_BYTES_AT_LIMIT * (min(song.lyric_tokens, MAX_LYRIC_TOKENS) / MAX_LYRIC_TOKENS) ** 2
    sampling = SAMPLING_BYTES + SAMPLING_BYTES_PER_FRAME * song.frames * song.batch + lyrics
    decode = DECODE_BYTES + DECODE_BYTES_PER_SECOND * song.seconds
    stages = {"text": model.text * width + 0.1 * GB, "sampling": model.transformer * width + sampling,
              "decode": model.codec * width + decode}
    default = BASE_BYTES + model.total * width + max(sampling, decode)
    return MemoryNeed(default, BASE_BYTES + max(stages.values()), stages)


def dit_passes(steps: int, guidance_scale: float, guidance_interval: float, double_condition: bool,
               cache_interval: int = 1) -> int:
    """DiT calls of a song: one per step, plus the unconditional (and text-only) ones in the interval."""
    guided = round(steps * guidance_interval) if guidance_scale > 1 else 0
    extra = 2 if double_condition else 1
    cached = guided - (guided + cache_interval - 1) // cache_interval if cache_interval > 1 else 0
    return steps + guided * extra - cached * extra


def gemm_gflops(device: torch.device, dtype: torch.dtype) -> float:
    """A quick matrix-product probe of this device's speed in GFLOP/s (about a tenth of a second)."""
    n = 1024 if device.type == "cpu" else 4096
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = float("inf")
    for _ in range(3):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / max(best, 1e-9) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class TimeEstimate:
    """Rough seconds per stage; the real time depends on the machine's load and memory speed."""

    load: float
    sampling: float
    decode: float

    @property
    def total(self) -> float:
        return self.load + self.sampling + self.decode


def time_estimate(model: ModelSize, song: SongSize, dtype: torch.dtype, gflops: float) -> TimeEstimate:
    """Seconds from FLOPs (2 per parameter and token) at the probed speed, and bytes at disk speed."""
    speed = max(gflops, 1.0) * 1e9
    sampling = 2 * model.blocks * song.frames * song.batch * song.passes / (DIT_EFFICIENCY * speed)
    decode = DECODE_GFLOP_PER_SECOND * 1e9 * song.seconds * song.batch * model.codec / FULL_CODEC_PARAMS / speed
    load = model.total * dtype_bytes(dtype) / LOAD_BYTES_PER_SECOND
    return TimeEstimate(load, sampling, decode)


def human_seconds(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `1 h 2 min`: how long something took or will take."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
