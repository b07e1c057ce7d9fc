"""Each node executed directly inside ComfyUI's environment with the tiny checkpoint: outputs,
data contracts and the errors bad input gets."""
from __future__ import annotations

import json

import pytest
import torch

import comfy.model_management as mm

from golden_utils import GOLDEN


def run(node_classes, node_id, **kw):
    return node_classes[node_id].execute(**kw).args


def err(node_classes, node_id, match, **kw):
    with pytest.raises(ValueError, match=match):
        node_classes[node_id].execute(**kw)


@pytest.fixture(scope="module")
def tags(node_classes, loaded_model):
    return run(node_classes, "AceStepV1TextEncode", model=loaded_model, tags="pop, rock, 120 bpm")[0]


@pytest.fixture(scope="module")
def lyrics(node_classes, loaded_model):
    return run(node_classes, "AceStepV1LyricsEncode", model=loaded_model, lyrics="[verse]\nHello world\n在夜空下唱歌",
               language="auto")[0]


@pytest.fixture(scope="module")
def song_latent(node_classes, loaded_model):
    import soundfile as sf

    data, sr = sf.read(str(GOLDEN / "inputs" / "src_sines_44k.wav"), dtype="float32", always_2d=True)
    audio = {"waveform": torch.from_numpy(data.T.copy())[None], "sample_rate": sr}
    return run(node_classes, "AceStepV1AudioToLatent", model=loaded_model, audio=audio)[0]


# ------------------------------------------------------------------------------------------ loaders

def test_model_loader_output(loaded_model):
    assert loaded_model.pipe.dtype == torch.float32
    assert set(loaded_model.patchers) == {"text", "transformer", "dcae"}
    for p in loaded_model.patchers.values():
        assert p.load_device == mm.get_torch_device()  # the CPU here (--cpu)


def test_model_loader_missing_folder_is_a_validation_error(node_classes):
    cls = node_classes["AceStepV1ModelLoader"]
    msg = cls.validate_inputs(model_name="no-such-model")
    assert isinstance(msg, str) and "not found" in msg and "models" in msg and "ACE-Step-v1-3.5B" in msg
    assert cls.validate_inputs(model_name="ACE-Step-v1-3.5B") is True
    with pytest.raises(ValueError, match="not found"):
        cls.execute(model_name="no-such-model", dtype="float32", offload="comfyui")


def test_model_loader_rejects_an_incomplete_folder(node_classes, comfy_home):
    broken = comfy_home / "models" / "acestep" / "broken-model"
    (broken / "ace_step_transformer").mkdir(parents=True, exist_ok=True)
    msg = node_classes["AceStepV1ModelLoader"].validate_inputs(model_name="broken-model")
    assert isinstance(msg, str) and "music_dcae_f8c8" in msg and "broken-model" in msg


def test_lora_loader_chains_without_touching_the_model(node_classes, loaded_model):
    m1 = run(node_classes, "AceStepV1LoraLoader", model=loaded_model, lora_name="tiny_lora", strength=1.0)[0]
    m2 = run(node_classes, "AceStepV1LoraLoader", model=m1, lora_name="tiny_lora", strength=-0.5)[0]
    assert loaded_model.loras == ()
    assert [e.weight for e in m1.loras] == [1.0]
    assert [e.weight for e in m2.loras] == [1.0, -0.5]
    assert m2.pipe is loaded_model.pipe  # weights shared, never copied or patched
    assert run(node_classes, "AceStepV1LoraLoader", model=loaded_model, lora_name="tiny_lora", strength=0.0)[0] is loaded_model
    msg = node_classes["AceStepV1LoraLoader"].validate_inputs(lora_name="missing_lora")
    assert isinstance(msg, str) and "not found" in msg


# ------------------------------------------------------------------------------------------ conditioning

def test_text_encode_gives_cpu_states_with_erg(tags, loaded_model):
    cond = tags.cond
    assert cond.text.hidden_states.device.type == "cpu"
    assert cond.text_erg is not None
    ref = loaded_model.pipe.encode_prompt("pop, rock, 120 bpm")
    assert torch.equal(cond.text.hidden_states, ref.text.hidden_states)
    assert torch.equal(cond.text_erg.hidden_states, ref.text_erg.hidden_states)


