"""Opt-in step caching (`guidance_cache_interval`): fewer unconditional passes, the documented estimate."""
from __future__ import annotations

import pytest
import torch

from acestep_core import AceStepPipeline, SamplerSettings, SamplingPolicy, Text2Music
from acestep_core.branches import BranchEvaluator
from acestep_core.conditioning import build_contexts
from acestep_core.sampling.denoiser import GuidedDenoiser
from acestep_core.sampling.guidance import cfg

FRAMES = 108  # 5 s


@pytest.fixture(scope="module")
def pipe(tiny_ckpt, lyric_vocab):
    return AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)


@pytest.fixture(scope="module")
def conditions(pipe):
    return pipe.encode_prompt("jazz, piano"), pipe.encode_lyrics("[verse]\nla la la")


def _rows(transformer, monkeypatch) -> list[int]:
    rows: list[int] = []
    decode = transformer.decode
    monkeypatch.setattr(transformer, "decode", lambda x, *a, **k: rows.append(x.shape[0]) or decode(x, *a, **k))
    return rows


def _sample(pipe, conditions, interval: int, batch: bool = False, **kw):
    return pipe.sample(*conditions, Text2Music(FRAMES), SamplerSettings(infer_step=10, **kw), manual_seeds=[11],
                       policy=SamplingPolicy(batch_guidance=batch, guidance_cache_interval=interval)).latents


def test_interval_one_is_the_parity_path(pipe, conditions):
    ref = pipe.sample(*conditions, Text2Music(FRAMES), SamplerSettings(infer_step=10), manual_seeds=[11]).latents
    assert torch.equal(_sample(pipe, conditions, 1), ref)


@pytest.mark.parametrize("batch", [False, True])
def test_unconditional_passes_run_on_every_kth_guided_step(pipe, conditions, monkeypatch, batch):
    rows = _rows(pipe.transformer, monkeypatch)
    ref = _sample(pipe, conditions, 1)
    rows.clear()
    out = _sample(pipe, conditions, 2, batch)  # 10 steps, interval 0.5: guided steps 2..6
    if batch:
        assert rows == [1, 1, 2, 1, 2, 1, 2, 1, 1, 1]
    else:
        assert rows.count(1) == 10 + 3  # every conditional pass + the full guided steps 2, 4, 6
    assert torch.isfinite(out).all() and not torch.equal(out, ref)  # an approximation: another song


def test_cached_step_reuses_the_last_guidance_difference(pipe, conditions):
    """Step 2 of a cached run equals CFG with v_u = v_c(step 2) − (v_c − v_u)(step 1), computed separately."""
    prompt, lyrics = conditions
    settings = SamplerSettings(infer_step=4, cfg_type="cfg", guidance_interval=1.0, use_erg_diffusion=False)
    tr = pipe.transformer
    contexts = build_contexts(tr, prompt, lyrics, batch_size=1, use_erg_tag=True, use_erg_lyric=True)
    gen = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(2, 1, 8, 16, FRAMES, generator=gen)
    t0, t1 = torch.tensor(900.0), torch.tensor(600.0)
    branches = BranchEvaluator(tr, contexts, frames=FRAMES, batch_size=1, erg_diffusion=False)
    cached = GuidedDenoiser(branches, settings, 4, cache_interval=2)
    cached(x0, t0, 0)
    got = cached(x1, t1, 1)
    plain = BranchEvaluator(tr, contexts, frames=FRAMES, batch_size=1, erg_diffusion=False)
    v_c0, v_u0 = plain(x0, t0, ("cond", "null"))
    delta = v_c0 - v_u0
    (v_c1,) = plain(x1, t1, ("cond",))
    assert torch.allclose(got, cfg(v_c1, v_c1 - delta, settings.guidance_scale), rtol=0, atol=1e-6)
    # ... and it differs from the exact step, which runs the unconditional pass again
    assert not torch.allclose(got, cfg(v_c1, plain(x1, t1, ("null",))[0], settings.guidance_scale), atol=1e-4)


def test_double_condition_caches_both_differences(pipe, conditions, monkeypatch):
    rows = _rows(pipe.transformer, monkeypatch)
    out = _sample(pipe, conditions, 3, guidance_scale_text=5.0, guidance_scale_lyric=2.0)
    assert rows.count(1) == 10 + 2 * 2  # guided steps 2 and 5 run the text-only and unconditional passes
    assert torch.isfinite(out).all()


def test_bad_interval_is_refused():
    with pytest.raises(ValueError, match="guidance_cache_interval"):
        SamplingPolicy(guidance_cache_interval=0)
