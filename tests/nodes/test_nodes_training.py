"""The LoRA training nodes through ComfyUI's own executor: dataset scan, training into models/loras,
the trained model in the sampler chain, the LOSS_MAP, Cancel with a resumable checkpoint, bad data."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import comfy.model_management as mm
import numpy as np
import pytest

sys.path.append(str(Path(__file__).parent))
import acestep_node_graphs as graphs

STEPS = 6
SAVE_EVERY = 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny matmuls: one thread is far faster


def write_song(folder: Path, name: str, freq: float, sr: int, seconds: float = 1.5) -> None:
    import soundfile as sf

    t = np.arange(int(sr * seconds)) / sr
    sf.write(folder / f"{name}.wav", (0.3 * np.sin(2 * np.pi * freq * t)).astype("float32"), sr)
    (folder / f"{name}_prompt.txt").write_text("pop, piano, 120 bpm", encoding="utf-8")
    (folder / f"{name}_lyrics.txt").write_text("[verse]\nhello world\nla la la", encoding="utf-8")


@pytest.fixture(scope="module")
def songs(comfy_home) -> str:
    """Two synthetic clips in input/train_songs (a folder the dataset node's combo lists)."""
    folder = comfy_home / "input" / "train_songs"
    folder.mkdir(exist_ok=True)
    write_song(folder, "alpha", 220.0, 44100)
    write_song(folder, "beta", 330.0, 22050, seconds=1.0)
    return folder.name


def _by_type(prompt: dict, class_type: str) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == class_type)


def training_graph(folder: str, lora_name: str, *, resume: bool = False, on_bad_song: str = "refuse") -> dict:
    """text2music with its model replaced by ModelLoader → LoraDataset → TrainLora's trained model."""
    prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    loader = _by_type(prompt, "AceStepV1ModelLoader")
    for node in prompt.values():
        for key, value in node["inputs"].items():
            if value == [loader, 0]:
                node["inputs"][key] = ["train", 0]
    prompt["data"] = {"class_type": "AceStepV1LoraDataset",
                      "inputs": {"folder": folder, "on_bad_song": on_bad_song, "path": ""}}
    prompt["train"] = {"class_type": "AceStepV1TrainLora", "inputs": {
        "model": [loader, 0], "dataset": ["data", 0], "lora_name": lora_name, "resume": resume,
        "max_steps": STEPS, "save_every": SAVE_EVERY, "learning_rate": 3e-3, "batch_size": 1, "accumulate": 1,
        "seed": 7, "r": 4, "lora_alpha": 8.0, "use_rslora": True,
        "target_modules": "speaker_embedder, linear_q, linear_k, linear_v, to_q, to_k, to_v, to_out.0",
        "gradient_checkpointing": True}}
    return prompt


def test_train_apply_and_plot(fresh_runner, comfy_home, songs, core, monkeypatch):
    base_prompt = graphs.text2music_graph(steps=2, output="PreviewAudio")
    base = fresh_runner.run(base_prompt)
    prompt = training_graph(songs, "trained_a")
    prompt["plot"] = {"class_type": "LossGraphNode", "inputs": {"loss": ["train", 2], "filename_prefix": "loss"}}

    def no_second_copy(*args, **kwargs):
        raise AssertionError("the training node loaded networks of its own")

    loop = core("training.loop")
    monkeypatch.setattr(loop, "_own_networks", no_second_copy)
    monkeypatch.setattr(loop, "_load_transformer", no_second_copy)
    res = fresh_runner.run(prompt)

    # the loaded model's own transformer was trained and handed back as it came
    loader = _by_type(prompt, "AceStepV1ModelLoader")
    transformer = res.output(loader, 0).pipe.transformer
    assert res.output("train", 0).pipe.transformer is transformer
    assert not transformer.training and not any(p.requires_grad for p in transformer.parameters())
    assert not any(type(m).__name__ in ("TrainableLoraLinear", "CheckpointedBlock") for m in transformer.modules())

    folder = Path(res.output("train", 1))
    out = comfy_home / "models" / "loras" / "trained_a"
    assert folder == out / f"final-step-{STEPS:08d}"
    assert sorted(p.name for p in out.iterdir()) == [f"final-step-{STEPS:08d}", f"step-{SAVE_EVERY:08d}"]
    assert {"pytorch_lora_weights.safetensors", "config.json"} <= {p.name for p in folder.iterdir()}
    adapter = core().load_lora(folder)
    core().check_fits(res.output("train", 0).pipe.transformer, adapter)

    loss = res.output("train", 2)
    assert list(loss) == ["loss"] and len(loss["loss"]) == STEPS and all(np.isfinite(loss["loss"]))
    assert [(v, t) for n, v, t in res.progress if n == "train"][-STEPS:] == [(i, STEPS) for i in range(1, STEPS + 1)]

    data_preview = res.output("data", 1)
    assert "2 song(s)" in data_preview and "alpha" in data_preview and "beta" in data_preview

    sampler = _by_type(base_prompt, "AceStepV1Sampler")
    plain, trained = base.output(sampler)["samples"], res.output(sampler)["samples"]
    assert plain.shape == trained.shape and (plain - trained).abs().max() > 1e-5



