"""Seeded noise with the original's per-item seeds, as ComfyUI NOISE values.

The noise is not drawn here: a NOISE value carries seeds (and, for variations, the retake seeds
and variance). The sampler hands them to `AceStepPipeline.sample`, which creates one generator per
batch item on the compute device exactly as the original does, so the initial noise *and*
pingpong's per-step noise match the one-call API seed for seed.

The value also speaks ComfyUI's NOISE protocol (`.seed`, `generate_noise(latent)`), so it can feed
native SamplerCustomAdvanced, and native RandomNoise can feed our sampler (its seed is then used
the way the original uses an int seed).

ComfyUI-Distributed: with DistributedSeed wired into `seed` (or `retake_seed`), a `seeds` list is moved per
instance (`seeds_for_instance`), so that workers do not repeat the master's songs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..acestep_core import parse_seeds, starting_noise

from ._comfy import CATEGORY, io
from .convert import AceStepInputError

SEED_MAX = 0xFFFFFFFFFFFFFFFF
SEEDS_TOOLTIP = (
    "Optional per-item seeds as the original takes them: one number ('42') or a comma list ('1, 2, 3'). "
    "When set, it replaces `{widget}`. Item i of a batch uses the i-th seed (the last one repeats); a single "
    "seed gives every item the SAME noise, as in the original. With a batch-1 latent, a list of n seeds "
    "makes a batch of n. ComfyUI-Distributed: when `{widget}` comes straight from a DistributedSeed node, "
    "the master uses this list as written and worker k moves every listed seed up by (k + 1) x (largest - "
    "smallest + 1), so each instance gets its own block of seeds ('1, 2' -> 3, 4 on the first worker; "
    "'42' -> 43, as DistributedSeed does).")
SEED_TOOLTIP = (
    "A batch of several items gets this one seed for every item (the same {what}, as in the original): write "
    "a list in `{list}` for different items. ComfyUI-Distributed: connect "
    "DistributedSeed here; every instance then gets its own seed (DistributedSeed adds the worker's index + 1), "
    "and a `{list}` list is moved per instance instead of replacing this seed on every worker alike.")

# ComfyUI-Distributed (robertvoy/ComfyUI-Distributed) runs one graph on a master and its workers. Its
# DistributedSeed node passes its seed through on the master and adds k + 1 on worker k; the orchestrator
# tells it which instance it is by writing its hidden inputs `is_worker` / `worker_id` ("worker_<k>") into
# each instance's copy of the prompt. A seed list would replace that per-instance seed and make every worker
# repeat the master's songs, so a seed list is moved per instance when the INT seed comes from that node.
DISTRIBUTED_SEED_NODE = "DistributedSeed"


def parse_seed_text(text: str | None, what: str = "seeds") -> int | tuple[int, ...] | None:
    """'' → None; '42' → 42; '1, 2, 3' → (1, 2, 3); anything else is a clear error."""
    if text is None:
        return None
    s = str(text).strip()
    if s == "":
        return None
    try:
        parsed = parse_seeds(s)
    except ValueError as e:
        raise AceStepInputError(f"{what}: {e}") from None
    if parsed is None:
        raise AceStepInputError(
            f"{what}: {text!r} is not a seed list; write one non-negative integer ('42') or integers separated "
            "by commas ('1, 2, 3').")
    if isinstance(parsed, list):
        for v in parsed:
            if not 0 <= v <= SEED_MAX:
                raise AceStepInputError(f"{what}: seed {v} is out of range [0, {SEED_MAX}].")
        return tuple(parsed)
    return int(parsed)


def distributed_instance(prompt: Any, node_id: Any, input_name: str) -> int:
    """Which ComfyUI-Distributed instance runs this node: 0 on the master or a plain single instance, k + 1
    on worker k. Known only when `input_name` of node `node_id` is linked straight to a DistributedSeed
    node; read from that node's hidden inputs exactly as DistributedSeed reads them. Anything else is 0."""
    if not isinstance(prompt, dict) or node_id is None:
        return 0
    node = prompt.get(str(node_id))
    link = node.get("inputs", {}).get(input_name) if isinstance(node, dict) else None
    if not (isinstance(link, (list, tuple)) and len(link) == 2):
        return 0
    source = prompt.get(str(link[0]))
    if not isinstance(source, dict) or source.get("class_type") != DISTRIBUTED_SEED_NODE:
        return 0
    inputs = source.get("inputs") or {}
    if str(inputs.get("is_worker", False)).strip().lower() not in ("true", "1"):
        return 0
    worker_id = str(inputs.get("worker_id") or "").strip()
    try:
        index = int(worker_id.split("_", 1)[1] if worker_id.startswith("worker_") else worker_id)
    except ValueError:
        return 0  # DistributedSeed itself falls back to the master's seed here
    return index + 1 if index >= 0 else 0


