"""LoRA training end to end on the tiny checkpoint: the loss falls, the LoRA loads and changes the
music, its files match the published layout, and a resumed run continues bit for bit."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from acestep_core import AceStepPipeline, load_lora
from acestep_core.checkpoint import resolve_checkpoint
from acestep_core.loading import load_transformer
from acestep_core.models.operations import TorchOps
from acestep_core.training import TrainConfig, train_lora
from acestep_core.training.batch import collate
from acestep_core.training.checkpoints import ResumeError
from acestep_core.training.data import find_songs
from acestep_core.training.encoded import encode_songs
from acestep_core.training.grad_checkpoint import checkpointed_blocks
from acestep_core.training.lora_config import read_lora_config
from acestep_core.training.lora_layers import inject_lora
from acestep_core.training.step import NO_CONDITION_DROPOUT, flow_matching_loss
from acestep_core.training.timesteps import TrainSchedule
from golden_utils import GOLDEN

TINY_LORA = GOLDEN / "tiny_lora"
STEPS = 30
SAVE_EVERY = 10


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny matmuls: one thread is far faster


def write_song(folder: Path, name: str, freq: float, sr: int, channels: int, seconds: float = 1.0,
               lyrics: str = "[verse]\nhello world\nla la la") -> None:
    import soundfile as sf

    t = np.arange(int(sr * seconds)) / sr
    wave = 0.3 * np.sin(2 * np.pi * freq * t)
    data = np.stack([wave * (1 + 0.5 * c) for c in range(channels)], axis=1).astype("float32")
    sf.write(folder / f"{name}.wav", data, sr)
    (folder / f"{name}_prompt.txt").write_text("pop, piano, 120 bpm", encoding="utf-8")
    (folder / f"{name}_lyrics.txt").write_text(lyrics, encoding="utf-8")


@pytest.fixture(scope="module")
def songs_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("songs")
    write_song(d, "alpha", 220.0, 44100, 2)
    write_song(d, "beta", 330.0, 22050, 1, lyrics="[chorus]\nsing it loud")
    return d


def tiny_config(songs_dir, out, tiny_ckpt, lyric_vocab, **kw) -> TrainConfig:
    base = {"data": songs_dir, "lora_config": TINY_LORA / "config.json", "out": out, "checkpoint": tiny_ckpt,
            "max_steps": STEPS, "save_every": SAVE_EVERY, "seed": 7, "learning_rate": 3e-3, "warmup_steps": 3,
            "lyric_vocab": lyric_vocab}
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def run(songs_dir, tiny_ckpt, lyric_vocab, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "lora"
    return train_lora(tiny_config(songs_dir, out, tiny_ckpt, lyric_vocab))


def test_run_writes_one_folder_per_checkpoint(run):
    names = sorted(p.name for p in run.out.iterdir() if not p.name.startswith("."))
    assert names == ["final-step-00000030", "step-00000010", "step-00000020"]
    assert run.final.name == "final-step-00000030" and run.steps == STEPS and len(run.losses) == STEPS
    assert run.songs == ["alpha", "beta"] and run.skipped == []


def test_output_matches_the_published_lora_layout(run):
    from safetensors import safe_open

    def patterns(folder: Path) -> set[str]:
        with safe_open(str(folder / "pytorch_lora_weights.safetensors"), "pt") as f:
            return {re.sub(r"\.\d+\.", ".N.", k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)

    assert patterns(run.final) == patterns(TINY_LORA)
    ours = json.loads((run.final / "config.json").read_text())
    golden = json.loads((TINY_LORA / "config.json").read_text())
    assert set(ours) == set(golden) and ours == golden
    with safe_open(str(run.final / "pytorch_lora_weights.safetensors"), "pt") as f:
        assert f.metadata() == {"format": "pt"}
    adapter = load_lora(run.final)
    assert adapter.rank == golden["r"]
    assert set(adapter.pairs) == set(load_lora(TINY_LORA).pairs)
    assert any(b.abs().sum() > 0 for _, b in adapter.pairs.values())  # B moved away from its zero start


def test_loss_falls(run, songs_dir, tiny_ckpt, lyric_vocab):
    pipe = AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)
    songs, _ = find_songs(songs_dir)
    batch = collate(encode_songs(pipe, songs))
    model = load_transformer(resolve_checkpoint(tiny_ckpt)["transformer"], dtype=torch.float32, operations=TorchOps)
    schedule = TrainSchedule.flow_match()

    def fixed_loss() -> float:
        with torch.no_grad():
            return sum(flow_matching_loss(model, batch, torch.Generator().manual_seed(s), schedule,
                                          rates=NO_CONDITION_DROPOUT).loss.item() for s in range(6)) / 6

    before = fixed_loss()
    lora = inject_lora(model, read_lora_config(TINY_LORA / "config.json"))
    from safetensors.torch import load_file

    lora.load_state_dict(load_file(str(run.final / "pytorch_lora_weights.safetensors")))
    after = fixed_loss()
    print(f"fixed loss before {before:.4f} after {after:.4f}")
    assert after < 0.9 * before, (before, after)


def test_lora_changes_the_generated_latents(run, tiny_ckpt, lyric_vocab, tmp_path):
    pipe = AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)
    kw = {"prompt": "pop, piano", "lyrics": "[verse]\nhello world", "audio_duration": 1.0, "infer_step": 3,
          "manual_seeds": [11], "save_path": str(tmp_path)}
    plain = pipe(**kw).latents
    with_lora = pipe(**kw, lora_name_or_path=str(run.final)).latents
    assert plain.shape == with_lora.shape
    assert (plain - with_lora).abs().max() > 1e-4


def test_resume_continues_bit_identically(run, songs_dir, tiny_ckpt, lyric_vocab, tmp_path):
    out = tmp_path / "resumed"
    out.mkdir()
    shutil.copytree(run.out / "step-00000020", out / "step-00000020")
    resumed = train_lora(tiny_config(songs_dir, out, tiny_ckpt, lyric_vocab, resume=True))
    assert resumed.final.name == run.final.name
    assert resumed.losses == run.losses
    a = load_lora(run.final).pairs
    b = load_lora(resumed.final).pairs
    assert all(torch.equal(a[k][0], b[k][0]) and torch.equal(a[k][1], b[k][1]) for k in a)
    state_a = load_file(str(run.final / "training_state.safetensors"))
    state_b = load_file(str(resumed.final / "training_state.safetensors"))
    assert state_a.keys() == state_b.keys() and "generator" in state_a
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)  # generator and optimizer moments


def test_a_finished_folder_is_never_overwritten(run, songs_dir, tiny_ckpt, lyric_vocab):
    with pytest.raises(ResumeError, match="already holds checkpoints"):
        train_lora(tiny_config(songs_dir, run.out, tiny_ckpt, lyric_vocab))
    with pytest.raises(ResumeError, match="already at max_steps"):
        train_lora(tiny_config(songs_dir, run.out, tiny_ckpt, lyric_vocab, resume=True))


def test_resume_refuses_a_different_recipe(run, songs_dir, tiny_ckpt, lyric_vocab, tmp_path):
    shutil.copytree(run.out / "step-00000010", tmp_path / "step-00000010")
    with pytest.raises(ResumeError, match="seed"):
        train_lora(tiny_config(songs_dir, tmp_path, tiny_ckpt, lyric_vocab, resume=True, seed=8))


def _untouched(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    """The host's transformer as it was: no adapter left, eval mode, frozen, the same weights."""
    assert not any(type(m).__name__ == "TrainableLoraLinear" for m in model.modules())
    assert not any(type(b).__name__ == "CheckpointedBlock" for b in model.transformer_blocks)
    assert not model.training and not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_a_hosts_networks_are_trained_in_place_and_handed_back(run, songs_dir, tiny_ckpt, lyric_vocab, tmp_path):
    """What the ComfyUI node does: encode with the loaded pipeline, train its loaded transformer."""
    from acestep_core.training import encode_training_data

    config = tiny_config(songs_dir, tmp_path / "hosted", tiny_ckpt, lyric_vocab)
    pipe = AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)
    data = encode_training_data(config, pipe)
    prompts = data.songs[0].prompts  # the default 8 tag orders of "pop, piano, 120 bpm", each encoded
    assert len(prompts) == 8 and len({p.states.sum().item() for p in prompts}) > 1
    transformer = pipe.transformer
    before = {k: v.clone() for k, v in transformer.state_dict().items()}
    rng = torch.get_rng_state()
    dropout_on = []
    result = train_lora(config, data=data, transformer=transformer,
                        on_step=lambda report: dropout_on.append(transformer.lyric_encoder.pos_dropout.training))
    assert dropout_on == [True] * config.max_steps  # trained in training mode: the lyric encoder's dropout acts
    assert torch.equal(torch.get_rng_state(), rng)  # the host's random state is untouched
    _untouched(transformer, before)
    assert pipe.transformer is transformer and pipe.loaded_parts() >= {"text", "dcae", "transformer"}
    assert result.losses == run.losses  # the same run as with the trainer's own copy of the networks
    a, b = load_lora(run.final).pairs, load_lora(result.final).pairs
    assert all(torch.equal(a[k][0], b[k][0]) and torch.equal(a[k][1], b[k][1]) for k in a)


