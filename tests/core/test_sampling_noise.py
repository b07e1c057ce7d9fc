"""Seed parsing, generators and noise draws against upstream's golden fixtures (spec §10)."""
from __future__ import annotations

import pytest
import torch

from acestep_core.sampling.noise import make_generators, parse_seeds, randn_tensor
from golden_utils import load_golden

CASES = [
    # (tensor name, batch, seeds as given upstream, key in noise.json["actual_seeds"])
    ("seed42_1x8x16x21", 1, [42], "[42]"),
    ("seeds11_22_2x8x16x21", 2, "11,22", "'11,22'"),
    ("seeds5_repeated_3x8x16x4", 3, [5], "[5] with batch 3"),
]


@pytest.fixture(scope="module")
def golden(golden_dir):
    return load_golden(golden_dir, "noise")


@pytest.mark.parametrize("name, batch, seeds, key", CASES)
def test_golden_noise_bit_exact(golden, golden_index, name, batch, seeds, key):
    tensors, meta = golden
    assert golden_index["components"]["noise"]["per_tensor_tol"][name] == "exact"
    gens, actual = make_generators(batch, seeds)
    assert actual == meta["actual_seeds"][key]
    ref = tensors[name]
    ours = randn_tensor(tuple(ref.shape), gens, torch.float32, "cpu")
    assert ours.dtype == ref.dtype and torch.equal(ours, ref), name


@pytest.mark.parametrize(
    "seeds, expected",
    [
        ("1,2", [1, 2]),
        (" 7 , 8", [7, 8]),
        ("1,-5", [1, -5]),
        ("42", 42),
        ("42 ", None),
        ("-5", None),
        ("", None),
        ("   ", None),
        (" 7", None),
        (42, 42),
        ([3, 4], [3, 4]),
        ([], None),
        ([1, "2"], None),
        ((1, 2), None),
        (None, None),
        (4.0, None),
    ],
)
def test_parse_seeds(seeds, expected):
    assert parse_seeds(seeds) == expected


@pytest.mark.parametrize("seeds, bad", [("1,2,", "''"), ("a,b", "'a'"), ("3, x", "' x'")])
def test_parse_seeds_upstream_crashes_become_value_errors(seeds, bad):
    with pytest.raises(ValueError) as err:
        parse_seeds(seeds)
    assert bad in str(err.value)


@pytest.mark.parametrize("seeds", ["abc", "1.5", "42abc", "seed 7", "0x10"])
def test_a_seed_string_that_is_no_number_is_an_error(seeds):
    """Upstream silently draws a random seed for these; we refuse them, naming the parameter."""
    with pytest.raises(ValueError, match=rf"^manual_seeds: '{seeds}' is not a seed: write one whole number"):
        parse_seeds(seeds, "manual_seeds")
    with pytest.raises(ValueError, match=rf"^retake_seeds: '{seeds}' is not a seed"):
        make_generators(2, seeds, name="retake_seeds")
    with pytest.raises(ValueError, match=rf"^'{seeds}' is not a seed"):
        parse_seeds(seeds)  # no name given: the message starts with the value


def test_random_seeds_come_from_global_rng_in_order():
    torch.manual_seed(1234)
    gens, actual = make_generators(2, None)
    torch.manual_seed(1234)
    expected = [torch.randint(0, 2**32, (1,)).item() for _ in range(2)]
    assert actual == expected and all(0 <= s < 2**32 for s in actual)
    assert torch.equal(torch.randn(3, generator=gens[1]), torch.randn(3, generator=torch.Generator().manual_seed(expected[1])))


def test_random_seeds_from_given_rng():
    a = make_generators(3, "42 ", rng=torch.Generator().manual_seed(5))[1]
    b = make_generators(3, None, rng=torch.Generator().manual_seed(5))[1]
    assert a == b and len(set(a)) == 3


def test_int_seed_gives_identical_items():
    gens, actual = make_generators(3, 77)
    assert actual == [77, 77, 77]
    x = randn_tensor((3, 2, 4), gens, torch.float32)
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])


def test_short_seed_list_repeats_last():
    _, actual = make_generators(4, [1, 2])
    assert actual == [1, 2, 2, 2]


def test_out_of_range_seed_raises():
    with pytest.raises(ValueError, match="seed"):
        make_generators(1, 2**64)


def test_randn_tensor_single_vs_list_semantics():
    shape = (2, 3, 5)
    single = randn_tensor(shape, torch.Generator().manual_seed(3), torch.float32)
    assert torch.equal(single, torch.randn(shape, generator=torch.Generator().manual_seed(3)))
    listed_one = randn_tensor(shape, [torch.Generator().manual_seed(3)], torch.float32)
    assert torch.equal(single, listed_one)  # a list of one is used directly: one full-shape draw
    per_item = randn_tensor(shape, [torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)], torch.float32)
    assert torch.equal(per_item[0], per_item[1])
    assert not torch.equal(per_item, single)
    with pytest.raises(ValueError, match="generators"):
        randn_tensor((3, 2), [torch.Generator(), torch.Generator()], torch.float32)


def test_randn_tensor_draws_directly_in_dtype():
    x = randn_tensor((17,), torch.Generator().manual_seed(0), torch.bfloat16)
    assert x.dtype == torch.bfloat16
    assert torch.equal(x, torch.randn(17, generator=torch.Generator().manual_seed(0), dtype=torch.bfloat16))
    # not derivable from float32 noise in general (§10.2)
    assert not torch.equal(x, torch.randn(17, generator=torch.Generator().manual_seed(0)).bfloat16())
