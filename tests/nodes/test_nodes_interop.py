"""Our LATENT and AUDIO values meet ComfyUI's own nodes: EmptyAceStepLatentAudio, LoadAudio,
SaveAudio / PreviewAudio, the latent batch nodes and RandomNoise, in graphs run by ComfyUI."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import soundfile as sf
import torch

import folder_paths

sys.path.append(str(Path(__file__).parent))
import acestep_node_graphs as graphs  # noqa: E402

from golden_utils import GOLDEN  # noqa: E402


def _by_type(prompt: dict, class_type: str) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == class_type)


def test_native_empty_latent_and_random_noise_feed_our_sampler(runner):
    ours = graphs.text2music_graph(steps=2, output="PreviewAudio", seed=42)
    native = copy.deepcopy(ours)
    empty = _by_type(native, "AceStepV1EmptyLatent")
    native[empty] = {"class_type": "EmptyAceStepLatentAudio", "inputs": {"seconds": 1.0, "batch_size": 1}}
    noise = _by_type(native, "AceStepV1SeededNoise")
    native[noise] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 42}}
    a = runner.run(ours).output(_by_type(ours, "AceStepV1LatentToAudio"))
    b = runner.run(native).output(_by_type(native, "AceStepV1LatentToAudio"))
    assert torch.equal(a["waveform"], b["waveform"])


def test_save_audio_writes_our_audio(runner):
    prompt = graphs.text2music_graph(steps=2, output="SaveAudio")
    res = runner.run(prompt)
    audio = res.output(_by_type(prompt, "AceStepV1LatentToAudio"))
    saved = [d["output"]["audio"] for d in res.events("executed") if d.get("output") and "audio" in d["output"]]
    assert saved, "SaveAudio reported no file"
    entry = saved[0][0]
    path = Path(folder_paths.get_output_directory()) / entry["subfolder"] / entry["filename"]
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    assert sr == 48000 and data.shape == (audio["waveform"].shape[-1], 2)
    expected = audio["waveform"][0].clamp(-1.0, 1.0).numpy()  # 16-bit FLAC clips at full scale
    assert abs(data.T - expected).max() < 1e-3  # FLAC quantisation only


def test_load_audio_into_our_encoder(runner, loaded_model, comfy_home):
    g = graphs.Graph()
    model = g.add("AceStepV1ModelLoader", model_name=graphs.MODEL_NAME, dtype="float32", offload="comfyui")
    # a mono 22.05 kHz FLAC through ComfyUI's LoadAudio (PyAV)
    data, sr = sf.read(str(GOLDEN / "inputs" / "src_sines_44k.wav"), dtype="float32", always_2d=True)
    mono = data[::2, 0]
    sf.write(str(comfy_home / "input" / "mono22k.flac"), mono, 22050)
    stereo = g.add("LoadAudio", audio="src_sines_44k.wav")
    mono_in = g.add("LoadAudio", audio="mono22k.flac")
    lat = g.add("AceStepV1AudioToLatent", model=g.out(model), audio=g.out(stereo))
    lat_mono = g.add("AceStepV1AudioToLatent", model=g.out(model), audio=g.out(mono_in))
    dec = g.add("AceStepV1LatentToAudio", model=g.out(model), latent=g.out(lat_mono), sample_rate="44100", mode="plain")
    g.add("PreviewAudio", audio=g.out(dec))
    dec2 = g.add("AceStepV1LatentToAudio", model=g.out(model), latent=g.out(lat), sample_rate="44100", mode="plain")
    g.add("PreviewAudio", audio=g.out(dec2))
    res = runner.run(g.nodes)
    ref = loaded_model.pipe.encode_audio(str(GOLDEN / "inputs" / "src_sines_44k.wav"))
    assert torch.equal(res.output(lat)["samples"], ref.float())
    m = res.output(lat_mono)["samples"]
    assert m.shape[:3] == (1, 8, 16) and m.shape[-1] == -(-len(mono) * 2 // 4096)
    assert res.output(dec)["waveform"].shape[1] == 2


def test_latent_batch_nodes(runner):
    """RepeatLatentBatch → our sampler with per-item seeds; LatentFromBatch / LatentBatch → our decoder."""
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    empty = _by_type(prompt, "AceStepV1EmptyLatent")
    sampler = _by_type(prompt, "AceStepV1Sampler")
    decode = _by_type(prompt, "AceStepV1LatentToAudio")
    loader = _by_type(prompt, "AceStepV1ModelLoader")
    prompt["70"] = {"class_type": "RepeatLatentBatch", "inputs": {"samples": [empty, 0], "amount": 2}}
    prompt[sampler]["inputs"]["latent"] = ["70", 0]
    prompt[_by_type(prompt, "AceStepV1SeededNoise")]["inputs"]["seeds"] = "42, 7"
    prompt["71"] = {"class_type": "LatentFromBatch", "inputs": {"samples": [sampler, 0], "batch_index": 1, "length": 1}}
    prompt["72"] = {"class_type": "AceStepV1LatentToAudio",
                    "inputs": {"model": [loader, 0], "latent": ["71", 0], "sample_rate": "48000", "mode": "plain"}}
    prompt["73"] = {"class_type": "LatentBatch", "inputs": {"samples1": ["71", 0], "samples2": [sampler, 0]}}
    prompt["74"] = {"class_type": "AceStepV1LatentToAudio",
                    "inputs": {"model": [loader, 0], "latent": ["73", 0], "sample_rate": "48000", "mode": "plain"}}
    prompt["75"] = {"class_type": "PreviewAudio", "inputs": {"audio": ["72", 0]}}
    prompt["76"] = {"class_type": "PreviewAudio", "inputs": {"audio": ["74", 0]}}
    res = runner.run(prompt)
    both = res.output(decode)["waveform"]
    second = res.output("72")["waveform"]
    three = res.output("74")["waveform"]
    assert both.shape[0] == 2 and not torch.equal(both[0], both[1])
    assert torch.allclose(second[0], both[1], atol=1e-5)
    assert three.shape[0] == 3 and torch.allclose(three[1:], both, atol=1e-5)
    assert torch.allclose(three[0], both[1], atol=1e-5)
