"""Schedules and scheduler steps against upstream's golden fixtures and the spec's examples (§7, §9.7)."""
from __future__ import annotations

import math

import pytest
import torch

from acestep_core.sampling.samplers import (
    HeunState,
    euler_step,
    heun_step,
    make_stepper,
    pingpong_step,
)
from acestep_core.sampling.schedules import (
    Schedule,
    add_latents_noise,
    audio2audio_schedule,
    custom_sigma_schedule,
    flow_match_schedule,
    omega_factor,
    oss_schedule,
    parse_oss_steps,
    scheduler_sigma_bounds,
)
from golden_utils import GOLDEN, assert_close_rel, component_tol, load_golden

COMPONENT = "schedulers"


@pytest.fixture(scope="module")
def golden(golden_dir):
    return load_golden(golden_dir, COMPONENT)


def _schedule_names() -> list[str]:
    import json

    path = GOLDEN / "components" / f"{COMPONENT}.json"
    return list(json.loads(path.read_text())["schedules"]) if path.exists() else []


def _check(golden_index, tensors, name, ours):
    return assert_close_rel(ours, tensors[name], component_tol(golden_index, COMPONENT, name), name)


# --- golden fixtures ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _schedule_names())
def test_golden_schedule(golden, golden_index, name):
    tensors, meta = golden
    kind, shift, smax, n = name.split("_")
    shift, smax, n = float(shift[len("shift"):]), float(smax[len("smax"):]), int(n[1:])
    sched = flow_match_schedule(kind, n, shift=shift, sigma_max=smax)
    info = meta["schedules"][name]
    assert sched.num_steps == info["num_inference_steps_returned"]
    assert scheduler_sigma_bounds(shift, smax) == (info["sigma_max"], info["sigma_min"])
    _check(golden_index, tensors, f"{name}_timesteps", sched.timesteps)
    _check(golden_index, tensors, f"{name}_sigmas", sched.sigmas)
    # timesteps are matched by exact float equality upstream (§7.4): we reproduce them bit for bit
    assert torch.equal(sched.timesteps, tensors[f"{name}_timesteps"])
    assert torch.equal(sched.sigmas, tensors[f"{name}_sigmas"])


def test_golden_schedule_list_is_complete(golden):
    # 3 kinds × 3 shifts × 3 sigma_max × 5 step counts
    assert len(_schedule_names()) == 135


@pytest.mark.parametrize("kind", ["euler", "pingpong"])
def test_golden_custom_sigmas(golden, golden_index, kind):
    tensors, _ = golden
    sched = custom_sigma_schedule(tensors[f"{kind}_custom_sigmas_in"], kind=kind)
    assert sched.num_steps == tensors[f"{kind}_custom_sigmas_in"].numel()
    _check(golden_index, tensors, f"{kind}_custom_sigmas_timesteps", sched.timesteps)
    _check(golden_index, tensors, f"{kind}_custom_sigmas_sigmas", sched.sigmas)


@pytest.mark.parametrize("kind", ["euler", "heun", "pingpong"])
@pytest.mark.parametrize("omega", [10.0, 0.0])
def test_golden_update_chain(golden, golden_index, kind, omega):
    tensors, meta = golden
    prefix = f"{kind}_update_omega{omega}"
    info = meta["updates"][prefix]
    sched = flow_match_schedule(kind, 4)
    assert sched.timesteps.tolist() == info["timesteps"]
    assert omega_factor(omega) == info["omega_after_rescale"]
    stepper = make_stepper(kind, sched, omega, torch.Generator().manual_seed(info["step_generator_seed"]))
    x = tensors[f"{prefix}_x0"]
    for i in range(info["n_calls"]):
        x = stepper.step(tensors[f"{prefix}_model_output_{i}"], x)
        _check(golden_index, tensors, f"{prefix}_x{i + 1}", x)
    assert stepper.index == info["n_calls"]


@pytest.mark.parametrize("kind", ["euler", "heun", "pingpong"])
@pytest.mark.parametrize("strength", [0.5, 0.3, 0.7])
def test_golden_add_latents_noise(golden, golden_index, kind, strength):
    tensors, meta = golden
    name = f"aln_{kind}_strength{strength}"
    info = meta["add_latents_noise"][name]
    sched, sig_max = audio2audio_schedule(kind, 8, strength)
    assert sched.num_steps == info["num_inference_steps"]
    assert sig_max == info["scheduler_sigma_max"]
    _check(golden_index, tensors, f"{name}_timesteps", sched.timesteps)
    noisy = add_latents_noise(tensors["aln_gt_latents"], tensors["aln_noise"], sig_max)
    _check(golden_index, tensors, f"{name}_noisy", noisy)
    assert torch.equal(noisy, tensors[f"{name}_noisy"])  # same two products and a sum as upstream


