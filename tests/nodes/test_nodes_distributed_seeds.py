"""Seed inputs under ComfyUI-Distributed (robertvoy/ComfyUI-Distributed): per-instance seeds.

Distributed runs one graph on a master and on workers. Its DistributedSeed node passes its seed through on
the master and adds k + 1 on worker k; its orchestrator marks each instance's copy of the prompt by setting
that node's hidden inputs `is_worker` / `worker_id` ("worker_<k>"). Our rule: when `seed` (`retake_seed`)
comes straight from a DistributedSeed node, a `seeds` (`retake_seeds`) list is moved per instance by
instance x (largest - smallest + 1) instead of being repeated on every instance; everything else is as before.

Distributed itself is not loaded here (the end-to-end run with a real master and worker is
tests/distributed_run.sh); a small node with DistributedSeed's contract stands in for it, and the graphs
run through ComfyUI's own executor, which is what hands our nodes the prompt and their node id.
"""
from __future__ import annotations

from importlib import import_module

import pytest

import nodes as comfy_nodes


class DistributedSeedStandIn:
    """DistributedSeed's contract (inputs, hidden inputs, output): seed on the master, seed + k + 1 on worker k."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 1125899906842624})},
                "hidden": {"is_worker": ("BOOLEAN", {"default": False}), "worker_id": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("INT",)
    RETURN_NAMES = ("seed",)
    FUNCTION = "distribute"
    CATEGORY = "utils"

    def distribute(self, seed, is_worker=False, worker_id=""):
        if not is_worker:
            return (seed,)
        return (seed + int(worker_id.split("_")[1]) + 1,)


@pytest.fixture
def distributed_seed(monkeypatch, comfy_home):
    monkeypatch.setitem(comfy_nodes.NODE_CLASS_MAPPINGS, "DistributedSeed", DistributedSeedStandIn)
    return "DistributedSeed"


@pytest.fixture(scope="module")
def noise_mod(node_classes):
    return import_module(node_classes["AceStepV1SeededNoise"].__module__)


def _instance_prompt(role: str | None, seeds: str = "", base: int = 0, retake: str | None = None) -> dict:
    """SeededNoise (seed from DistributedSeed) → VariationNoise → PreviewAny, as one instance receives it.

    role None: a plain /prompt (no orchestrator); "master"; "worker_<k>"."""
    dist = {"class_type": "DistributedSeed", "inputs": {"seed": base}}
    if role is not None:
        dist["inputs"]["is_worker"] = role != "master"
        dist["inputs"]["worker_id"] = "" if role == "master" else role
    prompt = {
        "1": dist,
        "2": {"class_type": "AceStepV1SeededNoise", "inputs": {"seed": ["1", 0], "seeds": seeds}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    if retake is not None:
        prompt["4"] = {"class_type": "AceStepV1VariationNoise",
                       "inputs": {"noise": ["2", 0], "retake_seed": ["1", 0], "variance": 0.2,
                                  "retake_seeds": retake}}
        prompt["5"] = {"class_type": "PreviewAny", "inputs": {"source": ["4", 0]}}
    return prompt


def _noise(runner, prompt, node="2"):
    return runner.run(prompt).output(node)


# --- the rule, as functions ------------------------------------------------------------------------------

def test_instance_is_read_only_from_a_directly_linked_distributed_seed(noise_mod):
    f = noise_mod.distributed_instance
    for role, expected in ((None, 0), ("master", 0), ("worker_0", 1), ("worker_3", 4)):
        assert f(_instance_prompt(role, "1, 2"), "2", "seed") == expected, role
    worker = _instance_prompt("worker_0", "1, 2")
    assert f(worker, "2", "seeds") == 0                      # not the linked input
    assert f(worker, "9", "seed") == 0                       # not in the prompt
    assert f(None, "2", "seed") == 0 and f(worker, None, "seed") == 0
    constant = _instance_prompt("worker_0", "1, 2")
    constant["2"]["inputs"]["seed"] = 5                      # a widget value, not a link
    assert f(constant, "2", "seed") == 0
    other = _instance_prompt("worker_0", "1, 2")
    other["1"]["class_type"] = "PrimitiveInt"                # another node with the same inputs
    assert f(other, "2", "seed") == 0
    odd = _instance_prompt("worker_x", "1, 2")               # unparsable: DistributedSeed keeps the seed too
    assert f(odd, "2", "seed") == 0


def test_lists_move_in_non_overlapping_blocks(noise_mod):
    g = noise_mod.seeds_for_instance
    assert g((11, 22), 0) == (11, 22)
    assert g((11, 22), 1) == (23, 34) and g((11, 22), 2) == (35, 46)
    assert g((1, 2, 3), 1) == (4, 5, 6) and g((1, 2, 3), 2) == (7, 8, 9)
    assert g(42, 0) == 42 and g(42, 1) == 43 and g(42, 5) == 47   # one seed moves as DistributedSeed moves it
    assert g((5, 5), 1) == (6, 6)                                   # a repeated seed stays repeated
    for seeds in ((11, 22, 33, 44), (1, 3), (0, 1, 2, 3), (100, 7, 53), (9,)):
        blocks = [set(g(seeds, j)) for j in range(12)]
        for j, block in enumerate(blocks):
            assert len(block) == len(set(seeds))
            for other in blocks[j + 1:]:
                assert not block & other, (seeds, j)
    with pytest.raises(ValueError, match="pass"):
        g((noise_mod.SEED_MAX - 1, noise_mod.SEED_MAX), 1)


# --- through ComfyUI's executor ---------------------------------------------------------------------------

def test_single_instance_behaviour_is_unchanged(runner, distributed_seed):
    # No orchestrator (plain /prompt) and the master: the list as written, the INT seed as given.
    assert _noise(runner, _instance_prompt(None, "11, 22", base=7)).seeds == (11, 22)
    assert _noise(runner, _instance_prompt("master", "11, 22, 33, 44", base=5)).seeds == (11, 22, 33, 44)
    assert _noise(runner, _instance_prompt("master", "", base=5)).seeds == 5
    # A constant seed with a list: the list replaces it, whatever the seed (as before).
    plain = _instance_prompt(None, "1, 2, 3")
    plain["2"]["inputs"]["seed"] = 7
    del plain["1"]
    assert _noise(runner, plain).seeds == (1, 2, 3)


def test_each_worker_gets_its_own_seeds(runner, distributed_seed):
    seen = []
    for role in ("master", "worker_0", "worker_1"):
        seen.append(_noise(runner, _instance_prompt(role, "11, 22", base=0)).seeds)
    assert seen == [(11, 22), (23, 34), (35, 46)]
    # Without a list the INT seed itself is per instance (DistributedSeed adds k + 1); our node keeps it.
    ints = [_noise(runner, _instance_prompt(role, "", base=100)).seeds for role in ("master", "worker_0", "worker_1")]
    assert ints == [100, 101, 102]
    # A single number in `seeds` moves like the INT seed would.
    assert _noise(runner, _instance_prompt("worker_1", "42", base=0)).seeds == 44


def test_retake_seed_lists_follow_the_same_rule(runner, distributed_seed):
    master = _noise(runner, _instance_prompt("master", "3", retake="5, 6"), node="4")
    worker = _noise(runner, _instance_prompt("worker_0", "3", retake="5, 6"), node="4")
    assert master.retake_seeds == (5, 6) and worker.retake_seeds == (7, 8)
    assert master.seeds == 3 and worker.seeds == 4
    # retake_seed from DistributedSeed without a list: the per-instance INT.
    single = _noise(runner, _instance_prompt("worker_0", "3", base=10, retake=""), node="4")
    assert single.retake_seeds == 11


def test_direct_calls_have_no_instance(node_classes):
    """Outside the executor (no prompt): the list as written."""
    out = node_classes["AceStepV1SeededNoise"].execute(seed=9, seeds="11, 22").args[0]
    assert out.seeds == (11, 22)
