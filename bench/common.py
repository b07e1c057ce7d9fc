"""Shared helpers for the benchmark workers: timing, memory, random weights, sizes.

Importable from both the project venv and the upstream venv (no acestep_core import here), so
that the "original" column is measured by exactly the same harness.
"""
from __future__ import annotations

import gc
import os
import sys
import resource
import time
import zlib
from typing import Callable

import torch

# Context the DiT attends to in every measurement: 1 speaker token + prompt tokens + lyric tokens.
# A typical song prompt is a few dozen UMT5 tokens; lyrics of a 1–2 minute song are several hundred
# lyric tokens. L = 1 + 120 + 640 = 761 ≈ the "L ≈ 760" the memory estimate assumes.
TEXT_TOKENS = 120
LYRIC_TOKENS = 640

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def frames_for_seconds(seconds: float) -> int:
    """Latent frames of a duration (upstream's ``int(d·44100/512/8)``)."""
    return int(seconds * 44100 / 512 / 8)


# ---------------------------------------------------------------------------------- memory
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_gb() -> float:
    """Current resident set size in GB (10^9 bytes)."""
    return _status_kb("VmRSS") * 1024 / 1e9


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (VmHWM), GB."""
    return _status_kb("VmHWM") * 1024 / 1e9


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0: write "5" to clear_refs). False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


HEAP_PIN: list[torch.Tensor] = []
"""What keeps ``resident_free_heap``'s space from being trimmed (held for the process's lifetime)."""


def resident_free_heap(gb: float) -> None:
    """Leave ``gb`` of free but resident memory in glibc's heap, as a pipeline process has by decode time.

    Why: glibc serves a buffer above its mmap threshold by a fresh mapping whose pages fault in on
    first touch, unless a free heap chunk is big enough. A fresh bench process has no free heap, so
    every large decode buffer faults (upstream's 60 s decode: 38 M faults, a third of its CPU time);
    a process that has run the DiT has gigabytes of it (the same decode: 0.1-1.3 M faults). Freeing
    one 30 MB mapping raises the mmap threshold to 30 MB, so the next ones grow the heap; a buffer
    allocated above them stays alive, so freeing them leaves the heap at its size, resident.
    The space counts in RSS, so peak-RSS figures of such a run include it.
    """
    if gb <= 0:
        return
    chunk = 30 * 2**20
    first = torch.empty(chunk, dtype=torch.uint8)  # a mapping (never touched): freeing it raises the threshold
    del first
    held = [torch.ones(chunk, dtype=torch.uint8) for _ in range(max(1, int(gb * 2**30 / chunk)))]
    # The pin must sit above them: a small one can land in a free fragment lower down, and then
    # freeing them trims the heap back (seen in session 10: some processes kept none of it). No
    # free chunk is this big yet, so this one comes from the top; untouched, it is never resident.
    HEAP_PIN.append(torch.empty(chunk, dtype=torch.uint8))
    del held


def cuda_peak_gb() -> float | None:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1e9
    return None


# ---------------------------------------------------------------------------------- timing
def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


CPU_TIMES: list[float] = []
"""Process CPU seconds (all threads) of each timed call of the last ``time_calls``."""
SYS_TIMES: list[float] = []
"""Of those, the kernel's seconds: mostly page faults of freshly mapped buffers (see RESULTS.md)."""
PAGE_FAULTS: list[int] = []
"""Minor page faults of each timed call: every buffer above glibc's mmap threshold (at most 32 MB)
is a fresh mapping, so its pages fault in again on every call."""


def _usage() -> tuple[float, float, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_stime, r.ru_minflt


def time_calls(fn: Callable[[], object], repeat: int, warmup: int = 1,
               device: torch.device | str = "cpu") -> list[float]:
    """Wall times of ``repeat`` calls after ``warmup`` untimed ones (caller takes the min: noisy host).

    The CPU seconds of each call go to ``CPU_TIMES``: on a host shared with other jobs, CPU time
    divided by the thread count is a steadier estimate of the unloaded wall time than wall time.
    Its kernel share and page faults go to ``SYS_TIMES`` and ``PAGE_FAULTS``.
    """
    for _ in range(warmup):
        fn()
        sync(device)
    times = []
    for log in (CPU_TIMES, SYS_TIMES, PAGE_FAULTS):
        log.clear()
    for _ in range(repeat):
        gc.collect()
        sync(device)
        u0 = _usage()
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
        for log, a, b in zip((CPU_TIMES, SYS_TIMES, PAGE_FAULTS), u0, _usage()):
            log.append(b - a)
    return times


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


# ---------------------------------------------------------------------------------- weights
_POOL: dict[int, torch.Tensor] = {}


def _pool(seed: int) -> torch.Tensor:
    """1 Mi uniform(−1, 1) values per seed: weights are tiled from it (fast; timing-only weights)."""
    if seed not in _POOL:
        gen = torch.Generator().manual_seed(seed)
        _POOL[seed] = torch.rand(1 << 20, generator=gen) * 2 - 1
    return _POOL[seed]


@torch.no_grad()
def fill_random_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Deterministic random-looking weights by parameter *name*, so two implementations with the same
    key names (ours and upstream's DiT) get identical values.

    Each tensor is tiled from a random pool at an offset given by its name (a fresh draw for 3 B
    values takes minutes on a small host). Matrices: ±1/√fan_in (activations stay O(1), as with
    default init); 1-D ``weight``/``gamma``/``weight_g``: 1 ± 0.1 (norm scales); other 1-D: ±0.02.
    Nothing comes near subnormal numbers, which would slow a CPU down and distort timings.
    """
    pool = _pool(seed)
    n_pool = pool.numel()
    for name, p in module.named_parameters():
        flat = p.data.view(-1)
        n = flat.numel()
        off = zlib.crc32(name.encode()) % n_pool
        done = 0
        while done < n:
            take = min(n - done, n_pool - off)
            flat[done:done + take].copy_(pool[off:off + take])
            done += take
            off = 0
        if name.endswith(("weight_g", "gamma")) or (p.ndim == 1 and name.endswith("weight")):
            flat.mul_(0.1).add_(1.0)
        elif p.ndim >= 2:
            flat.mul_(1.0 / max(1, p[0].numel()) ** 0.5)
        else:
            flat.mul_(0.02)
    return module


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def measure_gemm_peak(dtype: torch.dtype, sizes=(2048, 3072, 4096), repeat: int = 5) -> dict:
    """Best GFLOP/s of square matmuls in ``dtype`` on this host (what the DiT's GEMMs can reach)."""
    best, best_n, best_cpu = 0.0, 0, 0.0
    threads = torch.get_num_threads()
    for n in sizes:
        a = torch.randn(n, n).to(dtype)
        b = torch.randn(n, n).to(dtype)
        times = time_calls(lambda: torch.mm(a, b), repeat=repeat, warmup=1)
        gflops = 2 * n**3 / min(times) / 1e9
        best_cpu = max(best_cpu, 2 * n**3 / (min(CPU_TIMES) / threads) / 1e9)
        if gflops > best:
            best, best_n = gflops, n
    return {"gflops": best, "n": best_n, "gflops_cpu_equiv": best_cpu}


UPSTREAM = os.environ.get("ACESTEP_UPSTREAM", "/tmp/upstream")  # a checkout of the original ACE-Step


def import_upstream() -> None:
    """Put the original's checkout (and its torchaudio/torchvision shims) on sys.path for `import acestep`."""
    for p in (UPSTREAM, os.path.join(UPSTREAM, "shims")):
        if p not in sys.path:
            sys.path.insert(0, p)
