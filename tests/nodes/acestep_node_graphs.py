"""API-format graphs (what ComfyUI's /prompt executes) of this pack's nodes, one per original task.

`golden_case_graph(call)` turns the keyword arguments of an original `__call__` (a golden case's
params.json "call") into the equivalent node graph; the test then compares its audio with the
library API's and the golden fixture's. The same builder writes the graph used for the real-server
run (`python acestep_node_graphs.py OUT.json`).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

MODEL_NAME = "ACE-Step-v1-3.5B"


class Graph:
    def __init__(self):
        self.nodes: dict[str, dict] = {}

    def add(self, class_type: str, **inputs) -> str:
        node_id = str(len(self.nodes) + 1)
        self.nodes[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id

    @staticmethod
    def out(node_id: str, slot: int = 0) -> list:
        return [node_id, slot]


def _seeds(v) -> str:
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return "" if v is None else str(v)


def golden_case_graph(call: dict, *, input_file: str = "src_sines_44k.wav", lora_name: str = "tiny_lora",
                      dtype: str = "float32", output: str = "PreviewAudio", sample_rate: str = "48000") -> tuple[dict, str]:
    """(prompt, id of the LatentToAudio node) reproducing an original __call__ with our nodes."""
    g = Graph()
    o = g.out
    model = g.add("AceStepV1ModelLoader", model_name=MODEL_NAME, dtype=dtype, offload="comfyui")
    if call.get("lora_name_or_path", "none") not in (None, "", "none"):
        model = g.add("AceStepV1LoraLoader", model=o(model), lora_name=lora_name, strength=call.get("lora_weight", 1.0))
    task = call.get("task", "text2music")
    if call.get("audio2audio_enable") and call.get("ref_audio_input"):
        task = "audio2audio"
    tags = g.add("AceStepV1TextEncode", model=o(model), tags=call["prompt"])
    lyrics = g.add("AceStepV1LyricsEncode", model=o(model), lyrics=call["lyrics"], language="auto")
    options = g.add(
        "AceStepV1SamplerOptions", scheduler=call["scheduler_type"], cfg_type=call["cfg_type"],
        omega_scale=call["omega_scale"], guidance_interval=call["guidance_interval"],
        guidance_interval_decay=call["guidance_interval_decay"], min_guidance_scale=call["min_guidance_scale"],
        guidance_scale_text=call["guidance_scale_text"], guidance_scale_lyric=call["guidance_scale_lyric"],
        use_erg_tag=call["use_erg_tag"], use_erg_lyric=call["use_erg_lyric"], use_erg_diffusion=call["use_erg_diffusion"],
        oss_steps=_seeds(call.get("oss_steps")))
    noise = g.add("AceStepV1SeededNoise", seed=0, seeds=_seeds(call["manual_seeds"]))
    if task in ("retake", "repaint", "extend", "edit"):
        noise = g.add("AceStepV1VariationNoise", noise=o(noise), retake_seed=0, variance=call["retake_variance"],
                      retake_seeds=_seeds(call["retake_seeds"]))
    if task in ("repaint", "extend", "edit", "audio2audio"):
        audio = g.add("LoadAudio", audio=input_file)
        latent = g.add("AceStepV1AudioToLatent", model=o(model), audio=o(audio))
    else:
        latent = g.add("AceStepV1EmptyLatent", seconds=call["audio_duration"], batch_size=call.get("batch_size", 1))
    if task == "repaint":
        latent = g.add("AceStepV1RepaintRegion", latent=o(latent), start_seconds=call["repaint_start"],
                       end_seconds=call["repaint_end"])
    elif task == "extend":
        # The original's extend UI: repaint_start = -left, repaint_end = source length + right (3.0 s source).
        src_seconds = 3.0
        latent = g.add("AceStepV1ExtendRegion", latent=o(latent), left_seconds=max(0.0, -call["repaint_start"]),
                       right_seconds=max(0.0, call["repaint_end"] - src_seconds))
    if task == "edit":
        t_tags = g.add("AceStepV1TextEncode", model=o(model), tags=call["edit_target_prompt"])
        t_lyr = g.add("AceStepV1LyricsEncode", model=o(model), lyrics=call["edit_target_lyrics"], language="auto")
        target = g.add("AceStepV1EditTarget", target_tags=o(t_tags), target_lyrics=o(t_lyr))
        sampled = g.add("AceStepV1FlowEditSampler", model=o(model), tags=o(tags), lyrics=o(lyrics), target=o(target),
                        noise=o(noise), latent=o(latent), steps=call["infer_step"],
                        guidance_scale=call["guidance_scale"], n_min=call["edit_n_min"], n_max=call["edit_n_max"],
                        n_avg=call["edit_n_avg"], options=o(options))
    else:
        strength = call["ref_audio_strength"] if task == "audio2audio" else 0.0
        sampled = g.add("AceStepV1Sampler", model=o(model), tags=o(tags), lyrics=o(lyrics), noise=o(noise),
                        latent=o(latent), steps=call["infer_step"], guidance_scale=call["guidance_scale"],
                        audio2audio_strength=strength, options=o(options))
    decode = g.add("AceStepV1LatentToAudio", model=o(model), latent=o(sampled), sample_rate=sample_rate, mode="plain")
    if output == "PreviewAudio":
        g.add("PreviewAudio", audio=o(decode))
    elif output == "SaveAudio":
        g.add("SaveAudio", audio=o(decode), filename_prefix="audio/acestep_v1_check")
    return g.nodes, decode


def text2music_graph(seconds: float = 1.0, steps: int = 4, seed: int = 42, output: str = "SaveAudio",
                     dtype: str = "float32") -> dict:
    call = {
        "prompt": "pop, rock, female vocals, 120 bpm, catchy melody",
        "lyrics": "[verse]\nHello world, we sing tonight\n\n[chorus]\nla la la",
        "audio_duration": seconds, "infer_step": steps, "guidance_scale": 15.0, "scheduler_type": "euler",
        "cfg_type": "apg", "omega_scale": 10.0, "guidance_interval": 0.5, "guidance_interval_decay": 0.0,
        "min_guidance_scale": 3.0, "use_erg_tag": True, "use_erg_lyric": True, "use_erg_diffusion": True,
        "guidance_scale_text": 0.0, "guidance_scale_lyric": 0.0, "manual_seeds": [seed], "task": "text2music",
        "ref_audio_strength": 0.5, "retake_variance": 0.5, "retake_seeds": None, "batch_size": 1,
    }
    return golden_case_graph(call, output=output, dtype=dtype)[0]


def repaint_graph(input_file: str, dtype: str = "auto") -> dict:
    """LoadAudio → encode → repaint 0.5–1.8 s → decode → SaveAudio (the golden repaint case's settings)."""
    shared = Path(os.environ.get("ACESTEP_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    golden = shared / "golden" / "e2e" / "repaint_euler_apg" / "params.json"
    call = json.loads(golden.read_text())["call"]
    return golden_case_graph(call, input_file=input_file, dtype=dtype, output="SaveAudio")[0]


if __name__ == "__main__":
    # python acestep_node_graphs.py OUT_DIR INPUT_FILE: the API graphs the real-server check queues.
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "acestep_v1_text2music.json").write_text(json.dumps(text2music_graph(seconds=2.0, steps=4, dtype="auto"), indent=1))
    (out / "acestep_v1_repaint.json").write_text(json.dumps(repaint_graph(sys.argv[2]), indent=1))