def test_lyrics_encode_detects_languages_per_line(node_classes, loaded_model, lyrics):
    assert lyrics.tokens.ids[0, 0].item() == 261
    report = run(node_classes, "AceStepV1LyricsEncode", model=loaded_model, lyrics="[verse]\nHello world\n在夜空下唱歌",
                 language="auto")[1]
    lines = report.splitlines()
    assert lines[0].startswith("en") and "structure" in lines[0]
    assert lines[2].strip().startswith("zh")
    forced = run(node_classes, "AceStepV1LyricsEncode", model=loaded_model, lyrics="Hello world", language="de")
    assert "forced" in forced[1]
    assert forced[0].tokens.ids[0, 1].item() == 260  # [de] language tag
    auto = run(node_classes, "AceStepV1LyricsEncode", model=loaded_model, lyrics="Hello world", language="auto")[0]
    assert not torch.equal(auto.tokens.ids, forced[0].tokens.ids)


def test_lyrics_tokens_match_the_golden_tokenizer(node_classes, loaded_model):
    cases = json.loads((GOLDEN / "components" / "lyric_tokenizer.json").read_text())["cases"]
    checked = 0
    for name, item in cases.items():
        if item["lyrics"] == "":
            continue
        out = run(node_classes, "AceStepV1LyricsEncode", model=loaded_model, lyrics=item["lyrics"], language="auto")[0]
        assert out.tokens.ids[0].tolist() == item["token_ids"], name
        checked += 1
    assert checked >= 10


def test_empty_lyrics_are_instrumental(node_classes, loaded_model):
    out, report = run(node_classes, "AceStepV1LyricsEncode", model=loaded_model, lyrics="", language="auto")
    assert out.tokens.ids.tolist() == [[0]] and out.tokens.mask.tolist() == [[0]]
    assert "instrumental" in report


def test_edit_target_defaults_to_the_source(node_classes, tags, lyrics):
    t = run(node_classes, "AceStepV1EditTarget")[0]
    assert t.tags is None and t.lyrics is None
    t = run(node_classes, "AceStepV1EditTarget", target_tags=tags)[0]
    assert t.tags is tags and t.lyrics is None
    err(node_classes, "AceStepV1EditTarget", "AceStepV1TextEncode", target_tags="jazz")


# ------------------------------------------------------------------------------------------ latents

def test_empty_latent_equals_comfyuis_native_one(node_classes):
    ours = run(node_classes, "AceStepV1EmptyLatent", seconds=10.0, batch_size=2)[0]
    native = node_classes["EmptyAceStepLatentAudio"].execute(seconds=10.0, batch_size=2).args[0]
    assert ours["samples"].shape == native["samples"].shape == (2, 8, 16, 107)
    assert torch.equal(ours["samples"], native["samples"])
    assert ours["type"] == native["type"] == "audio"
    assert ours["samples"].device == mm.intermediate_device()


def test_audio_to_latent_any_rate_and_mono(node_classes, loaded_model, song_latent):
    import soundfile as sf

    assert song_latent["samples"].shape == (1, 8, 16, 33)
    assert song_latent["acestep_v1"]["source_seconds"] == pytest.approx(3.0)
    ref = loaded_model.pipe.encode_audio(str(GOLDEN / "inputs" / "src_sines_44k.wav"))
    assert torch.equal(song_latent["samples"], ref.float())
    # 48 kHz stereo, and a mono file: encoded as the original does (resample; duplicate the channel).
    data, sr = sf.read(str(GOLDEN / "inputs" / "src_sines_48k.wav"), dtype="float32", always_2d=True)
    wave = torch.from_numpy(data.T.copy())
    lat48 = run(node_classes, "AceStepV1AudioToLatent", model=loaded_model, audio={"waveform": wave[None], "sample_rate": sr})[0]
    assert torch.equal(lat48["samples"], loaded_model.pipe.encode_audio(wave, sr).float())
    mono = wave[:1]
    lat_mono = run(node_classes, "AceStepV1AudioToLatent", model=loaded_model, audio={"waveform": mono[None], "sample_rate": sr})[0]
    assert torch.equal(lat_mono["samples"], loaded_model.pipe.encode_audio(mono.repeat(2, 1), sr).float())
    # a batch of two songs gives a latent batch of two
    two = run(node_classes, "AceStepV1AudioToLatent", model=loaded_model,
              audio={"waveform": torch.stack([wave, wave.flip(0)]), "sample_rate": sr})[0]
    assert two["samples"].shape[0] == 2 and torch.equal(two["samples"][:1], lat48["samples"])