# --- spec §7.9 examples and structure ----------------------------------------------------------------


def test_scheduler_bounds_example():
    assert scheduler_sigma_bounds(3.0, 1.0) == (1.0, 0.002994012087583542)


def test_euler_27_example():
    t = flow_match_schedule("euler", 27).timesteps.tolist()
    assert t[:5] == [1000.0, 986.8825073242188, 973.0582275390625, 958.4684448242188, 943.0477294921875]
    assert t[-3:] == [206.19786071777344, 114.55010223388672, 8.928571701049805]


def test_euler_60_example():
    sched = flow_match_schedule("euler", 60)
    t = sched.timesteps.tolist()
    assert t[:5] == [1000.0, 994.3030395507812, 988.4747314453125, 982.510498046875, 976.4055786132812]
    assert t[-3:] == [102.8077163696289, 57.39385223388672, 8.928571701049805]
    assert sched.timesteps.dtype == torch.float32 and sched.sigmas.dtype == torch.float32
    assert sched.sigmas.shape == (61,) and sched.sigmas[-1].item() == 0.0
    # the double shift: the last non-zero sigma is shift(shift(0.001)), not 0.001 or 0.003
    assert sched.sigmas[-2].item() == pytest.approx(0.008928571, abs=1e-9)


def test_heun_5_example():
    sched = flow_match_schedule("heun", 5)
    assert sched.timesteps.tolist() == [
        1000.0, 900.3590698242188, 900.3590698242188, 751.12109375, 751.12109375,
        502.98504638671875, 502.98504638671875, 8.928571701049805, 8.928571701049805,
    ]
    s = sched.sigmas.tolist()
    assert len(s) == 10 and s[-1] == 0.0 and s[1] == s[2] and s[-2] == s[-3]
    # retrieve_timesteps returns N, not 2N-1 (guidance-interval quirk, §7.3)
    assert sched.num_steps == 5 and len(sched) == 9


OSS = [16, 29, 52, 96, 129, 158, 172, 183, 189, 200]


def test_oss_fp32_example():
    sched, infer_steps = oss_schedule(OSS, "euler", torch.float32)
    assert infer_steps == 200 and sched.num_steps == 10
    assert sched.timesteps.tolist() == [
        991.0521850585938, 982.192626953125, 963.2664794921875, 908.3345947265625, 834.278076171875,
        709.4628295898438, 600.8201904296875, 465.3009033203125, 356.9975891113281, 26.3157901763916,
    ]


def test_oss_bf16_rounding_example():
    sched, infer_steps = oss_schedule(OSS, "pingpong", torch.bfloat16)
    assert infer_steps == 200
    assert sched.timesteps.dtype == torch.float32
    assert sched.timesteps.tolist() == [
        990.7161865234375, 982.4797973632812, 962.1848754882812, 909.2307739257812, 835.64013671875,
        708.2474365234375, 600.7025756835938, 464.9595642089844, 357.1428527832031, 26.265291213989258,
    ]


def test_oss_string_through_parser_matches_list():
    a, _ = oss_schedule(parse_oss_steps("16, 29, 52, 96, 129, 158, 172, 183, 189, 200"), "euler")
    b, _ = oss_schedule(OSS, "euler")
    assert torch.equal(a.timesteps, b.timesteps) and torch.equal(a.sigmas, b.sigmas)


def test_audio2audio_examples():
    sched, sig_max = audio2audio_schedule("euler", 60, 0.5)
    assert sig_max == 0.75 and sched.num_steps == 30
    t = sched.timesteps.tolist()
    assert t[:3] == [900.0, 887.3756103515625, 874.2085571289062]
    assert t[-2:] == [81.56790161132812, 8.928571701049805]
    sched, sig_max = audio2audio_schedule("euler", 60, 0.3)
    assert sig_max == 0.8749999403953552 and sched.num_steps == 42
    assert sched.timesteps[0].item() == 954.54541015625


