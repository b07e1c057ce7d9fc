"""One training step's forward pass: dropout, noise, timesteps, DiT, preconditioned masked loss.

Follows the original trainer's `run_step` with the SSL (REPA) losses off: the transformer is
called as in its training `forward` (encode the conditions, then decode the noisy latents against
the encoder states, all with gradients). The random draws come from one generator, in the
original's order: the three dropout vectors, then the noise, then the logit-normal timesteps.
Noise is drawn on the CPU. The lyric encoder's own dropout (nn.Dropout, training mode) draws from
the compute device's default generator: it is seeded from our generator for the forward pass and
put back afterwards, so a run is reproducible (and resumable) without touching the host's random
state. Those masks come from the device's generator, so a run (and its resumption) repeats bit for
bit on the same kind of device, not across CPU and GPU. Drawing and computing are
separate functions so that a step can be replayed from recorded draws (the parity test does).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .batch import TrainBatch
from .dropout import DropoutMasks, DropoutRates, apply_dropout, draw_dropout
from .loss import masked_mse, noisy_latents, precondition
from .timesteps import TrainSchedule

NO_CONDITION_DROPOUT = DropoutRates(0.0, 0.0, 0.0)  # the network's own dropout follows train()/eval()
ORIGINAL_DROPOUT = DropoutRates()


@dataclass
class StepDraws:
    """Everything random in one step: condition dropout, noise [B,8,16,T], schedule indices [B], and the
    seed of the network's own dropout layers."""

    masks: DropoutMasks
    noise: torch.Tensor
    indices: torch.Tensor
    dropout_seed: int


@dataclass
class StepOutput:
    """The loss (a scalar with a graph) and what was drawn for it."""

    loss: torch.Tensor
    timesteps: torch.Tensor
    sigmas: torch.Tensor


def draw_step(batch: TrainBatch, generator: torch.Generator, schedule: TrainSchedule, *,
              rates: DropoutRates = ORIGINAL_DROPOUT, logit_mean: float = 0.0, logit_std: float = 1.0) -> StepDraws:
    """The step's random draws from `generator`, on the CPU, in the original's order."""
    b = batch.latents.shape[0]
    masks = draw_dropout(b, generator, rates)
    noise = torch.randn(batch.latents.shape, generator=generator, dtype=batch.latents.dtype)
    indices = schedule.sample_indices(b, generator, logit_mean, logit_std)
    dropout_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return StepDraws(masks, noise, indices, dropout_seed)


@contextmanager
def seeded_global_rng(seed: int, device: torch.device) -> Iterator[None]:
    """The CPU's and `device`'s default generators (what nn.Dropout draws from) seeded with `seed`
    inside and put back on exit; no other device's generator is touched."""
    if device.type == "cpu":
        with torch.random.fork_rng(devices=[], device_type="cpu"):
            torch.default_generator.manual_seed(seed)
            yield
        return
    module = torch.get_device_module(device.type)
    index = device.index if device.index is not None else getattr(module, "current_device", lambda: 0)()
    with torch.random.fork_rng(devices=[index], device_type=device.type):
        torch.default_generator.manual_seed(seed)
        generators = getattr(module, "default_generators", None)
        if generators:
            generators[index].manual_seed(seed)
        else:  # a single-device backend (mps)
            module.manual_seed(seed)
        yield


def loss_for_draws(model: nn.Module, batch: TrainBatch, draws: StepDraws, schedule: TrainSchedule, *,
                   device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> StepOutput:
    """The original's denoising loss for `batch` on `model` (an AceStepTransformer, LoRA'd or not)."""
    b = batch.latents.shape[0]
    text, speaker, lyric_ids, lyric_mask = apply_dropout(draws.masks, batch.text_states, batch.speaker,
                                                         batch.lyric_ids, batch.lyric_mask)
    x0 = batch.latents.to(device)
    timesteps = schedule.timesteps[draws.indices]
    sigmas = schedule.sigmas_for(timesteps).to(device)
    x_t = noisy_latents(x0, draws.noise.to(device), sigmas)

    with seeded_global_rng(draws.dropout_seed, torch.device(device)):
        states, context_mask = model.encode(text.to(device, dtype), batch.text_mask.to(device),
                                            speaker.to(device, dtype), lyric_ids.to(device), lyric_mask.to(device))
    all_frames = torch.ones(b, x0.shape[-1], device=device, dtype=dtype)
    # Timesteps stay float32 (the sinusoid is computed in float32): bfloat16 would round 679.43 to 680,
    # where the original (float32 latents, any precision mode) passes them unrounded.
    velocity = model.decode(x_t.to(dtype), all_frames, states, context_mask, timestep=timesteps.to(device),
                            output_length=x0.shape[-1])
    estimate = precondition(velocity.float(), x_t, sigmas)
    loss = masked_mse(estimate, x0, batch.frame_mask.to(device))
    return StepOutput(loss, timesteps, sigmas.cpu())


def flow_matching_loss(model: nn.Module, batch: TrainBatch, generator: torch.Generator, schedule: TrainSchedule, *,
                       rates: DropoutRates = ORIGINAL_DROPOUT, logit_mean: float = 0.0, logit_std: float = 1.0,
                       device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> StepOutput:
    """Draw one step's randomness from `generator`, then compute its loss."""
    draws = draw_step(batch, generator, schedule, rates=rates, logit_mean=logit_mean, logit_std=logit_std)
    return loss_for_draws(model, batch, draws, schedule, device=device, dtype=dtype)
