"""The opt-in `batch_guidance` switch: one batched DiT call per guided step, the same velocities.

Batching changes only the size of the matrix products, so the latents must agree with the
parity mode to float32 rounding; ERG-diffusion must still scale the unconditional rows alone.
"""
from __future__ import annotations

import pytest
import torch

from acestep_core import AceStepPipeline, Repaint, SamplerSettings, SamplingPolicy, Text2Music

FRAMES = 216  # 10 s
# Rounding only: batched GEMMs of 2–3× the rows. Measured ~1e-6 of the RMS on the tiny checkpoint;
# any wrong row (a misplaced ERG scale, a swapped context) is off by 1e-2 or more.
TOL = 2e-5

SETTINGS = {
    "apg_erg_all": {},
    "cfg_star_no_erg_diffusion": {"cfg_type": "cfg_star", "use_erg_diffusion": False},
    "cfg_heun": {"cfg_type": "cfg", "scheduler_type": "heun"},
    "pingpong_decay": {"scheduler_type": "pingpong", "guidance_interval": 0.8, "guidance_interval_decay": 1.0},
    "double_condition": {"guidance_scale_text": 5.0, "guidance_scale_lyric": 2.0},
}


class _Batched:
    """The same pipeline (the same loaded networks) sampling with batch_guidance on."""

    def __init__(self, pipe: AceStepPipeline):
        self.pipe = pipe

    def sample(self, *args, **kwargs):
        return self.pipe.sample(*args, policy=SamplingPolicy(batch_guidance=True), **kwargs)


@pytest.fixture(scope="module")
def pipes(tiny_ckpt, lyric_vocab):
    plain = AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)
    return plain, _Batched(plain)


@pytest.fixture(scope="module")
def conditions(pipes):
    plain, _ = pipes
    return plain.encode_prompt("pop, rock, 120 bpm"), plain.encode_lyrics("[verse]\nhello world\nsing along")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.pow(2).mean().sqrt()).item()


def _count_decodes(transformer, monkeypatch) -> list[int]:
    rows: list[int] = []
    original = transformer.decode

    def counting(x, *args, **kwargs):
        rows.append(x.shape[0])
        return original(x, *args, **kwargs)

    monkeypatch.setattr(transformer, "decode", counting)
    return rows


@pytest.mark.parametrize("name", SETTINGS)
def test_batched_guidance_equals_separate_passes(pipes, conditions, name):
    plain, batched = pipes
    settings = SamplerSettings(infer_step=8, **SETTINGS[name])
    ref = plain.sample(*conditions, Text2Music(FRAMES), settings, batch_size=2, manual_seeds=[3, 4]).latents
    ours = batched.sample(*conditions, Text2Music(FRAMES), settings, batch_size=2, manual_seeds=[3, 4]).latents
    assert _rel(ours, ref) <= TOL


def test_batched_guidance_in_a_masked_task(pipes, conditions):
    plain, batched = pipes
    src = torch.randn(1, 8, 16, FRAMES, generator=torch.Generator().manual_seed(0))
    task = Repaint(src_latents=src, start=2.0, end=6.0)
    settings = SamplerSettings(infer_step=8)
    ref = plain.sample(*conditions, task, settings, manual_seeds=[5], retake_seeds=[6]).latents
    ours = batched.sample(*conditions, task, settings, manual_seeds=[5], retake_seeds=[6]).latents
    assert _rel(ours, ref) <= TOL


def test_erg_diffusion_scales_only_the_unconditional_rows(pipes, conditions):
    """With ERG-diffusion on and off the batched results differ as much as the plain ones do."""
    plain, batched = pipes
    runs = {}
    for erg in (True, False):
        s = SamplerSettings(infer_step=8, use_erg_diffusion=erg)
        runs[erg] = (plain.sample(*conditions, Text2Music(FRAMES), s, manual_seeds=[1]).latents,
                     batched.sample(*conditions, Text2Music(FRAMES), s, manual_seeds=[1]).latents)
    assert _rel(runs[True][0], runs[False][0]) > 1e-2  # ERG-diffusion changes the song
    assert _rel(runs[True][1], runs[True][0]) <= TOL


@pytest.mark.parametrize("double", [False, True])
def test_one_dit_call_per_guided_step(pipes, conditions, monkeypatch, double):
    plain, batched = pipes
    extra = {"guidance_scale_text": 5.0, "guidance_scale_lyric": 2.0} if double else {}
    settings = SamplerSettings(infer_step=10, guidance_interval=0.5, **extra)  # guided steps 2..6
    rows = _count_decodes(plain.transformer, monkeypatch)
    batched.sample(*conditions, Text2Music(FRAMES), settings, batch_size=2, manual_seeds=[1, 2])
    passes = 3 if double else 2
    assert rows.count(2 * passes) == 5  # one call with every guided row, per guided step
    assert rows.count(2) == 5  # the unguided steps: the conditional pass alone
    rows.clear()
    plain.sample(*conditions, Text2Music(FRAMES), settings, batch_size=2, manual_seeds=[1, 2])
    assert rows == [2] * (5 + 5 * passes)
