"""Sampler and guidance settings with the original's defaults (spec §11.1), validated up front.

One dataclass so the one-call API, the CLI and the ComfyUI nodes share defaults, ranges and the
wording of errors.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .sampling.guidance import CFG_TYPES, cfg_enabled
from .sampling.schedules import SCHEDULER_KINDS as SCHEDULERS

MAX_STEPS = 1000
MAX_CACHE_INTERVAL = 100


def check_number(name: str, value, lo: float | None = None, hi: float | None = None, *, integer: bool = False) -> float:
    """A finite number inside [lo, hi], or a ValueError naming the parameter and the valid range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if integer and int(value) != value:
        raise ValueError(f"{name} must be a whole number, got {value}")
    rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} = {value} is out of range; valid range is {rng}")
    return int(value) if integer else value


@dataclass
class SamplerSettings:
    """Everything that shapes the denoising loop; field names are upstream's keyword names."""

    infer_step: int = 60
    guidance_scale: float = 15.0
    scheduler_type: str = "euler"
    cfg_type: str = "apg"
    omega_scale: float = 10.0
    guidance_interval: float = 0.5
    guidance_interval_decay: float = 0.0
    min_guidance_scale: float = 3.0
    use_erg_tag: bool = True
    use_erg_lyric: bool = True
    use_erg_diffusion: bool = True
    guidance_scale_text: float = 0.0
    guidance_scale_lyric: float = 0.0
    oss_steps: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        from .sampling.schedules import parse_oss_steps

        self.infer_step = check_number("infer_step", self.infer_step, 1, MAX_STEPS, integer=True)
        self.guidance_scale = check_number("guidance_scale", self.guidance_scale, 0.0, 200.0)
        self.omega_scale = check_number("omega_scale", self.omega_scale, -1000.0, 1000.0)
        self.guidance_interval = check_number("guidance_interval", self.guidance_interval, 0.0, 1.0)
        self.guidance_interval_decay = check_number("guidance_interval_decay", self.guidance_interval_decay, 0.0, 1.0)
        self.min_guidance_scale = check_number("min_guidance_scale", self.min_guidance_scale, 0.0, 200.0)
        self.guidance_scale_text = check_number("guidance_scale_text", self.guidance_scale_text, 0.0, 200.0)
        self.guidance_scale_lyric = check_number("guidance_scale_lyric", self.guidance_scale_lyric, 0.0, 200.0)
        if self.scheduler_type not in SCHEDULERS:
            raise ValueError(f"scheduler_type {self.scheduler_type!r} is unknown; choose one of {', '.join(SCHEDULERS)}")
        if self.cfg_type not in CFG_TYPES:
            raise ValueError(f"cfg_type {self.cfg_type!r} is unknown; choose one of {', '.join(CFG_TYPES)}")
        for flag in ("use_erg_tag", "use_erg_lyric", "use_erg_diffusion"):
            setattr(self, flag, bool(getattr(self, flag)))
        self.oss_steps = parse_oss_steps(self.oss_steps)
        if self.oss_steps and self.scheduler_type == "heun":
            raise ValueError("oss_steps cannot be used with the heun scheduler (the original crashes); "
                             "use euler or pingpong, or clear oss_steps")

    @property
    def cfg_enabled(self) -> bool:
        """Guidance runs unless the scale is exactly 0 or 1 (spec §8.1)."""
        return cfg_enabled(self.guidance_scale)

    @property
    def double_condition(self) -> bool:
        """Text/lyric double guidance, active only when both scales exceed 1 (spec §8.1)."""
        return self.guidance_scale_text > 1.0 and self.guidance_scale_lyric > 1.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SamplingPolicy:
    """How to compute one generation, not what: opt-in speed switches, off = the original's numbers.

    batch_guidance: the guided branches of a step as one batched DiT call (faster; GEMMs of another
    size round differently, ~1e-6). guidance_cache_interval=k (1 = off): step caching, the
    unconditional branches run on every k-th guided step only (changes the song slightly; recorded
    in the song's input_params.json).
    """

    batch_guidance: bool = False
    guidance_cache_interval: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch_guidance", bool(self.batch_guidance))
        object.__setattr__(self, "guidance_cache_interval", check_number(
            "guidance_cache_interval", self.guidance_cache_interval, 1, MAX_CACHE_INTERVAL, integer=True))
