"""End-to-end parity: every public golden case through the one-call API, and through the stages.

The one-call API runs exactly as ../shared/golden/check_api.py runs the kept-back cases. The stage
graph (encode_prompt → encode_lyrics → encode_audio → sample → decode_latents) is what the ComfyUI
nodes call, so it must give the same numbers.
"""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from acestep_core import (AceStepPipeline, Audio2Audio, Extend, FlowEdit, Repaint, Retake, SamplerSettings,
                          Text2Music)
from acestep_core.audio.geometry import frames_for_duration
from golden_utils import GOLDEN, assert_close_rel

CASES = [c["id"] for c in json.loads((GOLDEN / "index.json").read_text())["e2e"]]
PATH_KEYS = ("src_audio_path", "ref_audio_input", "lora_name_or_path")


@pytest.fixture(scope="module")
def pipe(tiny_ckpt, lyric_vocab):
    return AceStepPipeline.from_pretrained(tiny_ckpt, dtype="float32", device="cpu", lyric_vocab=lyric_vocab)


def _case(golden_index, cid):
    case = next(c for c in golden_index["e2e"] if c["id"] == cid)
    params = json.loads((GOLDEN / case["files"]["params"]).read_text())
    call = dict(params["call"])
    for k in PATH_KEYS:
        v = call.get(k)
        if isinstance(v, str) and v not in ("", "none") and (GOLDEN / v).exists():
            call[k] = str(GOLDEN / v)
    call.pop("debug", None)
    return case, params, call, load_file(str(GOLDEN / case["files"]["outputs"]))


@pytest.mark.parametrize("cid", CASES)
def test_one_call_api_matches_upstream(pipe, golden_index, cid, tmp_path):
    case, params, call, golden = _case(golden_index, cid)
    out = pipe(**call, save_path=str(tmp_path))
    tol = case["per_tensor_tol"]
    assert_close_rel(out.latents, golden["target_latents"], float(tol["target_latents"]), "latents")
    assert out.sample_rate == case["sample_rate"] == 48000
    assert_close_rel(out.waveforms, golden["waveform"], float(tol["waveform"]), "waveform")
    # The parameter record equals upstream's, less the keys it leaves out (timings, paths).
    expected = params["upstream_returned_input_params"]
    assert {k: out.params[k] for k in expected} == expected
    # One audio file and one input_params.json per batch item, next to each other.
    assert len(out.paths) == out.waveforms.shape[0]
    for p in out.paths:
        assert p.endswith(".wav")
        record = json.loads(open(p[:-4] + "_input_params.json", encoding="utf-8").read())
        assert record["audio_path"] == p and record["actual_seeds"] == out.params["actual_seeds"]


def _stage_task(pipe, call):
    """The task object the nodes would build for an upstream call."""
    task = call["task"]
    if call.get("audio2audio_enable") and call.get("ref_audio_input"):
        return Audio2Audio(pipe.encode_audio(call["ref_audio_input"]), call["ref_audio_strength"])
    if task == "text2music":
        return Text2Music(frames_for_duration(call["audio_duration"]))
    if task == "retake":
        return Retake(frames_for_duration(call["audio_duration"]), call["retake_variance"])
    src = pipe.encode_audio(call["src_audio_path"])
    if task == "repaint":
        return Repaint(src, call["repaint_start"], call["repaint_end"], call["retake_variance"])
    if task == "extend":
        return Extend(src, call["repaint_start"], call["repaint_end"], call["retake_variance"])
    return FlowEdit(src, pipe.encode_prompt(call["edit_target_prompt"], erg=False),
                    pipe.encode_lyrics(call["edit_target_lyrics"] if call["edit_target_lyrics"] is not None
                                       else call["lyrics"]),
                    call["edit_n_min"], call["edit_n_max"], call["edit_n_avg"])


@pytest.mark.parametrize("cid", ["t2m_pingpong_cfg", "retake_euler", "repaint_euler_apg", "extend_right",
                                 "edit_remix", "audio2audio_euler_s05", "lora_w1"])
def test_stage_graph_equals_one_call_api(pipe, golden_index, cid):
    case, params, call, golden = _case(golden_index, cid)
    from acestep_core.lora import load_lora

    settings = SamplerSettings(**{k: call[k] for k in (
        "infer_step", "guidance_scale", "scheduler_type", "cfg_type", "omega_scale", "guidance_interval",
        "guidance_interval_decay", "min_guidance_scale", "use_erg_tag", "use_erg_lyric", "use_erg_diffusion",
        "guidance_scale_text", "guidance_scale_lyric")})
    loras = [] if call["lora_name_or_path"] == "none" else [(load_lora(call["lora_name_or_path"]), call["lora_weight"])]
    result = pipe.sample(pipe.encode_prompt(call["prompt"]), pipe.encode_lyrics(call["lyrics"]),
                         _stage_task(pipe, call), settings, batch_size=call["batch_size"],
                         manual_seeds=call["manual_seeds"], retake_seeds=call["retake_seeds"], loras=loras)
    assert result.actual_seeds == params["upstream_returned_input_params"]["actual_seeds"]
    tol = case["per_tensor_tol"]
    assert_close_rel(result.latents, golden["target_latents"], float(tol["target_latents"]), "latents")
    wave = pipe.decode_latents(result.latents, 48000)
    assert_close_rel(wave, golden["waveform"], float(tol["waveform"]), "waveform")


def test_noise_draws_are_bit_exact(pipe, golden_index):
    """The first draws of a retake equal upstream's recorded noise tensors exactly."""
    from acestep_core.sampling.noise import make_generators, randn_tensor

    _, params, call, golden = _case(golden_index, "retake_euler")
    gens, _ = make_generators(1, call["manual_seeds"])
    rgens, _ = make_generators(1, call["retake_seeds"])
    shape = tuple(params["noise_calls"][0]["shape"])
    assert torch.equal(randn_tensor(shape, gens), golden["noise_0_main"])
    assert torch.equal(randn_tensor(shape, rgens), golden["noise_1_retake"])