def seeds_for_instance(seeds: int | tuple[int, ...], instance: int, what: str = "seeds") -> int | tuple[int, ...]:
    """A seed list as instance `instance` uses it: moved up by instance x (largest - smallest + 1).

    Instance 0 (master, single instance) keeps the list; the blocks of different instances never overlap, so
    no two instances share a seed; a single seed moves by the instance index, as DistributedSeed moves one."""
    if instance <= 0:
        return seeds
    values = seeds if isinstance(seeds, tuple) else (int(seeds),)
    step = instance * (max(values) - min(values) + 1)
    moved = tuple(v + step for v in values)
    if max(moved) > SEED_MAX:
        raise AceStepInputError(
            f"{what}: on ComfyUI-Distributed instance {instance} the seeds move up by {step} and pass {SEED_MAX}; "
            "use smaller seeds.")
    return moved if isinstance(seeds, tuple) else moved[0]


def _instance_of(node_cls: Any, input_name: str) -> int:
    hidden = getattr(node_cls, "hidden", None)
    if hidden is None:  # called directly, outside ComfyUI's executor
        return 0
    return distributed_instance(hidden.prompt, hidden.unique_id, input_name)


def _spec(seeds: int | tuple[int, ...]) -> int | list[int]:
    return list(seeds) if isinstance(seeds, tuple) else int(seeds)


def _count(seeds: int | tuple[int, ...]) -> int:
    return len(seeds) if isinstance(seeds, tuple) else 1


def seeds_text(seeds: int | tuple[int, ...] | list[int]) -> str:
    return ", ".join(str(s) for s in seeds) if isinstance(seeds, (tuple, list)) else str(seeds)


@dataclass(frozen=True, eq=False)
class AceStepNoise:
    """Seeds for the main generators, and optionally retake seeds + variance (variation noise)."""

    seeds: int | tuple[int, ...]
    retake_seeds: int | tuple[int, ...] | None = None
    variance: float | None = None

    # --- ComfyUI NOISE protocol -------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.seeds[0] if isinstance(self.seeds, tuple) else int(self.seeds)

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        """The original's initial noise for this latent's shape, on the CPU in float32."""
        shape = tuple(input_latent["samples"].shape)
        if self.retake_seeds is None:
            return starting_noise(shape, self.main_spec, dtype=torch.float32, device="cpu")
        return starting_noise(shape, self.main_spec, self.retake_spec, float(self.variance), dtype=torch.float32,
                              device="cpu")

    # --- what the sampler passes to acestep_core --------------------------------------------------
    @property
    def main_spec(self) -> int | list[int]:
        return _spec(self.seeds)

    @property
    def retake_spec(self) -> int | list[int] | None:
        return None if self.retake_seeds is None else _spec(self.retake_seeds)

    @property
    def is_variation(self) -> bool:
        return self.retake_seeds is not None

    def seed_count(self) -> int:
        n = _count(self.seeds)
        if self.retake_seeds is not None:
            n = max(n, _count(self.retake_seeds))
        return n


def as_ace_noise(noise: Any) -> AceStepNoise:
    """Our NOISE as is; native RandomNoise by its seed; anything else is refused with the fix."""
    if isinstance(noise, AceStepNoise):
        return noise
    if noise is None:
        raise AceStepInputError("noise: nothing connected; connect AceStepV1SeededNoise (or RandomNoise).")
    if type(noise).__name__ == "Noise_EmptyNoise":
        raise AceStepInputError(
            "noise: DisableNoise gives no seed, and ACE-Step always starts from seeded noise; use "
            "AceStepV1SeededNoise or RandomNoise.")
    seed = getattr(noise, "seed", None)
    if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= SEED_MAX:
        return AceStepNoise(int(seed))
    raise AceStepInputError(
        f"noise: a {type(noise).__name__} has no usable seed; use AceStepV1SeededNoise or RandomNoise.")


