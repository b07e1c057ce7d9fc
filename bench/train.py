"""One LoRA training step of the full-size DiT (random weights) on a `--seconds` clip.

What `acestep_core.training` does per optimizer step, timed: condition dropout, noise, a
logit-normal timestep, the DiT forward and backward with the LoRA (RapMachine's targets, rank
`--lora-rank`, alpha 32, rsLoRA), clipping and AdamW. Frozen weights in `--dtype`, the LoRA and
its optimizer state in float32, as in training. `--no-grad-checkpointing` keeps every block's
activations instead of recomputing them. The first (untimed) step also creates AdamW's state,
so the peak RSS is a steady-state training step's.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import common as C
import torch

DIT_CONFIG = Path(__file__).resolve().parent / "dit_config.json"


def build_frozen_dit(dtype: torch.dtype, device: str, layers: int = 0):
    """The released DiT shape with random weights, built as training loads it (plain torch layers)."""
    from acestep_core.models.operations import TorchOps
    from acestep_core.models.transformer import AceStepTransformer

    cfg = json.loads(DIT_CONFIG.read_text())
    if layers:
        cfg["num_layers"] = layers
    model = AceStepTransformer.from_config(cfg, dtype=dtype, device="meta", operations=TorchOps)
    model = model.to_empty(device=device)
    C.fill_random_(model)
    return model.requires_grad_(False), cfg


def training_batch(seconds: float, cfg: dict, text_tokens: int, lyric_tokens: int):
    from acestep_core.training.batch import TrainBatch

    g = torch.Generator().manual_seed(0)
    t = C.frames_for_seconds(seconds)
    return TrainBatch(
        latents=torch.randn(1, 8, 16, t, generator=g),
        frame_mask=torch.ones(1, t),
        text_states=torch.randn(1, text_tokens, cfg["text_embedding_dim"], generator=g),
        text_mask=torch.ones(1, text_tokens, dtype=torch.long),
        speaker=torch.zeros(1, cfg["speaker_embedding_dim"]),
        lyric_ids=torch.randint(1, cfg["lyric_encoder_vocab_size"], (1, lyric_tokens), generator=g),
        lyric_mask=torch.ones(1, lyric_tokens, dtype=torch.long),
    )


def part_train(args, dtype) -> dict:
    from acestep_core.training.grad_checkpoint import checkpointed_blocks
    from acestep_core.training.lora_config import (
        RAPMACHINE_LORA_CONFIG,
        parse_lora_config,
    )
    from acestep_core.training.lora_layers import inject_lora
    from acestep_core.training.schedule import make_optimizer
    from acestep_core.training.step import flow_matching_loss
    from acestep_core.training.timesteps import TrainSchedule

    device = args.device
    t0 = time.perf_counter()
    model, cfg = build_frozen_dit(dtype, device, args.layers)
    build_s = time.perf_counter() - t0
    rss_model = C.rss_gb()
    spec = parse_lora_config({**RAPMACHINE_LORA_CONFIG, "r": args.lora_rank}, where="the benchmark")
    lora = inject_lora(model, spec, torch.Generator().manual_seed(1))
    params = list(lora.parameters())
    optimizer = make_optimizer(params, 1e-4, 1e-2, (0.8, 0.9))
    batch = training_batch(args.seconds, cfg, args.text_tokens, args.lyric_tokens).to(device)
    schedule = TrainSchedule.flow_match()
    generator = torch.Generator().manual_seed(0)
    losses = []

    def step():
        optimizer.zero_grad(set_to_none=True)
        out = flow_matching_loss(model, batch, generator, schedule, device=device, dtype=dtype)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.5)
        optimizer.step()
        losses.append(float(out.loss.detach()))

    model.train()
    with torch.enable_grad(), checkpointed_blocks(model, not args.no_grad_checkpointing):
        times = C.time_calls(step, repeat=args.repeat, warmup=max(1, args.warmup), device=device)
    return {"time_s": min(times), "times": times, "build_s": build_s, "rss_model_gb": rss_model,
            "params": C.count_params(model), "lora_params": sum(p.numel() for p in params),
            "lora_rank": args.lora_rank, "grad_checkpointing": not args.no_grad_checkpointing,
            "losses": losses}
