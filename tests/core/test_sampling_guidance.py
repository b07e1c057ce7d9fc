"""Guidance functions against upstream's golden fixtures and the interval rules of spec §8."""
from __future__ import annotations

import pytest
import torch

from acestep_core.sampling.guidance import (CFG_TYPES, MomentumBuffer, apg, cfg, cfg_enabled, cfg_star, double_condition,
                                            guidance_interval_bounds, guidance_scale_at, guide)
from golden_utils import assert_close_rel, component_tol, load_golden

COMPONENT = "guidance"


@pytest.fixture(scope="module")
def golden(golden_dir):
    tensors, _ = load_golden(golden_dir, COMPONENT)
    return tensors


def _check(golden_index, tensors, name, ours):
    return assert_close_rel(ours, tensors[name], component_tol(golden_index, COMPONENT, name), name)


def _cu(t, i):
    return t[f"cond_{i}"], t[f"uncond_{i}"]


# --- golden fixtures ------------------------------------------------------------------------------


def test_golden_apg_shared_momentum(golden, golden_index):
    buf = MomentumBuffer()
    for i in range(3):
        c, u = _cu(golden, i)
        _check(golden_index, golden, f"apg_momentum_{i}", apg(c, u, 15.0, buf))


def test_golden_apg_no_momentum(golden, golden_index):
    c, u = _cu(golden, 0)
    _check(golden_index, golden, "apg_no_momentum", apg(c, u, 7.0, None))


def test_golden_apg_small_diff(golden, golden_index):
    c, u = _cu(golden, 1)
    _check(golden_index, golden, "apg_small_diff", apg(c, c + 1e-3 * u, 15.0, MomentumBuffer()))


def test_golden_apg_batch2(golden, golden_index):
    c = torch.cat([golden["cond_0"], golden["cond_1"]])
    u = torch.cat([golden["uncond_0"], golden["uncond_1"]])
    _check(golden_index, golden, "apg_batch2", apg(c, u, 15.0, MomentumBuffer()))


def test_golden_cfg(golden, golden_index):
    c, u = _cu(golden, 0)
    _check(golden_index, golden, "cfg", cfg(c, u, 15.0))


def test_golden_cfg_star(golden, golden_index):
    c, u = _cu(golden, 0)
    out0 = cfg_star(c, u, 15.0, 0, zero_steps=1, use_zero_init=True)
    assert torch.equal(out0, golden["cfg_star_i0"])  # the zero-init output: exactly zero
    _check(golden_index, golden, "cfg_star_i3", cfg_star(c, u, 15.0, 3))
    cb = torch.cat([golden["cond_0"], golden["cond_1"]])
    ub = torch.cat([golden["uncond_0"], golden["uncond_1"]])
    _check(golden_index, golden, "cfg_star_batch2_i3", cfg_star(cb, ub, 15.0, 3))


def test_golden_double_condition(golden, golden_index):
    c, u = _cu(golden, 0)
    out = double_condition(c, u, golden["only_text_cond"], 5.0, 2.5)
    _check(golden_index, golden, "double_condition", out)


# --- behaviour ----------------------------------------------------------------------------------------


def test_momentum_buffer_is_per_run_state(golden):
    c1, u1 = _cu(golden, 1)
    shared = MomentumBuffer()
    apg(*_cu(golden, 0), 15.0, shared)
    assert shared.momentum == -0.75
    with_history = apg(c1, u1, 15.0, shared)
    fresh = apg(c1, u1, 15.0, MomentumBuffer())
    assert not torch.allclose(with_history, fresh)
    # running average r = Δ1 + (−0.75)·Δ0
    d0 = golden["cond_0"] - golden["uncond_0"]
    assert torch.allclose(shared.running_average, (c1 - u1) - 0.75 * d0, atol=1e-6)


def test_apg_clips_and_projects():
    g = torch.Generator().manual_seed(0)
    c = torch.randn(1, 2, 16, 4, generator=g)
    u = c - 100.0 * torch.randn(1, 2, 16, 4, generator=g)  # huge difference → clipped to norm 2.5
    out = apg(c, u, 2.0, None)
    upd = out - c  # (g − 1)·Δ⊥ with g = 2
    assert torch.all(upd.norm(dim=(-1, -2)) <= 2.5 + 1e-4)
    assert torch.allclose((upd * c).sum(dim=(-1, -2)), torch.zeros(1, 2), atol=1e-4)  # orthogonal to cond
    assert apg(c.bfloat16(), u.bfloat16(), 2.0, None).dtype == torch.bfloat16