def batch_for(latent_batch: int, noise: AceStepNoise) -> int:
    """Batch size of a generation: the latent's, or one item per seed when the latent has batch 1."""
    n = noise.seed_count()
    if latent_batch > 1 and n > latent_batch:
        raise AceStepInputError(
            f"{n} seeds for a latent batch of {latent_batch}: give at most one seed per batch item, or make the "
            f"latent batch {n} (or 1, to get one item per seed).")
    return latent_batch if latent_batch > 1 else n


class SeededNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1SeededNoise",
            display_name="ACE-Step v1 Seeded Noise",
            category=CATEGORY,
            description=(
                "The seeds of the starting noise. The sampler draws the noise from them exactly as the original "
                "does (one generator per batch item, on the compute device), so the same seeds give the same "
                "song as the original ACE-Step."),
            inputs=[
                io.Int.Input("seed", default=0, min=0, max=SEED_MAX, control_after_generate=True,
                             tooltip=("The seed of the starting noise (the original's manual_seeds). "
                                      + SEED_TOOLTIP.format(what="noise", list="seeds"))),
                io.String.Input("seeds", default="", optional=True, tooltip=SEEDS_TOOLTIP.format(widget="seed")),
            ],
            outputs=[io.Noise.Output(tooltip="Seeds for AceStepV1Sampler (also works as NOISE for native samplers).")],
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, seeds=None) -> bool | str:
        try:
            parse_seed_text(seeds)
        except AceStepInputError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, seed: int, seeds: str | None = None) -> io.NodeOutput:
        parsed = parse_seed_text(seeds)
        if parsed is None:
            return io.NodeOutput(AceStepNoise(int(seed)))
        return io.NodeOutput(AceStepNoise(seeds_for_instance(parsed, _instance_of(cls, "seed"))))


class VariationNoise(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1VariationNoise",
            display_name="ACE-Step v1 Variation Noise (retake)",
            category=CATEGORY,
            description=(
                "Adds the original's retake seeds and variance to a noise. With a plain latent the sampler makes a "
                "variation (retake): noise = cos(v·π/2)·seed noise + sin(v·π/2)·retake noise. Repaint and extend "
                "need it: the new region's noise comes from the retake seeds, and the variance is the repaint "
                "strength. Flow-edit draws all its noise from the retake seeds."),
            inputs=[
                io.Noise.Input("noise", tooltip="The song's own seeds (AceStepV1SeededNoise), kept as the base."),
                io.Int.Input("retake_seed", default=0, min=0, max=SEED_MAX, control_after_generate=True,
                             tooltip=("Seed of the variation noise (the original's retake_seeds). "
                                      + SEED_TOOLTIP.format(what="variation noise", list="retake_seeds"))),
                io.Float.Input("variance", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip=("How far to move from the original (the original's retake_variance; library "
                                        "default 0.5, its UI uses 0.2 for retake/repaint and 1.0 for extend). 0 keeps "
                                        "the original noise, 1 uses only the retake noise. For repaint it is the "
                                        "strength: steps before int(steps·(1 − variance)) are skipped.")),
                io.String.Input("retake_seeds", default="", optional=True,
                                tooltip=SEEDS_TOOLTIP.format(widget="retake_seed")),
            ],
            outputs=[io.Noise.Output(tooltip="Seeds + retake seeds + variance for the ACE-Step samplers.")],
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, retake_seeds=None) -> bool | str:
        try:
            parse_seed_text(retake_seeds, "retake_seeds")
        except AceStepInputError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, noise, retake_seed: int, variance: float, retake_seeds: str | None = None) -> io.NodeOutput:
        base = as_ace_noise(noise)
        parsed = parse_seed_text(retake_seeds, "retake_seeds")
        if not 0.0 <= float(variance) <= 1.0:
            raise AceStepInputError(f"variance = {variance} is out of range [0, 1].")
        if parsed is not None:
            parsed = seeds_for_instance(parsed, _instance_of(cls, "retake_seed"), "retake_seeds")
        return io.NodeOutput(AceStepNoise(base.seeds, int(retake_seed) if parsed is None else parsed, float(variance)))


NODES = [SeededNoise, VariationNoise]
