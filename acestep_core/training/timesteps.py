"""Training timesteps: logit-normal draws on the 1000-step flow-matching schedule (shift 3).

The original trainer builds `FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3)`:
`t = linspace(1, 1000, 1000)` descending (float32), `σ = shift·s/(1+(shift−1)·s)` with `s = t/1000`,
and `timesteps = σ·1000`. A training timestep is `timesteps[int(sigmoid(u)·1000)]` with
`u ~ N(mean, std)` (SD3's "lognorm" density), and its σ is looked up by finding that timestep in
the schedule again (`get_sd3_sigmas`), which is the same index.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class TrainSchedule:
    """The training schedule's σ and timestep tables (float32, descending, on the CPU)."""

    sigmas: torch.Tensor
    timesteps: torch.Tensor

    @classmethod
    def flow_match(cls, num_train_timesteps: int = 1000, shift: float = 3.0) -> TrainSchedule:
        t = np.linspace(1.0, float(num_train_timesteps), num_train_timesteps, dtype=np.float32)[::-1].copy()
        s = torch.from_numpy(t) / num_train_timesteps
        sigmas = shift * s / (1 + (shift - 1) * s)
        return cls(sigmas, sigmas * num_train_timesteps)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.sigmas.shape[0])

    def sample_indices(self, batch: int, generator: torch.Generator, mean: float = 0.0,
                       std: float = 1.0) -> torch.Tensor:
        """Logit-normal indices into the schedule: `clamp(int(sigmoid(u)·N), 0, N−1)`, `u ~ N(mean, std)`."""
        u = torch.normal(mean=mean, std=std, size=(batch,), generator=generator, device="cpu")
        return self.indices_for(u)

    def indices_for(self, u: torch.Tensor) -> torch.Tensor:
        """The schedule index of each normal draw `u`: `clamp(int(sigmoid(u)·N), 0, N−1)`."""
        n = self.num_train_timesteps
        return torch.clamp((torch.sigmoid(u) * n).long(), 0, n - 1)

    def sigmas_for(self, timesteps: torch.Tensor) -> torch.Tensor:
        """σ of each timestep, found by value in the schedule as the original's `get_sd3_sigmas` does."""
        idx = [int((self.timesteps == t).nonzero().reshape(-1)[0]) for t in timesteps.cpu()]
        return self.sigmas[idx]