def test_a_failed_run_hands_the_transformer_back_too(songs_dir, tiny_ckpt, lyric_vocab, tmp_path):
    from acestep_core.training import encode_training_data

    config = tiny_config(songs_dir, tmp_path / "failed", tiny_ckpt, lyric_vocab, max_steps=5)
    pipe = AceStepPipeline.from_pretrained(tiny_ckpt, lyric_vocab=lyric_vocab)
    transformer = pipe.transformer
    before = {k: v.clone() for k, v in transformer.state_dict().items()}
    transformer.lyric_proj.weight.requires_grad_(True)  # a host's own setting: frozen while training, then kept

    def boom(report):
        if report.step == 2:
            raise RuntimeError("host gave up")

    with pytest.raises(RuntimeError, match="host gave up"):
        train_lora(config, data=encode_training_data(config, pipe), transformer=transformer, on_step=boom)
    assert transformer.lyric_proj.weight.requires_grad
    transformer.lyric_proj.weight.requires_grad_(False)
    _untouched(transformer, before)
    with pytest.raises(ValueError, match="set dtype to float32"):
        train_lora(tiny_config(songs_dir, tmp_path / "bf16", tiny_ckpt, lyric_vocab, dtype="bfloat16"),
                   transformer=transformer)


def test_training_footprint_counts_the_lora_it_will_add(tiny_ckpt):
    from acestep_core.training import training_step_bytes
    from acestep_core.training.footprint import lora_parameter_count

    model = load_transformer(resolve_checkpoint(tiny_ckpt)["transformer"], dtype=torch.float32, operations=TorchOps)
    spec = read_lora_config(TINY_LORA / "config.json")
    expected = lora_parameter_count(model, spec)
    assert expected == sum(p.numel() for p in inject_lora(model, spec).parameters())
    small = training_step_bytes(model, spec, frames=100)
    assert training_step_bytes(model, spec, frames=200) > small  # grows with the clip,
    assert training_step_bytes(model, spec, frames=100, batch=2) > small  # the batch,
    assert training_step_bytes(model, spec, frames=100, gradient_checkpointing=False) > small  # without recompute,
    long_lyrics = training_step_bytes(model, spec, frames=100, lyric_tokens=4096)  # and with the lyrics' length:
    assert long_lyrics - small >= 7.9e9  # at least the lyric encoder's measured 7.9 GB at 4096 tokens


