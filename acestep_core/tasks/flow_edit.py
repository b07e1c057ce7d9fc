"""Flow-edit: change the tags/lyrics of an existing song along the difference of two flows (spec §9.6).

It is a different ODE from sampling, so it owns its loop, built from the same pieces (schedule,
APG, noise draws). Conditional and unconditional halves run as one batch of two, as upstream.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..audio.geometry import check_frames
from ..conditioning import EncoderInputs, LyricTokens, PromptConditioning
from ..sampling.guidance import MomentumBuffer, apg, cfg_enabled
from ..sampling.loop import StepCallback
from ..sampling.noise import randn_tensor
from ..sampling.schedules import flow_match_schedule
from ..settings import SamplerSettings, check_number
from .plan import Draws


@dataclass
class FlowEdit:
    """Edit `src_latents` from (source prompt/lyrics) toward (target prompt/lyrics).

    n_min/n_max are fractions of the steps: only steps in [n_min, n_max) edit; steps after n_max
    sample the target freely ("remix" 0.2/0.4, "only_lyrics" 0.6/1.0 in the original UI).
    """

    src_latents: torch.Tensor
    target_prompt: PromptConditioning
    target_lyrics: LyricTokens
    n_min: float = 0.0
    n_max: float = 1.0
    n_avg: int = 1
    name: str = "edit"

    def validate(self) -> None:
        check_number("edit_n_min", self.n_min, 0.0, 1.0)
        check_number("edit_n_max", self.n_max, 0.0, 1.0)
        check_number("edit_n_avg", self.n_avg, 1, 100, integer=True)
        if self.n_min > self.n_max:
            raise ValueError(f"edit_n_min ({self.n_min}) must not exceed edit_n_max ({self.n_max})")
        check_frames(int(self.src_latents.shape[-1]), "source audio")


def _branch_inputs(prompt: PromptConditioning, lyrics: LyricTokens, batch: int, cfg_on: bool, device, dtype):
    """Encoder inputs for one side; with guidance, an unconditional half with ZERO lyric mask (§14 item 9)."""
    h, m, spk, ids, lm = EncoderInputs.make(prompt, lyrics, batch, device, dtype).astuple()
    if cfg_on:
        h = torch.cat([h, torch.zeros_like(h)], 0)
        m = torch.cat([m, m], 0)
        spk = torch.cat([spk, torch.zeros_like(spk)], 0)
        ids = torch.cat([ids, torch.zeros_like(ids)], 0)
        lm = torch.cat([lm, torch.zeros_like(lm)], 0)
    return h, m, spk, ids, lm


@torch.no_grad()
def run_flow_edit(transformer: nn.Module, source_prompt: PromptConditioning, source_lyrics: LyricTokens,
                  task: FlowEdit, settings: SamplerSettings, draws: Draws, *, batch_size: int = 1,
                  callback: StepCallback | None = None) -> torch.Tensor:
    """Upstream's flowedit_diffusion_process; every draw comes from the retake generators."""
    task.validate()
    param = next(transformer.parameters())
    device, dtype = param.device, param.dtype
    if batch_size != 1:
        raise ValueError("flow-edit works on one song at a time (batch_size must be 1), as in the original")
    pingpong = settings.scheduler_type == "pingpong"  # heun is treated as euler (§9.6)
    schedule = flow_match_schedule("euler", settings.infer_step)
    timesteps = schedule.timesteps
    cfg_on = cfg_enabled(settings.guidance_scale)
    g = settings.guidance_scale
    x_src = task.src_latents.to(device=device, dtype=dtype)
    frames = int(x_src.shape[-1])
    rows = 2 * batch_size if cfg_on else batch_size
    attention_mask = torch.ones(rows, frames, device=device, dtype=dtype)
    # Upstream runs the whole forward (encode + decode) at every call; the context is the same each
    # time, so encoding it and projecting its cross-attention K/V once gives the very same numbers.
    src_ctx = transformer.prepare_context(
        *transformer.encode(*_branch_inputs(source_prompt, source_lyrics, batch_size, cfg_on, device, dtype)))
    tar_ctx = transformer.prepare_context(
        *transformer.encode(*_branch_inputs(task.target_prompt, task.target_lyrics, batch_size, cfg_on, device, dtype)))

    def velocity(z: torch.Tensor, t: torch.Tensor, context, momentum: MomentumBuffer | None) -> torch.Tensor:
        zz = torch.cat([z, z]) if cfg_on else z
        v = transformer.decode(zz, attention_mask, timestep=t.expand(zz.shape[0]), output_length=frames,
                               context=context)
        if not cfg_on:
            return v
        v_c, v_u = v.chunk(2)
        return apg(v_c, v_u, g, momentum)

    mom_src, mom_tar = MomentumBuffer(), MomentumBuffer()
    z_edit = x_src.clone()
    x_tar = None
    n_lo = int(settings.infer_step * task.n_min)
    n_hi = int(settings.infer_step * task.n_max)
    total = len(timesteps)
    gen0 = draws.retake[0]
    for i, t in enumerate(timesteps):
        if i < n_lo:
            continue
        tau = t / 1000
        tau_next = timesteps[i + 1] / 1000 if i + 1 < total else torch.zeros_like(tau)
        if i < n_hi:
            dv = torch.zeros_like(x_src)
            for _ in range(task.n_avg):
                noise = randn_tensor(x_src.shape, draws.retake, dtype=dtype, device=device)
                z_s = (1 - tau) * x_src + tau * noise
                z_t = z_edit + z_s - x_src
                v_s = velocity(z_s, t, src_ctx, mom_src)
                v_t = velocity(z_t, t, tar_ctx, None)  # no momentum for the target here (upstream)
                dv += (1 / task.n_avg) * (v_t - v_s)
            z_edit = z_edit.to(torch.float32)
            if not pingpong:
                z_edit = (z_edit + (tau_next - tau) * dv).to(dtype)
            else:
                # Upstream draws this noise and discards the result: z_edit is not advanced (§9.6 bug).
                torch.empty_like(z_edit).normal_(generator=gen0)
        else:
            if i == n_hi:
                noise = randn_tensor(x_src.shape, draws.retake, dtype=dtype, device=device)
                sigma = schedule.sigmas[i]  # the exact sigma, not t/1000 (§14 item 2)
                x_tar = z_edit + (sigma * noise + (1.0 - sigma) * x_src) - x_src
            v_t = velocity(x_tar, t, tar_ctx, mom_tar)
            x_tar = x_tar.to(torch.float32)
            if not pingpong:
                x_tar = (x_tar + (tau_next - tau) * v_t).to(dtype)
            else:
                d = x_tar - tau * v_t
                x_tar = (1 - tau_next) * d + tau_next * torch.empty_like(z_edit).normal_(generator=gen0)
        if callback is not None:
            callback(i + 1, total, z_edit if x_tar is None else x_tar)
    return z_edit if x_tar is None else x_tar
