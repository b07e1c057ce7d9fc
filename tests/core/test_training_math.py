"""The training formulas on small tensors, against values worked out by hand."""
from __future__ import annotations

import math

import pytest
import torch

from acestep_core.training.batch import collate
from acestep_core.training.dropout import DropoutRates, apply_dropout, draw_dropout
from acestep_core.training.encoded import EncodedPrompt, EncodedSong, tag_texts
from acestep_core.training.lora_config import (
    RAPMACHINE_LORA_CONFIG,
    LoraConfigError,
    parse_lora_config,
)
from acestep_core.training.loss import masked_mse, noisy_latents, precondition
from acestep_core.training.schedule import lr_factor
from acestep_core.training.timesteps import TrainSchedule


def test_dropout_draws_three_uniforms_in_order_and_drops_below_p():
    g = torch.Generator().manual_seed(3)
    masks = draw_dropout(4, g, DropoutRates(0.15, 0.5, 0.15))
    ref = torch.Generator().manual_seed(3)
    u_text, u_spk, u_lyr = (torch.rand(4, generator=ref) for _ in range(3))
    assert masks.text.tolist() == [0 if u < 0.15 else 1 for u in u_text.tolist()]
    assert masks.speaker.tolist() == [0 if u < 0.5 else 1 for u in u_spk.tolist()]
    assert masks.lyrics.tolist() == [0 if u < 0.15 else 1 for u in u_lyr.tolist()]


def test_dropout_zeroes_only_the_dropped_items():
    from acestep_core.training.dropout import DropoutMasks

    masks = DropoutMasks(torch.tensor([1, 0]), torch.tensor([0, 1]), torch.tensor([0, 1]))
    text = torch.ones(2, 3, 4)
    spk = torch.full((2, 5), 2.0)
    ids = torch.tensor([[261, 7, 2], [261, 8, 2]])
    mask = torch.ones(2, 3, dtype=torch.long)
    t, s, i, m = apply_dropout(masks, text, spk, ids, mask)
    assert t[0].eq(1).all() and t[1].eq(0).all()
    assert s[0].eq(0).all() and s[1].eq(2).all()
    assert i.tolist() == [[0, 0, 0], [261, 8, 2]] and m.tolist() == [[0, 0, 0], [1, 1, 1]]


def test_schedule_is_the_shifted_flow_match_table():
    s = TrainSchedule.flow_match(1000, 3.0)
    assert s.sigmas.dtype == torch.float32 and s.sigmas.shape == (1000,)
    assert s.sigmas[0].item() == pytest.approx(1.0)
    # last entry: t = 1/1000, sigma = 3·0.001/(1 + 2·0.001)
    assert s.sigmas[-1].item() == pytest.approx(0.003 / 1.002, rel=1e-6)
    # index 500: t = 1000 − 500·(999/999) = 500 → s = 0.5 → sigma = 1.5/2 = 0.75
    assert s.sigmas[500].item() == pytest.approx(0.75, rel=1e-6)
    assert torch.equal(s.timesteps, s.sigmas * 1000)


def test_logit_normal_indices_and_sigma_lookup():
    s = TrainSchedule.flow_match()
    g = torch.Generator().manual_seed(0)
    idx = s.sample_indices(3, g)
    u = torch.normal(0.0, 1.0, size=(3,), generator=torch.Generator().manual_seed(0))
    by_hand = [min(max(math.floor(torch.sigmoid(x).item() * 1000), 0), 999) for x in u]
    assert idx.tolist() == by_hand
    # u = 0 → sigmoid 0.5 → index 500 → sigma 0.75, timestep 750
    assert s.sigmas_for(s.timesteps[torch.tensor([500])]).item() == pytest.approx(0.75, rel=1e-6)
    assert torch.equal(s.sigmas_for(s.timesteps[idx]), s.sigmas[idx])