def test_training_under_after_each_stage_offload_leaves_nothing_loaded(fresh_runner, songs):
    """The encoders (loaded together) and the transformer each go back after their stage."""
    mm.unload_all_models()
    prompt = training_graph(songs, "trained_offload")
    loader = _by_type(prompt, "AceStepV1ModelLoader")
    prompt[loader]["inputs"]["offload"] = "after_each_stage"
    res = fresh_runner.run(prompt)
    model = res.output(loader)
    assert not any(p in mm.loaded_models() for p in model.patchers.values())
    assert Path(res.output("train", 1)).name == f"final-step-{STEPS:08d}"


def test_cancel_saves_a_checkpoint_and_resume_finishes(fresh_runner, comfy_home, songs):
    prompt = training_graph(songs, "trained_cancel")

    def press_cancel(node_id, value, total):
        if node_id == "train" and value == 2:
            mm.interrupt_current_processing(True)

    fresh_runner.on_progress = press_cancel
    try:
        res = fresh_runner.run(prompt, expect_ok=False)
    finally:
        fresh_runner.on_progress = None
    assert res.interrupted and res.error is None
    out = comfy_home / "models" / "loras" / "trained_cancel"
    assert [p.name for p in out.iterdir()] == ["step-00000002"]
    assert (out / "step-00000002" / "pytorch_lora_weights.safetensors").is_file()

    refused = fresh_runner.run(prompt, expect_ok=False)
    assert refused.error is not None and "resume" in refused.error["exception_message"]

    resumed = fresh_runner.run(training_graph(songs, "trained_cancel", resume=True))
    assert Path(resumed.output("train", 1)).name == f"final-step-{STEPS:08d}"
    assert len(resumed.output("train", 2)["loss"]) == STEPS


def test_refuse_mode_names_the_bad_song(fresh_runner, comfy_home, songs):
    bad = comfy_home / "input" / "bad_songs"
    bad.mkdir(exist_ok=True)
    write_song(bad, "good", 220.0, 44100)
    (bad / "broken.wav").write_bytes(b"not audio at all")
    (bad / "broken_prompt.txt").write_text("pop", encoding="utf-8")
    (bad / "broken_lyrics.txt").write_text("[instrumental]", encoding="utf-8")
    prompt = training_graph("bad_songs", "never_written")
    res = fresh_runner.run(prompt, expect_ok=False)
    assert res.error is not None and res.error["node_type"] == "AceStepV1LoraDataset"
    message = res.error["exception_message"]
    assert "broken.wav" in message and "skip" in message
    assert not (comfy_home / "models" / "loras" / "never_written").exists()

    skipping = copy.deepcopy(prompt)
    skipping["data"]["inputs"]["on_bad_song"] = "skip"
    skipping = {k: v for k, v in skipping.items() if k in ("data",)} | {
        "show": {"class_type": "PreviewAny", "inputs": {"source": ["data", 1]}}}
    ok = fresh_runner.run(skipping)
    preview = ok.output("data", 1)
    assert "1 song(s)" in preview and "broken.wav" in preview
