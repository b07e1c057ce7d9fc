"""Fitting a song into the memory there is, before loading: the kernel kills a process that does not
fit without a word, so the CLI compares the need (`costs.memory_need`) with what is free first.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .costs import GB, MemoryNeed


def available_bytes(device: torch.device) -> float | None:
    """Free memory where the networks will live: the GPU's free memory, else the host's available RAM
    (the smaller of /proc/meminfo's MemAvailable and a cgroup limit); None where unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return float(free)
    if device.type != "cpu":
        return None
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024.0)
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit.isdigit() and int(limit) < 1 << 60:
                found.append(float(int(limit) - int(Path(usage_file).read_text().strip())))
        except (OSError, ValueError):
            continue
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
        except (OSError, ValueError):
            pass
    return min(found) if found else None


@dataclass(frozen=True)
class MemoryPlan:
    """Whether to hold one network at a time, and the line that says why."""

    low_memory: bool
    note: str


class NotEnoughMemory(ValueError):
    """Even one network at a time does not fit; the message says what to change."""


def gb(n: float) -> str:
    return f"{n / GB:.1f} GB"


def plan_memory(need: MemoryNeed, available: float | None, *, low_memory: bool, where: str,
                smaller: dict[str, MemoryNeed]) -> MemoryPlan:
    """Keep the asked path if it fits, else switch to one network at a time, else refuse.

    `smaller` maps a suggestion ("--dtype bfloat16", "a 30 s song") to its need, so the refusal
    names only changes that would fit.
    """
    asked = need.one_at_a_time if low_memory else need.default
    path = "one network at a time (--low-memory)" if low_memory else "all networks loaded at once"
    if available is None:
        return MemoryPlan(low_memory, f"memory: needs about {gb(asked)} {where} ({path}); "
                                      "free memory unknown here, not checked")
    if asked <= available:
        return MemoryPlan(low_memory, f"memory: needs about {gb(asked)} {where} ({path}); {gb(available)} free")
    if need.one_at_a_time <= available:
        return MemoryPlan(True, f"memory: all networks at once need about {gb(need.default)} {where}, only "
                                f"{gb(available)} is free: loading one network at a time instead (as with "
                                f"--low-memory; needs about {gb(need.one_at_a_time)}, costs a few seconds of reloading)")
    fixes = [f"{what} (needs about {gb(n.one_at_a_time)} with --low-memory)" for what, n in smaller.items()
             if n.one_at_a_time <= available]
    advice = ("; it fits with " + ", or ".join(fixes)) if fixes else \
        "; nothing smaller on this path fits either: use a machine with more memory, or a GPU (--device cuda)"
    raise NotEnoughMemory(
        f"not enough memory {where}: this song needs about {gb(need.one_at_a_time)} even one network at a "
        f"time (--low-memory), and {gb(need.default)} with all loaded at once, but only {gb(available)} is free"
        f"{advice}. Close other programs to free memory, or pass --memory-limit GB to state the memory to plan for.")
