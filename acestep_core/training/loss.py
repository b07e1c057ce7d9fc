"""The flow-matching objective of the original trainer, as small formulas.

Noise: `x_t = σ·ε + (1−σ)·x0`. The DiT predicts the velocity v; the trainer turns it into an x0
estimate with the EDM-style preconditioning `x̂0 = v·(−σ) + x_t` and regresses x̂0 on x0. The MSE is
taken over masked, flattened items (`mean` over all elements, padding included as zeros), then
weighted by each item's fraction of valid frames and averaged over the batch. With no padding (the
original's batch of one) this is the plain MSE.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def expand_sigma(sigma: torch.Tensor, ndim: int) -> torch.Tensor:
    """σ [B] → [B, 1, ..., 1] for broadcasting against a tensor of `ndim` dims."""
    return sigma.reshape(-1, *([1] * (ndim - 1)))


def noisy_latents(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """`x_t = σ·noise + (1 − σ)·x0` with σ [B] (or already broadcastable)."""
    s = expand_sigma(sigma, x0.ndim) if sigma.ndim == 1 else sigma
    return s * noise + (1.0 - s) * x0


def precondition(prediction: torch.Tensor, x_t: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The x0 estimate from a velocity prediction: `prediction·(−σ) + x_t`."""
    s = expand_sigma(sigma, x_t.ndim) if sigma.ndim == 1 else sigma
    return prediction * (-s) + x_t


def masked_mse(estimate: torch.Tensor, target: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
    """The original's loss: per item mean((est·m − x0·m)²) · mean(m), averaged over the batch.

    `estimate`, `target`: [B, C, H, T]; `frame_mask`: [B, T] (1 = a real latent frame).
    """
    b = target.shape[0]
    m = frame_mask[:, None, None, :].to(target.dtype).expand(-1, target.shape[1], target.shape[2], -1)
    per_item = F.mse_loss((estimate * m).reshape(b, -1), (target * m).reshape(b, -1), reduction="none").mean(1)
    return (per_item * m.reshape(b, -1).mean(1)).mean()