def test_apg_projection_is_float64():
    # Δ almost parallel to cond: the orthogonal part is a small residual that float32 projection ruins
    g = torch.Generator().manual_seed(2)
    c = torch.randn(1, 2, 16, 4, generator=g)
    unit = c / c.norm(dim=(-1, -2), keepdim=True)
    ortho = torch.randn(1, 2, 16, 4, generator=g) * 1e-7
    u = c - (2.0 * unit + ortho)
    diff = c - u  # the float32 difference apg sees (norm < 2.5: no clipping)
    assert torch.all(diff.norm(dim=(-1, -2)) < 2.5)
    dd, cd = diff.double(), c.double()
    ud = cd / cd.norm(dim=(-1, -2), keepdim=True)
    perp = (dd - (dd * ud).sum(dim=(-1, -2), keepdim=True) * ud).float()
    out = apg(c, u, 1001.0, None)
    assert torch.allclose(out, c + 1000.0 * perp, rtol=0, atol=1e-5)  # float32 projection: ~5e-5 off


def test_guidance_interval_examples():
    assert guidance_interval_bounds(60, 0.5) == (15, 45)
    assert guidance_interval_bounds(60, 0.3) == (21, 39)
    assert guidance_interval_bounds(60, 0.7) == (9, 51)
    assert guidance_interval_bounds(60, 0.65) == (10, 49)
    assert guidance_interval_bounds(27, 0.5) == (6, 20)
    assert guidance_interval_bounds(60, 1.0) == (0, 60)


def test_cfg_enabled():
    assert cfg_enabled(1.5) and not cfg_enabled(1.0) and not cfg_enabled(0.0)


def test_guidance_scale_decay():
    start, end = 15, 45
    assert guidance_scale_at(15, start, end, 15.0, 3.0, 1.0) == 15.0
    assert guidance_scale_at(44, start, end, 15.0, 3.0, 1.0) == 3.0
    assert guidance_scale_at(30, start, end, 15.0, 3.0, 0.5) == 15.0 - (15.0 - 3.0) * (15 / 29) * 0.5
    assert guidance_scale_at(30, start, end, 15.0, 3.0, 0.0) == 15.0


def test_guidance_scale_one_step_interval_keeps_scale():
    # upstream divides by zero here; we keep the scale
    assert guidance_scale_at(5, 5, 6, 15.0, 3.0, 1.0) == 15.0


def test_cfg_star_zero_init_window():
    g = torch.Generator().manual_seed(1)
    c, u = torch.randn(2, 8, 16, 3, generator=g), torch.randn(2, 8, 16, 3, generator=g)
    assert torch.count_nonzero(cfg_star(c, u, 7.0, 1)) == 0
    assert torch.count_nonzero(cfg_star(c, u, 7.0, 2)) > 0
    assert torch.count_nonzero(cfg_star(c, u, 7.0, 0, use_zero_init=False)) > 0
    # α is per batch item: item 1 alone gives the same result as in the batch
    assert torch.allclose(cfg_star(c, u, 7.0, 3)[1:], cfg_star(c[1:], u[1:], 7.0, 3), atol=1e-6)


def test_guide_dispatch(golden):
    c, u = _cu(golden, 0)
    assert CFG_TYPES == ("apg", "cfg", "cfg_star")
    assert torch.equal(guide("cfg", c, u, 15.0, momentum=None, step_index=20), cfg(c, u, 15.0))
    assert torch.equal(guide("cfg_star", c, u, 15.0, momentum=None, step_index=0), cfg_star(c, u, 15.0, 0))
    assert torch.equal(
        guide("apg", c, u, 15.0, momentum=MomentumBuffer(), step_index=20), apg(c, u, 15.0, MomentumBuffer())
    )
    with pytest.raises(ValueError, match="cfg_type"):
        guide("pag", c, u, 15.0, momentum=None, step_index=0)