def test_noising_and_preconditioning_by_hand():
    x0 = torch.tensor([2.0, -1.0]).reshape(1, 1, 1, 2)
    noise = torch.tensor([1.0, 3.0]).reshape(1, 1, 1, 2)
    sigma = torch.tensor([0.25])
    xt = noisy_latents(x0, noise, sigma)
    assert xt.flatten().tolist() == [0.25 * 1 + 0.75 * 2, 0.25 * 3 + 0.75 * -1]  # [1.75, 0.0]
    v = torch.tensor([4.0, -2.0]).reshape(1, 1, 1, 2)
    est = precondition(v, xt, sigma)
    assert est.flatten().tolist() == [4 * -0.25 + 1.75, -2 * -0.25 + 0.0]  # [0.75, 0.5]


def test_masked_mse_weights_items_by_valid_fraction():
    est = torch.zeros(2, 1, 1, 4)
    x0 = torch.ones(2, 1, 1, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float32)
    # item 0: mean sq err 1 · fraction 1 = 1; item 1: (1+1+0+0)/4 = 0.5 · fraction 0.5 = 0.25
    assert masked_mse(est, x0, mask).item() == pytest.approx((1 + 0.25) / 2)
    # no padding: the plain MSE
    assert masked_mse(est, 3 * x0, torch.ones(2, 4)).item() == pytest.approx(9.0)


def test_learning_rate_warms_up_then_decays_to_zero():
    assert [lr_factor(k, 10, 110) for k in (0, 1, 5, 10, 60, 110, 120)] == [0.0, 0.1, 0.5, 1.0, 0.5, 0.0, 0.0]


def test_collate_pads_with_zeros_and_masks_frames():
    a = EncodedSong("a", torch.ones(8, 16, 3), [EncodedPrompt(torch.ones(2, 4), torch.ones(2, dtype=torch.long))],
                    torch.tensor([261, 5]), torch.ones(2, dtype=torch.long))
    b = EncodedSong("b", torch.ones(8, 16, 5), [EncodedPrompt(torch.ones(3, 4), torch.ones(3, dtype=torch.long))],
                    torch.tensor([261]), torch.ones(1, dtype=torch.long))
    batch = collate([a, b])
    assert batch.latents.shape == (2, 8, 16, 5) and batch.latents[0, :, :, 3:].eq(0).all()
    assert batch.frame_mask.tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch.text_states.shape == (2, 3, 4) and batch.text_mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert batch.lyric_ids.tolist() == [[261, 5], [261, 0]] and batch.lyric_mask.tolist() == [[1, 1], [1, 0]]
    assert batch.speaker.shape == (2, 512) and batch.speaker.eq(0).all()


def test_collate_takes_each_songs_tag_order_of_the_epoch():
    def prompt(v: float) -> EncodedPrompt:
        return EncodedPrompt(torch.full((2, 4), v), torch.ones(2, dtype=torch.long))

    song = EncodedSong("a", torch.ones(8, 16, 3), [prompt(0.0), prompt(1.0), prompt(2.0)],
                       torch.tensor([261]), torch.ones(1, dtype=torch.long))
    assert [collate([song], epoch).text_states[0, 0, 0].item() for epoch in range(5)] == [0, 1, 2, 0, 1]


def test_each_read_of_a_song_takes_the_next_tag_order():
    from acestep_core.training.loop import micro_batch

    songs = [EncodedSong(name, torch.ones(8, 16, 3), [], torch.tensor([261]), torch.ones(1, dtype=torch.long))
             for name in ("a", "b")]
    items = songs * 3  # repeat 3: every epoch reads each song three times
    seen: dict[str, list[int]] = {"a": [], "b": []}
    for index in range(12):  # two epochs of six micro-batches of one song
        chosen, orders, epoch = micro_batch(items, 1, 7, index, len(songs))
        assert epoch == index // 6
        seen[chosen[0].name] += orders
    assert sorted(seen["a"]) == sorted(seen["b"]) == [0, 1, 2, 3, 4, 5]  # no order read twice


