"""Seeds, generators and initial-noise draws with upstream ACE-Step v1's semantics (spec §10).

Same seeds + same device/dtype must give the same noise as upstream bit for bit, so the parsing
rules of ``ACEStepPipeline.set_seeds`` and diffusers' ``randn_tensor`` are reproduced exactly,
quirks included (``"42 "`` means "random"; an int seed gives every batch item the same noise).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch

__all__ = ["parse_seeds", "make_generators", "randn_tensor"]

Seeds = Union[int, str, Sequence[int], None]
Generators = Union[torch.Generator, Sequence[torch.Generator], None]


def parse_seeds(seeds: object, name: Optional[str] = None) -> Union[int, list[int], None]:
    """Upstream's seed parsing (§10.1): int, list of ints, or None for "draw random seeds".

    A string with a comma → ``int()`` of every piece (spaces allowed); a ``str.isdigit()`` string → int
    (so ``"42 "`` and ``"-5"`` → None); an int → int; a non-empty list of ints → list; anything else → None.
    Where upstream crashes on the ``int()`` (``"1,2,"``, ``"a,b"``) raise a ValueError naming the value; a
    string that is no number at all (``"abc"``, ``"1.5"``), which upstream silently turns into random
    seeds, is a ValueError too. ``name`` (e.g. ``"manual_seeds"``) starts the error messages.
    """
    if seeds is None:
        return None
    if isinstance(seeds, str):
        return _parse_seed_text(seeds, f"{name}: " if name else "")
    if isinstance(seeds, list) and all(isinstance(s, int) for s in seeds):
        return list(seeds) if len(seeds) > 0 else None
    if isinstance(seeds, int):
        return seeds
    return None


def _parse_seed_text(text: str, prefix: str) -> Union[int, list[int], None]:
    """The string forms of `parse_seeds`; ``prefix`` names the parameter in errors."""
    if "," in text:
        out: list[int] = []
        for piece in text.split(","):
            try:
                out.append(int(piece))
            except ValueError:
                raise ValueError(
                    f"{prefix}invalid seed {piece!r} in {text!r}: seeds must be integers separated by commas, "
                    "e.g. '11, 22' (no trailing comma)"
                ) from None
        return out
    if text.isdigit():
        try:
            return int(text)
        except ValueError:  # unicode digits such as '²' pass isdigit() but not int()
            raise ValueError(f"{prefix}invalid seed {text!r}: use ASCII digits") from None
    if text.strip() == "" or _is_integer(text):
        return None  # upstream: "" and integers it does not take ("42 ", "-5") mean random seeds
    raise ValueError(
        f"{prefix}{text!r} is not a seed: write one whole number ('42') or whole numbers separated by commas "
        "('1, 2, 3')"
    )


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def make_generators(
    batch_size: int,
    seeds: object,
    device: Union[str, torch.device] = "cpu",
    rng: Optional[torch.Generator] = None,
    name: Optional[str] = None,
) -> tuple[list[torch.Generator], list[int]]:
    """One seeded ``torch.Generator`` per batch item and the seeds used (upstream ``set_seeds``, §10.1).

    An int seeds every item alike; a list is indexed per item and its last entry repeats; None draws
    each seed with ``torch.randint(0, 2**32, (1,))`` from the global CPU RNG (or ``rng`` if given), in
    batch order. Called once for manual seeds and once for retake seeds, in that order; ``name``
    (``"manual_seeds"``/``"retake_seeds"``) says which in errors.
    """
    processed = parse_seeds(seeds, name)
    generators = [torch.Generator(device=device) for _ in range(batch_size)]
    actual: list[int] = []
    for i in range(batch_size):
        if processed is None:
            seed = int(torch.randint(0, 2**32, (1,), generator=rng).item())
        elif isinstance(processed, int):
            seed = processed
        else:
            seed = processed[i] if i < len(processed) else processed[-1]
        try:
            generators[i].manual_seed(seed)
        except (RuntimeError, ValueError, OverflowError) as exc:
            where = f"{name}: " if name else ""
            raise ValueError(f"{where}seed {seed!r} is out of range for torch.Generator.manual_seed: {exc}") from None
        actual.append(seed)
    return generators, actual


def randn_tensor(
    shape: Sequence[int],
    generators: Generators,
    dtype: torch.dtype = torch.float32,
    device: Union[str, torch.device, None] = None,
) -> torch.Tensor:
    """Standard normal noise with diffusers' ``randn_tensor`` semantics (§10.2, §14 item 28).

    One generator (or a list of one) → a single draw of the full shape; a list of B generators →
    ``(1, …)`` per item, concatenated. Drawn directly in ``dtype`` on the generator's device (never
    derived from float32 noise), then moved to ``device``.
    """
    shape = tuple(int(s) for s in shape)
    device = torch.device(device) if device is not None else torch.device("cpu")
    if isinstance(generators, (list, tuple)) and len(generators) == 0:
        raise ValueError("empty generator list: pass None for the global RNG or one generator per batch item")
    if isinstance(generators, (list, tuple)) and len(generators) == 1:
        generators = generators[0]
    if isinstance(generators, (list, tuple)):
        batch = shape[0]
        if len(generators) < batch:
            raise ValueError(f"{len(generators)} generators for a batch of {batch}: need one per batch item")
        item_shape = (1,) + shape[1:]
        parts = [
            torch.randn(item_shape, generator=g, device=g.device, dtype=dtype) for g in generators[:batch]
        ]
        return torch.cat(parts, dim=0).to(device)
    rand_device = generators.device if generators is not None else device
    return torch.randn(shape, generator=generators, device=rand_device, dtype=dtype).to(device)
