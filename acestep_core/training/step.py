"""One training step's forward pass: dropout, noise, timesteps, DiT, preconditioned masked loss.

Follows the original trainer's `run_step` with the SSL (REPA) losses off: the transformer is
called as in its training `forward` (encode the conditions, then decode the noisy latents against
the encoder states, all with gradients). Randomness comes from one generator, drawn in the
original's order: the three dropout vectors, then the noise, then the logit-normal timesteps.
Noise is drawn on the CPU so a seed gives the same run on every device.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .batch import TrainBatch
from .dropout import DropoutRates, apply_dropout, draw_dropout
from .loss import masked_mse, noisy_latents, precondition
from .timesteps import TrainSchedule

NO_DROPOUT = DropoutRates(0.0, 0.0, 0.0)
ORIGINAL_DROPOUT = DropoutRates()


@dataclass
class StepOutput:
    """The loss (a scalar with a graph) and what was drawn for it."""

    loss: torch.Tensor
    timesteps: torch.Tensor
    sigmas: torch.Tensor


def flow_matching_loss(model: nn.Module, batch: TrainBatch, generator: torch.Generator, schedule: TrainSchedule, *,
                       rates: DropoutRates = ORIGINAL_DROPOUT, logit_mean: float = 0.0, logit_std: float = 1.0,
                       device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> StepOutput:
    """The original's denoising loss for `batch` on `model` (an AceStepTransformer, LoRA'd or not)."""
    b = batch.latents.shape[0]
    masks = draw_dropout(b, generator, rates)
    text, speaker, lyric_ids, lyric_mask = apply_dropout(masks, batch.text_states, batch.speaker, batch.lyric_ids,
                                                         batch.lyric_mask)
    x0 = batch.latents.to(device)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(device)
    idx = schedule.sample_indices(b, generator, logit_mean, logit_std)
    timesteps = schedule.timesteps[idx]
    sigmas = schedule.sigmas_for(timesteps).to(device)
    x_t = noisy_latents(x0, noise, sigmas)

    states, context_mask = model.encode(text.to(device, dtype), batch.text_mask.to(device), speaker.to(device, dtype),
                                        lyric_ids.to(device), lyric_mask.to(device))
    all_frames = torch.ones(b, x0.shape[-1], device=device, dtype=dtype)
    velocity = model.decode(x_t.to(dtype), all_frames, states, context_mask, timestep=timesteps.to(device, dtype),
                            output_length=x0.shape[-1])
    estimate = precondition(velocity.float(), x_t, sigmas)
    loss = masked_mse(estimate, x0, batch.frame_mask.to(device))
    return StepOutput(loss, timesteps, sigmas.cpu())