def test_audio_to_latent_rejects_bad_audio(node_classes, loaded_model):
    err(node_classes, "AceStepV1AudioToLatent", "channels", model=loaded_model,
        audio={"waveform": torch.zeros(1, 6, 4096), "sample_rate": 44100})
    err(node_classes, "AceStepV1AudioToLatent", "no samples", model=loaded_model,
        audio={"waveform": torch.zeros(1, 2, 0), "sample_rate": 44100})
    err(node_classes, "AceStepV1AudioToLatent", "AUDIO", model=loaded_model, audio=torch.zeros(2, 100))


def test_latent_to_audio_rates_and_modes(node_classes, loaded_model, song_latent):
    a48 = run(node_classes, "AceStepV1LatentToAudio", model=loaded_model, latent=song_latent, sample_rate="48000", mode="plain")[0]
    a44 = run(node_classes, "AceStepV1LatentToAudio", model=loaded_model, latent=song_latent, sample_rate="44100", mode="plain")[0]
    assert a48["sample_rate"] == 48000 and a44["sample_rate"] == 44100
    assert a44["waveform"].shape == (1, 2, 33 * 4096)
    assert a48["waveform"].shape == (1, 2, -(-33 * 4096 * 160 // 147))
    ref = loaded_model.pipe.decode_latents(song_latent["samples"], 48000)
    assert torch.equal(a48["waveform"], ref)
    chunked = run(node_classes, "AceStepV1LatentToAudio", model=loaded_model, latent=song_latent, sample_rate="48000", mode="chunked")[0]
    assert chunked["waveform"].shape == a48["waveform"].shape
    # Inputs are never modified.
    before = song_latent["samples"].clone()
    run(node_classes, "AceStepV1LatentToAudio", model=loaded_model, latent=song_latent, sample_rate="44100", mode="plain")
    assert torch.equal(song_latent["samples"], before)


@pytest.mark.parametrize("samples, what", [
    (torch.zeros(1, 4, 64, 64), "SD1.x/SDXL image latent"),
    (torch.zeros(1, 64, 216), "Stable Audio or ACE-Step 1.5"),
    (torch.zeros(1, 16, 32, 32), "SD3/Flux"),
    (torch.zeros(1, 8, 16, 0), "empty"),
])
def test_latents_from_other_models_are_refused(node_classes, loaded_model, samples, what):
    err(node_classes, "AceStepV1LatentToAudio", what, model=loaded_model, latent={"samples": samples},
        sample_rate="48000", mode="plain")


def test_wrong_type_into_a_latent_input(node_classes, loaded_model):
    err(node_classes, "AceStepV1LatentToAudio", "expected a LATENT", model=loaded_model,
        latent={"waveform": torch.zeros(1, 2, 10), "sample_rate": 44100}, sample_rate="48000", mode="plain")


# ------------------------------------------------------------------------------------------ noise

def test_seeded_noise_parses_per_item_seeds(node_classes):
    assert run(node_classes, "AceStepV1SeededNoise", seed=7)[0].seeds == 7
    assert run(node_classes, "AceStepV1SeededNoise", seed=7, seeds="1, 2,3")[0].seeds == (1, 2, 3)
    assert run(node_classes, "AceStepV1SeededNoise", seed=7, seeds=" 42 ")[0].seeds == 42
    cls = node_classes["AceStepV1SeededNoise"]
    for bad in ("1,2,", "a, b", "-5", "1.5"):
        msg = cls.validate_inputs(seeds=bad)
        assert isinstance(msg, str) and "seed" in msg, bad


def test_noise_speaks_comfyuis_noise_protocol(node_classes, core):
    make_generators, randn_tensor = core("sampling.noise").make_generators, core("sampling.noise").randn_tensor

    noise = run(node_classes, "AceStepV1SeededNoise", seed=0, seeds="11, 22")[0]
    latent = {"samples": torch.zeros(2, 8, 16, 5)}
    gens, _ = make_generators(2, [11, 22], "cpu")
    assert torch.equal(noise.generate_noise(latent), randn_tensor((2, 8, 16, 5), gens))
    assert noise.seed == 11
    var = run(node_classes, "AceStepV1VariationNoise", noise=noise, retake_seed=5, variance=0.0)[0]
    assert torch.equal(var.generate_noise(latent), noise.generate_noise(latent))  # variance 0 = the original noise
    assert var.seeds == noise.seeds and var.retake_seeds == 5


def test_native_noise_nodes(node_classes):
    from nodes import NODE_CLASS_MAPPINGS

    from importlib import import_module

    noise_mod = import_module(type(run(node_classes, "AceStepV1SeededNoise", seed=1)[0]).__module__)
    native = NODE_CLASS_MAPPINGS["RandomNoise"]().get_noise(123)[0]
    assert noise_mod.as_ace_noise(native).seeds == 123
    disabled = NODE_CLASS_MAPPINGS["DisableNoise"]().get_noise()[0]
    with pytest.raises(ValueError, match="DisableNoise"):
        noise_mod.as_ace_noise(disabled)


# ------------------------------------------------------------------------------------------ regions

def test_repaint_region(node_classes, song_latent):
    out = run(node_classes, "AceStepV1RepaintRegion", latent=song_latent, start_seconds=0.5, end_seconds=1.8)[0]
    assert torch.equal(out["samples"], song_latent["samples"])
    mask = out["noise_mask"]
    assert mask.shape == (1, 1, 16, 33)
    s, e = int(0.5 * 44100 / 4096), int(1.8 * 44100 / 4096)
    assert mask[..., s:e].eq(1).all() and mask[..., :s].eq(0).all() and mask[..., e:].eq(0).all()
    assert out["acestep_v1"]["region"]["task"] == "repaint"
    assert "noise_mask" not in song_latent and "region" not in song_latent["acestep_v1"]  # input untouched


def test_repaint_region_errors(node_classes, song_latent):
    err(node_classes, "AceStepV1RepaintRegion", "past the end of the latent", latent=song_latent,
        start_seconds=1.0, end_seconds=10.0)
    err(node_classes, "AceStepV1RepaintRegion", "past the end", latent=song_latent, start_seconds=5.0, end_seconds=6.0)
    msg = node_classes["AceStepV1RepaintRegion"].validate_inputs(start_seconds=2.0, end_seconds=1.0)
    assert isinstance(msg, str) and "greater" in msg
    region = run(node_classes, "AceStepV1RepaintRegion", latent=song_latent, start_seconds=0.5, end_seconds=1.0)[0]
    err(node_classes, "AceStepV1ExtendRegion", "already has a repaint region", latent=region,
        left_seconds=0.0, right_seconds=1.0)


def test_extend_region(node_classes, song_latent):
    out = run(node_classes, "AceStepV1ExtendRegion", latent=song_latent, left_seconds=0.0, right_seconds=1.0)[0]
    # The original: end = 3.0 s source + 1.0 s → int(4.0·44100/4096) = 43 frames, 10 new on the right.
    assert out["samples"].shape == (1, 8, 16, 43)
    assert torch.equal(out["samples"][..., :33], song_latent["samples"])
    assert out["samples"][..., 33:].eq(0).all()
    assert out["noise_mask"][..., 33:].eq(1).all() and out["noise_mask"][..., :33].eq(0).all()
    left = run(node_classes, "AceStepV1ExtendRegion", latent=song_latent, left_seconds=1.0, right_seconds=0.0)[0]
    assert left["samples"].shape[-1] == 33 + int(1.0 * 44100 / 4096)
    assert left["noise_mask"][..., :10].eq(1).all()


def test_extend_region_errors(node_classes, song_latent):
    err(node_classes, "AceStepV1ExtendRegion", "longer than the source", latent=song_latent,
        left_seconds=0.0, right_seconds=10.0)
    msg = node_classes["AceStepV1ExtendRegion"].validate_inputs(left_seconds=0.0, right_seconds=0.0)
    assert isinstance(msg, str) and "nothing" in msg


# ------------------------------------------------------------------------------------------ sampler input checks

def _sample(node_classes, model, tags, lyrics, noise, latent, **kw):
    return node_classes["AceStepV1Sampler"].execute(model=model, tags=tags, lyrics=lyrics, noise=noise, latent=latent,
                                                    steps=kw.pop("steps", 2), guidance_scale=15.0, **kw).args[0]


def test_sampler_input_errors(node_classes, loaded_model, tags, lyrics, song_latent):
    noise1 = run(node_classes, "AceStepV1SeededNoise", seed=1)[0]
    noise3 = run(node_classes, "AceStepV1SeededNoise", seed=1, seeds="1, 2, 3")[0]
    var = run(node_classes, "AceStepV1VariationNoise", noise=noise1, retake_seed=2, variance=0.5)[0]
    empty2 = run(node_classes, "AceStepV1EmptyLatent", seconds=1.0, batch_size=2)[0]
    empty1 = run(node_classes, "AceStepV1EmptyLatent", seconds=1.0, batch_size=1)[0]
    region = run(node_classes, "AceStepV1RepaintRegion", latent=song_latent, start_seconds=0.5, end_seconds=1.0)[0]
    cases = [
        ("3 seeds for a latent batch of 2", dict(noise=noise3, latent=empty2)),
        ("retake seeds: connect AceStepV1VariationNoise", dict(noise=noise1, latent=region)),
        ("audio2audio needs the reference", dict(noise=noise1, latent=empty1, audio2audio_strength=0.5)),
        ("disables repaint", dict(noise=var, latent=region, audio2audio_strength=0.5)),
        ("another model", dict(noise=noise1, latent={"samples": torch.zeros(1, 4, 8, 8)})),
        ("noise_mask but no ACE-Step region", dict(noise=noise1, latent={**song_latent, "noise_mask": torch.ones(1, 1, 16, 33)})),
        ("AceStepV1TextEncode", dict(noise=noise1, latent=empty1, tags="pop")),
        ("DisableNoise", dict(noise=__import__("nodes").NODE_CLASS_MAPPINGS["DisableNoise"]().get_noise()[0], latent=empty1)),
    ]
    for match, kw in cases:
        kw = {"tags": tags, **kw}
        with pytest.raises(ValueError, match=match):
            _sample(node_classes, loaded_model, lyrics=lyrics, **kw)


def test_sampler_rejects_tags_from_another_model(node_classes, loaded_model, lyrics, core):
    PromptConditioning = core().PromptConditioning
    TextEncoding = core("models.text_encoder").TextEncoding

    mod = __import__("importlib").import_module(
        type(run(node_classes, "AceStepV1EditTarget")[0]).__module__)
    wide = TextEncoding(torch.zeros(1, 5, 768), torch.ones(1, 5, dtype=torch.long))
    foreign = mod.Tags(PromptConditioning(wide, wide), "pop")
    noise = run(node_classes, "AceStepV1SeededNoise", seed=1)[0]
    latent = run(node_classes, "AceStepV1EmptyLatent", seconds=1.0, batch_size=1)[0]
    with pytest.raises(ValueError, match="different ACE-Step model"):
        _sample(node_classes, loaded_model, foreign, lyrics, noise, latent)


def test_sampler_batch_from_seeds_matches_single_runs(node_classes, loaded_model, tags, lyrics):
    """Per-item seeds as the original: item i of a '5, 9' batch is the song seed i gives alone.

    With omega_scale 0: the original's euler step couples a batch through one global mean (spec §7.5).
    """
    opts = node_classes["AceStepV1SamplerOptions"].execute(
        scheduler="euler", cfg_type="apg", omega_scale=0.0, guidance_interval=0.5, guidance_interval_decay=0.0,
        min_guidance_scale=3.0, guidance_scale_text=0.0, guidance_scale_lyric=0.0, use_erg_tag=True,
        use_erg_lyric=True, use_erg_diffusion=True, oss_steps="").args[0]
    latent = run(node_classes, "AceStepV1EmptyLatent", seconds=1.0, batch_size=1)[0]
    both = _sample(node_classes, loaded_model, tags, lyrics, run(node_classes, "AceStepV1SeededNoise", seed=0, seeds="5, 9")[0],
                   latent, options=opts)
    assert both["samples"].shape[0] == 2
    for i, seed in enumerate((5, 9)):
        one = _sample(node_classes, loaded_model, tags, lyrics, run(node_classes, "AceStepV1SeededNoise", seed=seed)[0],
                      latent, options=opts)
        rel = (both["samples"][i] - one["samples"][0]).abs().max() / one["samples"].pow(2).mean().sqrt()
        assert rel < 1e-4, (seed, float(rel))
    same = _sample(node_classes, loaded_model, tags, lyrics, run(node_classes, "AceStepV1SeededNoise", seed=5)[0],
                   run(node_classes, "AceStepV1EmptyLatent", seconds=1.0, batch_size=2)[0])
    assert torch.equal(same["samples"][0], same["samples"][1])  # one int seed: identical items, as the original


def test_flow_edit_needs_one_song(node_classes, loaded_model, tags, lyrics, song_latent):
    target = run(node_classes, "AceStepV1EditTarget")[0]
    noise = run(node_classes, "AceStepV1SeededNoise", seed=1, seeds="1, 2")[0]
    with pytest.raises(ValueError, match="one song at a time"):
        node_classes["AceStepV1FlowEditSampler"].execute(model=loaded_model, tags=tags, lyrics=lyrics, target=target,
                                                         noise=noise, latent=song_latent, steps=2)
    msg = node_classes["AceStepV1FlowEditSampler"].validate_inputs(n_min=0.8, n_max=0.2)
    assert isinstance(msg, str) and "n_min" in msg


def test_sampler_options(node_classes):
    cls = node_classes["AceStepV1SamplerOptions"]
    base = dict(scheduler="euler", cfg_type="apg", omega_scale=10.0, guidance_interval=0.5, guidance_interval_decay=0.0,
                min_guidance_scale=3.0, guidance_scale_text=0.0, guidance_scale_lyric=0.0, use_erg_tag=True,
                use_erg_lyric=True, use_erg_diffusion=True)
    opts = cls.execute(**base, oss_steps="16, 29, 52").args[0]
    assert opts["oss_steps"] == "16, 29, 52" and opts["scheduler_type"] == "euler"
    assert isinstance(cls.validate_inputs(oss_steps="1, x"), str)
    with pytest.raises(ValueError, match="heun"):
        cls.execute(**{**base, "scheduler": "heun"}, oss_steps="16, 29")


def test_speed_switches_reach_the_sampler(node_classes, loaded_model, tags, lyrics,
                                                                monkeypatch):
    """batch_guidance: one DiT call per guided step, the same song to rounding; guidance caching: fewer passes."""
    cls = node_classes["AceStepV1SamplerOptions"]
    base = dict(scheduler="euler", cfg_type="apg", omega_scale=10.0, guidance_interval=1.0, guidance_interval_decay=0.0,
                min_guidance_scale=3.0, guidance_scale_text=0.0, guidance_scale_lyric=0.0, use_erg_tag=True,
                use_erg_lyric=True, use_erg_diffusion=True, oss_steps="")
    plain_opts = cls.execute(**base).args[0]
    batched_opts = cls.execute(**base, batch_guidance=True).args[0]
    transformer = loaded_model.pipe.transformer
    rows: list[int] = []
    decode = transformer.decode
    monkeypatch.setattr(transformer, "decode", lambda x, *a, **k: rows.append(x.shape[0]) or decode(x, *a, **k))
    noise = run(node_classes, "AceStepV1SeededNoise", seed=7)[0]
    latent = run(node_classes, "AceStepV1EmptyLatent", seconds=2.0, batch_size=1)[0]
    plain = _sample(node_classes, loaded_model, tags, lyrics, noise, latent, steps=3, options=plain_opts)
    assert rows == [1] * 6
    rows.clear()
    batched = _sample(node_classes, loaded_model, tags, lyrics, noise, latent, steps=3, options=batched_opts)
    assert rows == [2] * 3
    rel = (batched["samples"] - plain["samples"]).abs().max() / plain["samples"].pow(2).mean().sqrt()
    assert 0 <= float(rel) < 2e-5
    rows.clear()
    cached_opts = cls.execute(**base, guidance_cache_interval=2).args[0]
    cached = _sample(node_classes, loaded_model, tags, lyrics, noise, latent, steps=3, options=cached_opts)
    assert rows == [1, 1, 1, 1, 1]  # the unconditional pass of step 2 reused the difference of step 1
    assert not torch.equal(cached["samples"], plain["samples"])
    # the switches are per call (SamplingPolicy): the shared model holds none, so nothing can stick to it
    assert not hasattr(loaded_model.pipe, "batch_guidance") and not hasattr(loaded_model.pipe, "guidance_cache_interval")


# ------------------------------------------------------------------------------------------ import

def test_import_params_regenerates_the_settings(node_classes):
    params = json.loads((GOLDEN / "e2e" / "repaint_euler_apg" / "params.json").read_text())
    record = params["upstream_returned_input_params"]
    out = dict(zip([o[0] for o in _outputs(node_classes)],
                   run(node_classes, "AceStepV1ImportParams", params_file="(paste JSON below)", params_json=json.dumps(record))))
    assert out["tags"] == record["prompt"] and out["lyrics"] == record["lyrics"]
    assert out["seeds"] == "42" and out["retake_seeds"] == "99" and out["batch_size"] == 1
    assert out["steps"] == 8 and out["guidance_scale"] == 15.0 and out["task"] == "repaint"
    assert (out["repaint_start"], out["repaint_end"], out["retake_variance"]) == (0.5, 1.8, 0.6)
    assert out["options"]["scheduler_type"] == "euler" and out["options"]["use_erg_lyric"] is True
    assert out["audio2audio_strength"] == 0.0 and "RepaintRegion" in out["summary"]
    assert out["options"]["guidance_cache_interval"] == 1  # the original's records: no step caching
    cached = run(node_classes, "AceStepV1ImportParams", params_file="(paste JSON below)",
                 params_json=json.dumps({**record, "guidance_cache_interval": 3}))
    assert dict(zip([o[0] for o in _outputs(node_classes)], cached))["options"]["guidance_cache_interval"] == 3


def test_import_params_defaults_and_errors(node_classes, comfy_home):
    old = {"actual_seeds": [3, 4], "audio_duration": 30.0, "prompt": "jazz", "lyrics": "", "infer_step": 60,
           "guidance_scale": 15.0, "scheduler_type": "euler", "cfg_type": "apg", "omega_scale": 10.0,
           "guidance_interval": 0.5, "guidance_interval_decay": 0.0, "min_guidance_scale": 3.0,
           "use_erg_tag": True, "use_erg_lyric": True, "use_erg_diffusion": True, "oss_steps": [], "timecosts": {}}
    (comfy_home / "input" / "old_params.json").write_text(json.dumps(old))
    cls = node_classes["AceStepV1ImportParams"]
    assert cls.validate_inputs(params_file="old_params.json") is True
    out = dict(zip([o[0] for o in _outputs(node_classes)], cls.execute(params_file="old_params.json").args))
    assert out["seeds"] == "3, 4" and out["batch_size"] == 2 and out["task"] == "text2music"
    assert out["options"]["guidance_scale_text"] == 0.0 and out["lora_name"] == "none" and out["lora_weight"] == 1.0
    fp1 = cls.fingerprint_inputs(params_file="old_params.json")
    (comfy_home / "input" / "old_params.json").write_text(json.dumps({**old, "actual_seeds": [5]}))
    assert cls.fingerprint_inputs(params_file="old_params.json") != fp1  # an edited file re-runs the node
    for bad, match in (("{not json", "not valid JSON"), ('{"prompt": "x"}', "actual_seeds"),
                       ('{"actual_seeds": [1], "task": "retake"}', "retake_seeds"),
                       ('{"actual_seeds": [1], "prompt": "x", "lyrics": "", "guidance_cache_interval": "2"}',
                        "guidance_cache_interval")):
        assert match in cls.validate_inputs(params_json=bad)
    assert "not found" in cls.validate_inputs(params_file="missing.json")


def _outputs(node_classes):
    info = node_classes["AceStepV1ImportParams"].GET_NODE_INFO_V1()
    return [(n, t) for n, t in zip(info["output_name"], info["output"])]