def test_gradient_checkpointing_gives_the_same_gradients(tiny_ckpt, songs_dir, lyric_vocab):
    from acestep_core.training.batch import TrainBatch

    model = load_transformer(resolve_checkpoint(tiny_ckpt)["transformer"], dtype=torch.float32, operations=TorchOps)
    lora = inject_lora(model, read_lora_config(TINY_LORA / "config.json"), torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in lora.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    g = torch.Generator().manual_seed(1)
    batch = TrainBatch(torch.randn(1, 8, 16, 6, generator=g), torch.ones(1, 6), torch.randn(1, 4, 32, generator=g),
                       torch.ones(1, 4, dtype=torch.long), torch.zeros(1, 512), torch.tensor([[261, 30, 40, 2]]),
                       torch.ones(1, 4, dtype=torch.long))
    grads = []
    model.train()  # the lyric encoder's dropout on: its masks are replayed in the recomputation
    for enabled in (False, True):
        with checkpointed_blocks(model, enabled):
            for p in lora.parameters():
                p.grad = None
            out = flow_matching_loss(model, batch, torch.Generator().manual_seed(5), TrainSchedule.flow_match(),
                                     rates=NO_CONDITION_DROPOUT)
            out.loss.backward()
            grads.append([p.grad.clone() for p in lora.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    assert any(g.abs().sum() > 0 for g in grads[0])
    assert not any(type(b).__name__ == "CheckpointedBlock"
                   for b in [*model.transformer_blocks, *model.lyric_encoder.encoders])


def test_cli_trains_and_names_the_output(songs_dir, tiny_ckpt, lyric_vocab, tmp_path, capsys):
    from acestep_core.training.cli import main

    out = tmp_path / "cli_run"
    rc = main(["train-lora", "--data", str(songs_dir), "--config", str(TINY_LORA / "config.json"),
               "--checkpoint", str(tiny_ckpt), "--out", str(out), "--max-steps", "2", "--seed", "3",
               "--save-every", "1", "--learning-rate", "1e-3", "--batch-size", "2", "--accumulate", "2",
               "--dtype", "float32", "--device", "cpu", "--lyric-vocab", str(lyric_vocab), "--tag-orders", "2"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"LoRA: {out / 'final-step-00000002'}" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["final-step-00000002", "step-00000001"]
    load_lora(out / "final-step-00000002")
    state = json.loads((out / "final-step-00000002" / "trainer_state.json").read_text())
    assert state["recipe"]["tag_orders"] == 2