def test_audio2audio_strength_zero_is_text2music_schedule():
    sched, sig_max = audio2audio_schedule("heun", 8, 0.0)
    ref = flow_match_schedule("heun", 8)
    assert sig_max == 1.0
    assert torch.equal(sched.timesteps, ref.timesteps) and torch.equal(sched.sigmas, ref.sigmas)


@pytest.mark.parametrize("kind", ["euler", "heun", "pingpong"])
@pytest.mark.parametrize("strength", [1.0, 0.99])
def test_audio2audio_no_steps_left_is_an_empty_schedule(kind, strength):
    # Upstream runs no step and returns the noised reference (the reference itself at strength 1).
    sched, sig_max = audio2audio_schedule(kind, 60, strength)
    assert len(sched) == 0 and sched.num_steps == 0
    assert sig_max == scheduler_sigma_bounds(3.0, 1 - strength)[0]
    assert (sig_max == 0.0) == (strength == 1.0)


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_audio2audio_strength_out_of_range(strength):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        audio2audio_schedule("euler", 60, strength)


def test_add_latents_noise_formula():
    gt, noise = torch.full((1, 8, 16, 3), 2.0), torch.full((1, 8, 16, 3), -1.0)
    out = add_latents_noise(gt, noise, 0.75)
    assert torch.allclose(out, torch.full_like(out, 2.0 * 0.25 - 0.75))


# --- errors -----------------------------------------------------------------------------------------


def test_heun_custom_sigmas_raises():
    with pytest.raises(ValueError, match="heun"):
        custom_sigma_schedule([0.9, 0.5, 0.1], kind="heun")


def test_heun_oss_raises():
    with pytest.raises(ValueError, match="heun"):
        oss_schedule(OSS, "heun", torch.float32)


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="scheduler type"):
        flow_match_schedule("ddim", 10)
    with pytest.raises(ValueError, match="scheduler type"):
        make_stepper("ddim", flow_match_schedule("euler", 4), 10.0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("16, 29,52", [16, 29, 52]),
        ("200", [200]),
        ("5,3,9", [5, 3, 9]),  # order is not validated upstream
        ("", []),
        (None, []),
        ([3, 1], [3, 1]),
    ],
)
def test_parse_oss_steps(text, expected):
    assert parse_oss_steps(text) == expected


@pytest.mark.parametrize(
    "text, bad",
    [("1,,2", "''"), ("a, 5", "'a'"), ("16,0", "'0'"), ("4,-3", "'-3'"), ("1.5", "'1.5'"), ([2, 0], "0")],
)
def test_parse_oss_steps_errors_name_the_entry(text, bad):
    with pytest.raises(ValueError) as err:
        parse_oss_steps(text)
    assert bad in str(err.value) and "1-based" in str(err.value)


# --- omega ------------------------------------------------------------------------------------------


def test_omega_factor_values():
    assert omega_factor(10.0) == 1.0462117157260011
    assert omega_factor(0.0) == 1.0
    assert 0.9 < omega_factor(-50.0) < omega_factor(1.0) < omega_factor(50.0) < 1.1


# --- step functions ---------------------------------------------------------------------------------


def _pair(seed: int, shape=(2, 8, 16, 5)):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g) + 0.3


def test_euler_step_uses_global_mean_over_batch():
    x, v = _pair(0)
    x[1] += 5.0
    v[1] *= 3.0
    sched = flow_match_schedule("euler", 4)
    s, sn, w = sched.sigmas[0], sched.sigmas[1], omega_factor(10.0)
    out = euler_step(x, v, s, sn, w)
    dx = (sn - s) * v
    m = dx.mean()
    assert torch.equal(out, x + ((dx - m) * w + m))
    # batch coupling (§14 item 33): a batch of two is not two single runs
    single = euler_step(x[:1], v[:1], s, sn, w)
    assert not torch.allclose(out[:1], single, rtol=0, atol=1e-6)
    # with omega' = 1 the update is plain Euler
    assert torch.allclose(euler_step(x, v, s, sn, 1.0), x + dx, atol=1e-6)


