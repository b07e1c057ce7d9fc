"""A graph of this pack's nodes gives the same audio as the library API and the original (golden
fixtures), for text2music, retake, repaint, extend, flow-edit, audio2audio and a LoRA.

Each golden case's original `__call__` keywords are turned into a node graph (LoadAudio for the
source audio, PreviewAudio at the end), which runs through ComfyUI's own executor. The decoded
AUDIO and the sampler's LATENT are compared with the golden fixture and with the library's one-call
API run on the same settings, within the golden per-tensor tolerances.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.append(str(Path(__file__).parent))
import acestep_node_graphs as graphs  # noqa: E402

from golden_utils import GOLDEN, assert_close_rel, extract_vocab  # noqa: E402

CASES = [c["id"] for c in json.loads((GOLDEN / "index.json").read_text())["e2e"]]
PATH_KEYS = ("src_audio_path", "ref_audio_input", "lora_name_or_path")


def _case(case_id: str):
    index = json.loads((GOLDEN / "index.json").read_text())
    case = next(c for c in index["e2e"] if c["id"] == case_id)
    params = json.loads((GOLDEN / case["files"]["params"]).read_text())
    return case, params, load_file(str(GOLDEN / case["files"]["outputs"]))


@pytest.fixture(scope="module")
def library(tiny_ckpt, core):
    return core().AceStepPipeline.from_pretrained(str(tiny_ckpt), dtype="float32", device="cpu",
                                           lyric_vocab=str(extract_vocab()))


def _library_call(pipe, call: dict):
    call = dict(call)
    for k in PATH_KEYS:
        v = call.get(k)
        if isinstance(v, str) and v not in ("", "none") and (GOLDEN / v).exists():
            call[k] = str(GOLDEN / v)
    call.pop("debug", None)
    call.pop("save_path", None)
    return pipe(**call, write_files=False)


def _sampler_id(prompt: dict) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] in ("AceStepV1Sampler", "AceStepV1FlowEditSampler"))


@pytest.mark.parametrize("case_id", CASES)
def test_graph_matches_library_and_original(case_id, runner, library):
    case, params, golden = _case(case_id)
    call = params["call"]
    prompt, decode_id = graphs.golden_case_graph(call)
    res = runner.run(prompt)
    audio = res.output(decode_id)
    latent = res.output(_sampler_id(prompt))

    assert audio["sample_rate"] == case["sample_rate"] == 48000
    assert isinstance(audio["sample_rate"], int)
    assert audio["waveform"].dtype == torch.float32 and audio["waveform"].device.type == "cpu"
    assert latent["type"] == "audio" and latent["samples"].dtype == torch.float32

    tol = case["per_tensor_tol"]
    assert_close_rel(latent["samples"], golden["target_latents"], tol["target_latents"], f"{case_id} latents vs original")
    assert_close_rel(audio["waveform"], golden["waveform"], tol["waveform"], f"{case_id} audio vs original")

    out = _library_call(library, call)
    assert_close_rel(latent["samples"], out.latents, tol["target_latents"], f"{case_id} latents vs library")
    assert_close_rel(audio["waveform"], out.waveforms, tol["waveform"], f"{case_id} audio vs library")
    # The preview written by ComfyUI's PreviewAudio is what a user hears.
    previews = [d for d in res.events("executed") if d.get("output") and "audio" in d["output"]]
    assert previews and previews[0]["output"]["audio"][0]["filename"].endswith(".flac")