def test_tag_orders_shuffle_as_the_original():
    prompt = "pop, rock, piano, female vocals, 120 bpm, bright"
    tags = sorted(prompt.split(", "))
    texts = tag_texts(prompt, 8, 42, "song")
    assert len(texts) == 8 and len(set(texts)) > 1  # shuffled, not one order repeated
    assert all(sorted(t.split(", ")) == tags for t in texts)  # every tag kept, split and joined at ", "
    assert tag_texts(prompt, 8, 42, "song") == texts  # seeded: a resumed run encodes the same texts
    assert tag_texts(prompt, 8, 43, "song") != texts
    assert tag_texts(prompt, 1, 42, "song") == [prompt]  # one order: the tags as written
    long = ", ".join(f"tag{i:03d}" for i in range(100))  # 698 characters: cut at 256 after shuffling
    assert all(len(t) == 256 for t in tag_texts(long, 3, 0, "x"))
    assert tag_texts(long, 1, 0, "x") == [long[:256]]


def test_lora_config_parsing_and_scaling():
    spec = parse_lora_config(RAPMACHINE_LORA_CONFIG)
    assert spec.scaling == pytest.approx(32 / 16)  # rsLoRA: alpha / sqrt(r)
    assert parse_lora_config({"r": 16, "lora_alpha": 32, "target_modules": ["to_q"]}).scaling == 2.0
    assert spec.matches("transformer_blocks.3.attn.to_out.0") and not spec.matches("transformer_blocks.3.attn.to_out")
    assert spec.matches("lyric_encoder.encoders.0.self_attn.linear_q") and not spec.matches("x.linear_pos")
    with pytest.raises(LoraConfigError, match="lora_dropout"):
        parse_lora_config({**RAPMACHINE_LORA_CONFIG, "lora_dropout": 0.1})
    with pytest.raises(LoraConfigError, match="unknown field"):
        parse_lora_config({**RAPMACHINE_LORA_CONFIG, "rank": 3})
    with pytest.raises(LoraConfigError, match="target_modules"):
        parse_lora_config({"r": 4})


def test_a_bfloat16_model_gets_the_timesteps_unrounded():
    """bfloat16 would turn 679.43 into 680: the DiT gets float32 timesteps (it embeds them in float32)."""
    from torch import nn

    from acestep_core.training.batch import TrainBatch
    from acestep_core.training.dropout import DropoutMasks
    from acestep_core.training.step import StepDraws, loss_for_draws

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1, dtype=torch.bfloat16))
            self.seen = []

        def encode(self, text, text_mask, speaker, ids, mask):
            return torch.zeros(text.shape[0], 1, 4, dtype=torch.bfloat16), torch.ones(text.shape[0], 1)

        def decode(self, x, attn, states, mask, timestep, output_length):
            self.seen.append(timestep)
            return x * self.w

    schedule = TrainSchedule.flow_match()
    batch = TrainBatch(torch.ones(1, 8, 16, 2), torch.ones(1, 2), torch.ones(1, 3, 4), torch.ones(1, 3, dtype=torch.long),
                       torch.zeros(1, 512), torch.tensor([[261, 5]]), torch.ones(1, 2, dtype=torch.long))
    keep = torch.ones(1, dtype=torch.long)
    index = int((schedule.timesteps - 679.4310302734375).abs().argmin())
    draws = StepDraws(DropoutMasks(keep, keep, keep), torch.zeros(1, 8, 16, 2), torch.tensor([index]), 0)
    probe = Probe()
    loss_for_draws(probe, batch, draws, schedule, dtype=torch.bfloat16)
    assert probe.seen[0].dtype == torch.float32 and probe.seen[0].item() == schedule.timesteps[index].item()
    assert probe.seen[0].item() != round(probe.seen[0].item())  # a timestep that bfloat16 would round