def test_heun_step_keeps_literal_arithmetic():
    x = torch.tensor([[1000.0, -700.0, 3.0]])
    v = torch.tensor([[1e-3, 2e-3, 0.3]])
    sched = flow_match_schedule("heun", 3)
    s, sn = sched.sigmas[0], sched.sigmas[1]
    state = HeunState()
    out = heun_step(x, v, s, sn, 1.0, state)
    d = (x - (x - v * s)) / s
    assert not torch.equal(d, v)  # the simplification would change the numbers
    dx = d * (sn - s)
    m = dx.mean()
    assert torch.equal(out, x + ((dx - m) * 1.0 + m))
    assert state.dt is not None and torch.equal(state.sample, x) and torch.equal(state.prev_derivative, d)
    # second call: average of both derivatives from the stored sample; state cleared
    v2 = v * 2.0
    out2 = heun_step(out, v2, s, sn, 1.0, state)
    d2 = (out - (out - v2 * sn)) / sn
    dx2 = (0.5 * (d + d2)) * (sn - s)
    m2 = dx2.mean()
    assert torch.equal(out2, x + ((dx2 - m2) * 1.0 + m2))
    assert state.first_order and state.sample is None


def test_heun_stepper_alternates_and_runs_2n_minus_1_calls():
    sched = flow_match_schedule("heun", 3)
    stepper = make_stepper("heun", sched, 0.0)
    x, v = _pair(1)
    phases = []
    for _ in range(len(sched)):
        phases.append(stepper.heun.first_order)
        x = stepper.step(v, x)
    assert phases == [True, False, True, False, True]
    assert stepper.index == 5
    with pytest.raises(ValueError, match="past the end"):
        stepper.step(v, x)


def test_pingpong_step_and_generator_stream():
    x, v = _pair(2)
    s, sn = torch.tensor(0.5), torch.tensor(0.25)
    g = torch.Generator().manual_seed(7)
    out = pingpong_step(x, v, s, sn, g)
    noise = torch.empty_like(x).normal_(generator=torch.Generator().manual_seed(7))
    assert torch.equal(out, (1 - sn) * (x - s * v) + sn * noise)
    # the last step (sigma_next = 0) still draws from the generator
    g_last = torch.Generator().manual_seed(7)
    out_last = pingpong_step(x, v, s, torch.tensor(0.0), g_last)
    assert torch.equal(out_last, x - s * v)
    ref = torch.Generator().manual_seed(7)
    torch.empty_like(x).normal_(generator=ref)
    assert torch.equal(torch.randn(4, generator=g_last), torch.randn(4, generator=ref))


def test_pingpong_noise_is_float32_full_batch_even_for_bf16():
    x, v = _pair(3)
    s, sn = torch.tensor(0.5), torch.tensor(0.25)
    out = pingpong_step(x.bfloat16(), v.bfloat16(), s, sn, torch.Generator().manual_seed(9))
    noise = torch.empty(x.shape, dtype=torch.float32).normal_(generator=torch.Generator().manual_seed(9))
    ref = ((1 - sn) * (x.bfloat16().float() - s * v.bfloat16()) + sn * noise).bfloat16()
    assert out.dtype == torch.bfloat16 and torch.equal(out, ref)


@pytest.mark.parametrize("kind", ["euler", "heun", "pingpong"])
def test_step_returns_model_output_dtype(kind):
    x, v = _pair(4)
    stepper = make_stepper(kind, flow_match_schedule(kind, 4), 10.0, torch.Generator().manual_seed(0))
    out = stepper.step(v.bfloat16(), x)
    assert out.dtype == torch.bfloat16


def test_stepper_first_index_follows_upstream_duplicate_rule():
    # a repeated first oss entry makes upstream start at the 2nd match (and overrun at the end)
    sched, _ = oss_schedule([5, 5, 9], "euler")
    stepper = make_stepper("euler", sched, 10.0)
    x, v = _pair(5)
    x = stepper.step(v, x)
    assert stepper.index == 2
    stepper.step(v, x)
    with pytest.raises(ValueError, match="past the end"):
        stepper.step(v, x)


def test_stepper_index_is_call_count():
    sched = flow_match_schedule("euler", 6)
    stepper = make_stepper("euler", sched, 10.0)
    x, v = _pair(6)
    ref = x
    for k in range(6):
        x = stepper.step(v, x)
        ref = euler_step(ref, v, sched.sigmas[k], sched.sigmas[k + 1], omega_factor(10.0))
        assert stepper.index == k + 1
    assert torch.equal(x, ref)


def test_schedule_is_frozen_dataclass():
    sched = flow_match_schedule("euler", 3)
    assert isinstance(sched, Schedule)
    with pytest.raises(Exception):
        sched.num_steps = 4  # type: ignore[misc]
    assert math.isclose(sched.sigmas[0].item(), 1.0)
