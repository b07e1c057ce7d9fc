"""The pipeline's shape: components in (ready-made or Lazy builders), policy per call, views share networks."""
from __future__ import annotations

import pytest
import torch

from acestep_core import AceStepPipeline, Lazy, SamplerSettings, SamplingPolicy, Text2Music

FRAMES = 54
BASE = dict(prompt="pop, rock", lyrics="[verse]\nhello", audio_duration=2.0, infer_step=4, manual_seeds=[5],
            write_files=False)


@pytest.fixture(scope="module")
def pipe(tiny_ckpt, lyric_vocab):
    return AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)


def test_from_pretrained_builds_nothing_until_a_stage_needs_it(tiny_ckpt, lyric_vocab):
    fresh = AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)
    assert fresh.loaded_parts() == set()
    fresh.encode_lyrics("[verse]\nla la")
    assert fresh.loaded_parts() == {"lyrics"}
    fresh.encode_prompt("jazz")
    assert fresh.loaded_parts() == {"lyrics", "text"}
    fresh.unload("text")
    assert fresh.loaded_parts() == {"lyrics"}


def test_a_view_from_the_components_shares_the_networks_and_the_numbers(pipe):
    view = AceStepPipeline(**pipe.components, dtype=pipe.dtype, device="cpu")
    assert view.transformer is pipe.transformer and view.codec is pipe.codec
    assert torch.equal(view(**BASE).waveforms, pipe(**BASE).waveforms)


def test_ready_made_components_are_used_as_given(pipe):
    built = []

    def build():
        built.append(1)
        return pipe.transformer

    own = AceStepPipeline(pipe.text_encoder, Lazy(build), pipe.codec, pipe.lyric_tokenizer)
    assert own.dtype == torch.float32 and not built  # a builder runs on first use only
    assert torch.equal(own(**BASE).latents, pipe(**BASE).latents) and built == [1]
    own.unload()  # a ready-made component stays; the Lazy one is dropped and rebuilt on demand
    assert own.loaded_parts() == {"text", "dcae", "lyrics"}
    with pytest.raises(ValueError, match="without its 'transformer'"):
        AceStepPipeline(text_encoder=pipe.text_encoder).transformer


def test_policy_is_per_call_and_never_sticks(pipe):
    conditions = pipe.encode_prompt("jazz"), pipe.encode_lyrics("[verse]\nla la la")
    settings = SamplerSettings(infer_step=6)

    def run(policy=None):
        return pipe.sample(*conditions, Text2Music(FRAMES), settings, manual_seeds=[3], policy=policy).latents

    ref = run()
    cached = run(SamplingPolicy(guidance_cache_interval=2))
    assert not torch.equal(cached, ref)  # step caching changes the song ...
    assert torch.equal(run(), ref)  # ... for that call only
    out = pipe(**BASE, policy=SamplingPolicy(guidance_cache_interval=2))
    assert out.params["guidance_cache_interval"] == 2 and "guidance_cache_interval" not in pipe(**BASE).params
