"""Bad input that used to crash the server or be silently ignored, through the nodes: lyrics longer than
the lyric encoder's limit, and audio2audio asked for without a reference song. Both must be a node
error that names the problem and the fix, and leave ComfyUI running."""
from __future__ import annotations

import copy
import importlib
import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).parent))
import acestep_node_graphs as graphs  # noqa: E402

LINE = "la la la, we sing tonight"  # 17 lyric tokens with its closing [SPACE]
TOO_LONG = "\n".join([LINE] * 250)  # 1 + 250 * 17 = 4251 tokens: over the limit of 4096
FITS = "\n".join([LINE] * 240)  # 4081 tokens


def run(node_classes, node_id: str, **kw) -> tuple:
    return node_classes[node_id].execute(**kw).args


def _by_type(prompt: dict, class_type: str) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == class_type)


def _error_type(pack) -> type:
    """The pack's AceStepInputError, the ValueError its nodes raise for bad input (ComfyUI shows it)."""
    return importlib.import_module(".nodes.convert", pack.__name__).AceStepInputError


def test_lyrics_over_the_limit_are_refused_by_the_node(node_classes, loaded_model, core, pack):
    limit = core("conditioning").MAX_LYRIC_TOKENS
    assert limit == 4096 and core().MAX_LYRIC_TOKENS == limit
    encode = node_classes["AceStepV1LyricsEncode"]
    with pytest.raises(_error_type(pack), match=rf"^lyrics: the lyrics are 4251 tokens long, more than .* {limit}"):
        encode.execute(model=loaded_model, lyrics=TOO_LONG, language="auto")
    with pytest.raises(ValueError, match="4251 tokens"):  # a forced language takes the same check
        encode.execute(model=loaded_model, lyrics=TOO_LONG, language="en")
    tokens = run(node_classes, "AceStepV1LyricsEncode", model=loaded_model, lyrics=FITS, language="auto")[0].tokens
    assert tokens.ids.shape == (1, 4081)


def test_audio2audio_without_a_reference_is_refused_by_the_sampler(node_classes, loaded_model):
    tags = run(node_classes, "AceStepV1TextEncode", model=loaded_model, tags="pop")[0]
    lyrics = run(node_classes, "AceStepV1LyricsEncode", model=loaded_model, lyrics="la la", language="auto")[0]
    noise = run(node_classes, "AceStepV1SeededNoise", seed=1)[0]
    ours = run(node_classes, "AceStepV1EmptyLatent", seconds=1.0, batch_size=1)[0]
    native = run(node_classes, "EmptyAceStepLatentAudio", seconds=1.0, batch_size=1)[0]  # ComfyUI's own
    for empty in (ours, native):
        with pytest.raises(ValueError, match="audio2audio needs the reference song's latent.*set audio2audio_strength "
                                             "to 0 for text2music"):
            node_classes["AceStepV1Sampler"].execute(model=loaded_model, tags=tags, lyrics=lyrics, noise=noise,
                                                     latent=empty, steps=2, guidance_scale=15.0,
                                                     audio2audio_strength=0.5)


def test_both_errors_reach_comfyui_as_node_errors(fresh_runner):
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    long_lyrics = copy.deepcopy(prompt)
    long_lyrics[_by_type(prompt, "AceStepV1LyricsEncode")]["inputs"]["lyrics"] = TOO_LONG
    res = fresh_runner.run(long_lyrics, expect_ok=False)
    assert res.error is not None and res.error["node_type"] == "AceStepV1LyricsEncode"
    assert "4251 tokens long" in res.error["exception_message"] and "4096" in res.error["exception_message"]
    no_reference = copy.deepcopy(prompt)
    no_reference[_by_type(prompt, "AceStepV1Sampler")]["inputs"]["audio2audio_strength"] = 0.5
    res = fresh_runner.run(no_reference, expect_ok=False)
    assert res.error is not None and res.error["node_type"] == "AceStepV1Sampler"
    assert "audio2audio needs the reference song's latent" in res.error["exception_message"]
    assert fresh_runner.run(prompt).error is None  # the server is fine afterwards
