"""One training step against the ORIGINAL trainer's own loss code: the loss and every LoRA gradient.

`data/upstream_train_step.safetensors` was made by running the upstream snapshot (d612523) in a
separate environment (torch 2.13.0 CPU, diffusers 0.33.1, peft 0.21.2, transformers 4.50.0,
2 threads); no upstream code is part of this repository. The harness:
* loaded the tiny golden transformer with upstream's `ACEStepTransformer2DModel.from_pretrained`,
  called `enable_gradient_checkpointing()` and `add_adapter(LoraConfig(**config))` as trainer.py
  does, with tiny_lora's config at rank 2 (the `.json`'s `lora_config`; rank 2 keeps the fixture
  under 2 MB), and set every LoRA A/B weight to the stored random values (`lora.*`, so that B ≠ 0
  and A gets gradients);
* called upstream trainer.py's own `Pipeline.preprocess` (condition dropout) and `Pipeline.run_step`
  (noise, logit-normal timesteps, `get_sd3_sigmas`, the DiT, preconditioning, masked MSE; SSL
  losses off) on a batch of two items with padded text and lyrics, with its random draws replaced by
  the recorded ones: `torch.rand` → the three dropout uniforms (`draw.u_*`), `torch.randn_like` →
  `draw.noise`, `torch.normal` → `draw.u_normal`; the text states and latents were given directly
  (the text encoder and DCAE are frozen and are not part of the loss code);
* backpropagated and stored the loss and each LoRA parameter's gradient under its PEFT key, for two
  cases: "eval" (the lyric encoder's Dropout modules in eval mode) and "train" (every module in
  training mode after `torch.manual_seed(1234)`: upstream's own lyric-encoder dropout), and the
  names and rates of upstream's active Dropout modules (`.json`). The train case was run twice and
  gave the same bits.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from acestep_core.checkpoint import resolve_checkpoint
from acestep_core.loading import load_transformer
from acestep_core.models.operations import TorchOps
from acestep_core.training.batch import TrainBatch
from acestep_core.training.dropout import masks_from_uniforms
from acestep_core.training.grad_checkpoint import checkpointed_blocks
from acestep_core.training.lora_config import parse_lora_config
from acestep_core.training.lora_layers import inject_lora
from acestep_core.training.step import StepDraws, loss_for_draws
from acestep_core.training.timesteps import TrainSchedule

DATA = Path(__file__).resolve().parent / "data"
FIXTURE = load_file(str(DATA / "upstream_train_step.safetensors"))
META = json.loads((DATA / "upstream_train_step.json").read_text(encoding="utf-8"))
LOSS_RTOL = 1e-5  # the bounds
GRAD_RTOL = 1e-4
# Our module names where they differ from upstream's (upstream keeps the table's dropout in a pos_enc module).
OUR_NAME = {"lyric_encoder.embed.pos_enc.dropout": "lyric_encoder.pos_dropout"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fixture_batch() -> TrainBatch:
    f = {k.removeprefix("input."): v for k, v in FIXTURE.items() if k.startswith("input.")}
    b, t = f["latents"].shape[0], f["latents"].shape[-1]
    return TrainBatch(latents=f["latents"], frame_mask=torch.ones(b, t), text_states=f["text_states"],
                      text_mask=f["text_mask"], speaker=f["speaker"], lyric_ids=f["lyric_ids"],
                      lyric_mask=f["lyric_mask"])


def fixture_draws(schedule: TrainSchedule) -> StepDraws:
    masks = masks_from_uniforms(FIXTURE["draw.u_text"], FIXTURE["draw.u_speaker"], FIXTURE["draw.u_lyrics"])
    return StepDraws(masks, FIXTURE["draw.noise"], schedule.indices_for(FIXTURE["draw.u_normal"]),
                     dropout_seed=META["seed_before_step"])


@pytest.fixture()
def lora_model(tiny_ckpt):
    model = load_transformer(resolve_checkpoint(tiny_ckpt)["transformer"], dtype=torch.float32, operations=TorchOps)
    lora = inject_lora(model, parse_lora_config(META["lora_config"], where="the fixture"))
    lora.load_state_dict({k.removeprefix("lora."): v for k, v in FIXTURE.items() if k.startswith("lora.")})
    return model, lora


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def test_fixture_drops_something_of_every_condition():
    """The recorded draws exercise each dropout (else the test could not see a wrong one)."""
    masks = fixture_draws(TrainSchedule.flow_match()).masks
    assert 0 in masks.text.tolist() and 0 in masks.speaker.tolist() and 0 in masks.lyrics.tolist()
    assert 1 in masks.text.tolist() and 1 in masks.speaker.tolist() and 1 in masks.lyrics.tolist()


@pytest.mark.parametrize("case, checkpointing", [("eval", False), ("train", False), ("train", True)])
def test_loss_and_lora_gradients_match_the_original_trainer(lora_model, case, checkpointing):
    """`checkpointing`: our checkpointed transformer and lyric blocks (upstream's were, in both cases)."""
    model, lora = lora_model
    schedule = TrainSchedule.flow_match()
    model.train()
    if case == "eval":
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.eval()
    with checkpointed_blocks(model, checkpointing):
        out = loss_for_draws(model, fixture_batch(), fixture_draws(schedule), schedule)
        out.loss.backward()
    assert torch.equal(out.timesteps, FIXTURE[f"{case}.timesteps"])
    assert torch.allclose(out.sigmas, FIXTURE[f"{case}.sigmas"], rtol=0, atol=0)
    expected, got = float(FIXTURE[f"{case}.loss"]), float(out.loss.detach())
    print(f"{case}: loss {got!r} vs {expected!r}")
    assert abs(got - expected) <= LOSS_RTOL * abs(expected), (got, expected)
    grads = {}
    for path, layer in lora.layers.items():
        grads[f"{path}.lora_A.weight"] = layer.lora_A.weight.grad
        grads[f"{path}.lora_B.weight"] = layer.lora_B.weight.grad
    want = {k.removeprefix(f"{case}.grad."): v for k, v in FIXTURE.items() if k.startswith(f"{case}.grad.")}
    assert set(grads) == set(want)
    worst = max(((rel_err(grads[k], want[k]), k) for k in want), key=lambda x: x[0])
    print(f"{case}: worst gradient relative error {worst}")
    assert worst[0] <= GRAD_RTOL, worst


def test_train_case_differs_from_eval_case():
    """Upstream's dropout changes the loss, so matching both cases checks ours is on, and the same."""
    assert float(FIXTURE["train.loss"]) != float(FIXTURE["eval.loss"])


def test_dropout_layers_are_the_originals(lora_model):
    model, _ = lora_model
    ours = {n: m.p for n, m in model.named_modules() if isinstance(m, nn.Dropout) and m.p > 0}
    theirs = {OUR_NAME.get(n, n): p for n, p in META["upstream_dropout_modules"].items()}
    assert ours == theirs


def test_inference_mode_has_no_dropout(tiny_ckpt):
    """A loaded model is in eval mode: two encodes of the same lyrics agree bit for bit."""
    model = load_transformer(resolve_checkpoint(tiny_ckpt)["transformer"], dtype=torch.float32)
    assert not model.training
    b = fixture_batch()
    with torch.no_grad():
        one = model.encode(b.text_states, b.text_mask, b.speaker, b.lyric_ids, b.lyric_mask)[0]
        two = model.encode(b.text_states, b.text_mask, b.speaker, b.lyric_ids, b.lyric_mask)[0]
    assert torch.equal(one, two)
