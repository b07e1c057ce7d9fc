"""ComfyUI behaviour through ComfyUI's own executor: caching, progress, Cancel, node errors that leave
the server running, and model management (load, unload between jobs, offload)."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

import comfy.model_management as mm

sys.path.append(str(Path(__file__).parent))
import acestep_node_graphs as graphs  # noqa: E402


def _by_type(prompt: dict, class_type: str) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == class_type)


def test_caching_reruns_only_what_changed(fresh_runner):
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    first = fresh_runner.run(prompt)
    assert set(first.executed_nodes()) == set(prompt)
    again = fresh_runner.run(prompt)
    assert again.executed_nodes() == []  # nothing changed: everything comes from the cache
    changed = copy.deepcopy(prompt)
    changed[_by_type(prompt, "AceStepV1SeededNoise")]["inputs"]["seeds"] = "43"
    third = fresh_runner.run(changed)
    ran = {prompt[n]["class_type"] for n in third.executed_nodes()}
    assert ran == {"AceStepV1SeededNoise", "AceStepV1Sampler", "AceStepV1LatentToAudio", "PreviewAudio"}
    a = first.output(_by_type(prompt, "AceStepV1LatentToAudio"))["waveform"]
    b = third.output(_by_type(prompt, "AceStepV1LatentToAudio"))["waveform"]
    assert not torch.equal(a, b)


def test_progress_per_step_and_per_decode_chunk(fresh_runner):
    prompt = graphs.text2music_graph(steps=5, output="PreviewAudio")
    res = fresh_runner.run(prompt)
    sampler = _by_type(prompt, "AceStepV1Sampler")
    decode = _by_type(prompt, "AceStepV1LatentToAudio")
    assert [(v, t) for n, v, t in res.progress if n == sampler] == [(i, 5) for i in range(1, 6)]
    chunks = [(v, t) for n, v, t in res.progress if n == decode]
    assert chunks and chunks[-1][0] == chunks[-1][1] and len(chunks) == chunks[-1][1]


@pytest.mark.parametrize("where, at", [("AceStepV1Sampler", 2), ("AceStepV1LatentToAudio", 1)])
def test_cancel_stops_within_one_step_or_chunk(fresh_runner, where, at):
    prompt = graphs.text2music_graph(steps=6, output="PreviewAudio")
    node = _by_type(prompt, where)
    seen = []

    def press_cancel(node_id, value, total):
        seen.append((node_id, value))
        if node_id == node and value == at:
            mm.interrupt_current_processing(True)

    fresh_runner.on_progress = press_cancel
    res = fresh_runner.run(prompt, expect_ok=False)
    fresh_runner.on_progress = None
    assert res.interrupted and res.error is None
    assert [v for n, v in seen if n == node] == list(range(1, at + 1))  # not one further step/chunk ran
    assert node not in [d["node"] for d in res.events("executed")]
    # The server goes on: the same graph completes afterwards.
    ok = fresh_runner.run(prompt)
    assert ok.error is None and not ok.interrupted


def test_cancel_leaves_no_lora_in_the_shared_model(fresh_runner, core):
    LoraLinear = core("lora").LoraLinear

    call = graphs.text2music_graph(steps=4, output="PreviewAudio")
    loader = _by_type(call, "AceStepV1ModelLoader")
    call["99"] = {"class_type": "AceStepV1LoraLoader",
                  "inputs": {"model": [loader, 0], "lora_name": "tiny_lora", "strength": 1.0}}
    for nid, node in call.items():
        if nid != "99" and node["inputs"].get("model") == [loader, 0]:
            node["inputs"]["model"] = ["99", 0]
    sampler = _by_type(call, "AceStepV1Sampler")

    def press_cancel(node_id, value, total):
        if node_id == sampler and value == 2:
            mm.interrupt_current_processing(True)

    fresh_runner.on_progress = press_cancel
    res = fresh_runner.run(call, expect_ok=False)
    fresh_runner.on_progress = None
    assert res.interrupted
    model = res.output(loader)
    assert not any(isinstance(m, LoraLinear) for m in model.pipe.transformer.modules())


def test_bad_input_is_a_node_error_not_a_crash(fresh_runner):
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    # An image latent (native EmptyLatentImage) into our sampler.
    prompt["50"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    bad = copy.deepcopy(prompt)
    bad[_by_type(prompt, "AceStepV1Sampler")]["inputs"]["latent"] = ["50", 0]
    res = fresh_runner.run(bad, expect_ok=False)
    assert res.error is not None
    assert res.error["node_type"] == "AceStepV1Sampler"
    assert "another model" in res.error["exception_message"] and "[B, 8, 16, T]" in res.error["exception_message"]
    # Mismatched batch: 3 seeds for a batch-2 latent.
    bad = copy.deepcopy(prompt)
    bad[_by_type(prompt, "AceStepV1EmptyLatent")]["inputs"]["batch_size"] = 2
    bad[_by_type(prompt, "AceStepV1SeededNoise")]["inputs"]["seeds"] = "1, 2, 3"
    res = fresh_runner.run(bad, expect_ok=False)
    assert res.error is not None and "3 seeds for a latent batch of 2" in res.error["exception_message"]
    # The server is fine afterwards.
    assert fresh_runner.run(prompt).error is None


def test_validation_errors_name_the_fix(fresh_runner):
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    bad = copy.deepcopy(prompt)
    bad[_by_type(prompt, "AceStepV1ModelLoader")]["inputs"]["model_name"] = "not-downloaded-model"
    ok, error, _outputs, node_errors = fresh_runner.validate(bad)
    assert not ok
    text = str(node_errors)
    assert "not found" in text and "models" in text
    bad = copy.deepcopy(prompt)
    bad[_by_type(prompt, "AceStepV1SeededNoise")]["inputs"]["seeds"] = "1,2,"
    ok, _e, _o, node_errors = fresh_runner.validate(bad)
    assert not ok and "seed" in str(node_errors)
    bad = copy.deepcopy(prompt)
    bad[_by_type(prompt, "AceStepV1Sampler")]["inputs"]["steps"] = 0
    ok, _e, _o, node_errors = fresh_runner.validate(bad)
    assert not ok


def test_models_go_through_comfyui_model_management(fresh_runner):
    mm.unload_all_models()
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    res = fresh_runner.run(prompt)
    model = res.output(_by_type(prompt, "AceStepV1ModelLoader"))
    loaded = [m for m in mm.loaded_models()]
    for part in ("text", "transformer", "dcae"):
        assert model.patchers[part] in loaded, part
    mm.unload_all_models()  # what "free memory" / the next job does
    assert not any(p in mm.loaded_models() for p in model.patchers.values())
    changed = copy.deepcopy(prompt)
    changed[_by_type(prompt, "AceStepV1SeededNoise")]["inputs"]["seeds"] = "77"
    assert fresh_runner.run(changed).error is None  # reloads transparently


def test_offload_after_each_stage(fresh_runner):
    mm.unload_all_models()
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    prompt[_by_type(prompt, "AceStepV1ModelLoader")]["inputs"]["offload"] = "after_each_stage"
    res = fresh_runner.run(prompt)
    model = res.output(_by_type(prompt, "AceStepV1ModelLoader"))
    assert not any(p in mm.loaded_models() for p in model.patchers.values())
    base = graphs.text2music_graph(steps=2, output="PreviewAudio")
    ref = fresh_runner.run(base)
    a = res.output(_by_type(prompt, "AceStepV1LatentToAudio"))["waveform"]
    b = ref.output(_by_type(base, "AceStepV1LatentToAudio"))["waveform"]
    assert torch.equal(a, b)


def test_two_loras_in_one_graph_do_not_interfere(fresh_runner, make_runner):
    """Branches with and without a LoRA share one loaded model; each gets its own result."""
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    loader = _by_type(prompt, "AceStepV1ModelLoader")
    sampler = _by_type(prompt, "AceStepV1Sampler")
    decode = _by_type(prompt, "AceStepV1LatentToAudio")
    prompt["60"] = {"class_type": "AceStepV1LoraLoader",
                    "inputs": {"model": [loader, 0], "lora_name": "tiny_lora", "strength": 1.0}}
    prompt["61"] = copy.deepcopy(prompt[sampler])
    prompt["61"]["inputs"]["model"] = ["60", 0]
    prompt["62"] = {"class_type": "AceStepV1LatentToAudio",
                    "inputs": {"model": [loader, 0], "latent": ["61", 0], "sample_rate": "48000", "mode": "plain"}}
    prompt["63"] = {"class_type": "PreviewAudio", "inputs": {"audio": ["62", 0]}}
    res = fresh_runner.run(prompt)
    plain = make_runner().run(graphs.text2music_graph(steps=2, output="PreviewAudio"))
    a = res.output(decode)["waveform"]
    with_lora = res.output("62")["waveform"]
    assert torch.equal(a, plain.output(decode)["waveform"])
    assert not torch.equal(a, with_lora)


def test_weights_are_never_inference_tensors(node_classes):
    """ComfyUI runs every node under torch.inference_mode(); weights loaded or moved there become
    inference tensors, which acestep_core's caches cannot key on. The loader and each stage keep them
    ordinary tensors (and tied weights tied)."""
    model_mod = next(m for k, m in sys.modules.items() if k.endswith(".nodes.model"))
    with torch.inference_mode():
        model = node_classes["AceStepV1ModelLoader"].execute(
            model_name=graphs.MODEL_NAME, dtype="float32", offload="comfyui").args[0]
    for part, patcher in model.patchers.items():
        assert not any(p.is_inference() for p in patcher.model.parameters()), part
    emb = torch.nn.Embedding(4, 3)
    with torch.inference_mode():
        net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Embedding(4, 3))
        net[1].weight = torch.nn.Parameter(torch.randn(4, 3), requires_grad=False)
        net.register_buffer("tied_b", torch.ones(2))
        net.add_module("shared", emb)
        net.shared.weight = net[1].weight  # tied
    assert any(p.is_inference() for p in net.parameters())
    before = [p.clone() for p in net.parameters()]
    model_mod._plain_tensors(net)
    assert not any(p.is_inference() for p in net.parameters()) and not any(b.is_inference() for b in net.buffers())
    assert net.shared.weight is net[1].weight
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
