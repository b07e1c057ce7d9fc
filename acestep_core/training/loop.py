"""`train_lora`: the original trainer's LoRA recipe as one plain loop.

    1. read and check the training folder (every bad song reported before any model loads)
    2. encode each song once (DCAE latents, UMT5 states, lyric tokens), then drop those encoders
    3. load the transformer (frozen, model dtype) or take the caller's, add float32 LoRA layers, AdamW
    4. [resume] load the newest checkpoint folder's LoRA, optimizer and generator state
    5. loop: seeded data order, dropout + noise + logit-normal timesteps, masked loss,
       accumulation, clip 0.5, warm-up/decay learning rate; a checkpoint folder every N steps
    6. a final checkpoint folder, loadable by `acestep_core.load_lora`
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import resolve_checkpoint
from ..loading import load_transformer, resolve_dtype
from ..models.operations import TorchOps
from .batch import collate
from .checkpoints import (
    ResumeError,
    TrainingState,
    check_recipe,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from .config import TrainConfig, TrainResult
from .data import DataError, Song, scan_songs
from .encoded import EncodedSong, encode_songs
from .grad_checkpoint import checkpointed_blocks
from .lora_layers import LoraLayers, inject_lora, remove_lora
from .schedule import lr_factor, make_optimizer, set_learning_rate
from .step import flow_matching_loss
from .timesteps import TrainSchedule

log = logging.getLogger(__name__)
_LORA_INIT_SEED_OFFSET = 1  # the LoRA's initial A weights come from seed + 1, the step draws from seed


@dataclass
class StepReport:
    """Sent to `on_step` after every optimizer step."""

    step: int
    total: int
    loss: float
    learning_rate: float
    epoch: int
    saved: Path | None


def prepare_songs(config: TrainConfig, say: Callable[[str], None]) -> tuple[list, list[str]]:
    """Find and check the songs; bad ones are skipped (with a message each) or stop the run, as configured."""
    songs, problems = scan_songs(config.data, config.on_bad_data == "error",
                                 "pass on_bad_data='skip' (--skip-bad-data) to train without them")
    for p in problems:
        say(f"skipped: {p}")
    return songs, [str(p) for p in problems]


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled item order of one epoch, a pure function of (seed, epoch), so resume needs no state."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return torch.randperm(n, generator=g).tolist()


def micro_batch(items: list[EncodedSong], batch_size: int, seed: int, index: int,
                num_songs: int) -> tuple[list[EncodedSong], list[int], int]:
    """The `index`-th micro-batch of the run (epochs follow each other), each song's tag order, the epoch.

    `items` is the `num_songs` songs repeated `repeat` times; copy c of a song in epoch e uses tag
    order e·repeat + c, so each read of a song meets the next order (the original reshuffles at
    every read).
    """
    per_epoch = math.ceil(len(items) / batch_size)
    epoch, pos = divmod(index, per_epoch)
    chosen = epoch_order(len(items), seed, epoch)[pos * batch_size:(pos + 1) * batch_size]
    repeat = len(items) // num_songs
    return [items[i] for i in chosen], [epoch * repeat + i // num_songs for i in chosen], epoch


def total_steps(config: TrainConfig, num_items: int) -> int:
    """Optimizer steps of the run: max_steps, or fewer when max_epochs ends it first."""
    per_epoch = math.ceil(num_items / config.batch_size)
    steps = [config.max_steps] if config.max_steps else []
    if config.max_epochs:
        steps.append(math.ceil(config.max_epochs * per_epoch / config.accumulate))
    return min(steps)


def check_out_folder(config: TrainConfig, out: Path) -> list:
    """A new run needs a folder without checkpoints; a resumed one needs at least one."""
    existing = list_checkpoints(out)
    if not config.resume and existing:
        raise ResumeError(f"{out} already holds checkpoints of a run (e.g. {existing[-1][2].name}); pass "
                          "resume=True (--resume) to continue it, or choose another output folder.")
    if config.resume and not existing:
        raise ResumeError(f"nothing to resume: {out} holds no checkpoint folder; start without --resume.")
    return existing


def _start(config: TrainConfig, out: Path, lora: LoraLayers, optimizer: torch.optim.Optimizer,
           generator: torch.Generator, say: Callable[[str], None]) -> tuple[int, int, list[float]]:
    """Fresh start, or the state of the newest checkpoint in `out` (config.resume)."""
    existing = check_out_folder(config, out)
    if not config.resume:
        return 0, 0, []
    folder = existing[-1][2]
    weights, state = load_checkpoint(folder)
    check_recipe(state.recipe, config.recipe(), folder)
    lora.load_state_dict(weights)
    optimizer.load_state_dict(state.optimizer)
    generator.set_state(state.generator)
    say(f"resumed from {folder} (step {state.step})")
    return state.step, state.micro_batches, state.losses


@dataclass
class TrainingData:
    """The songs of a run, each encoded once (`encode_training_data`), and those left out with the reason."""

    songs: list[EncodedSong]
    skipped: list[str]


def encode_training_data(config: TrainConfig, pipe, say: Callable[[str], None] | None = None, *,
                         checked: tuple[list[Song], list[str]] | None = None) -> TrainingData:
    """Find, check and encode the songs of `config.data` with `pipe`'s text encoder, codec and tokenizer.

    `pipe` is any `AceStepPipeline` (or a host's view of one); nothing is unloaded here. `checked`:
    the songs and problems `prepare_songs` already gave (so the folder is not read twice).
    """
    say = say or log.info
    songs, skipped = checked if checked is not None else prepare_songs(config, say)

    def skip(problem: DataError) -> None:
        say(f"skipped: {problem}")
        skipped.append(str(problem))

    encoded = encode_songs(pipe, songs, lambda i, n: say(f"encoded song {i}/{n}"),
                           skip if config.on_bad_data == "skip" else None, tag_orders=config.tag_orders,
                           seed=config.seed)
    if not encoded:
        raise DataError(f"no usable song in {config.data}: every song was skipped.")
    return TrainingData(encoded, skipped)


def _own_networks(config: TrainConfig, say: Callable[[str], None],
                  need_transformer: bool) -> tuple[TrainingData, nn.Module | None]:
    """Check the songs, load the checkpoint, encode them, drop the encoders, then load a transformer to train."""
    from ..pipeline import AceStepPipeline

    checked = prepare_songs(config, say)  # every bad song is reported before any model loads
    pipe = AceStepPipeline.from_pretrained(config.checkpoint, dtype=resolve_dtype(config.dtype), device=config.device,
                                           lyric_vocab=config.lyric_vocab, cache_dir=config.cache_dir)
    data = encode_training_data(config, pipe, say, checked=checked)
    pipe.unload("text", "dcae")
    source = pipe.source
    del pipe
    return data, _load_transformer(config, source) if need_transformer else None


def _load_transformer(config: TrainConfig, source=None) -> nn.Module:
    """The transformer to train, in plain torch layers (the host's CPU GEMM route is an inference choice)."""
    source = source or resolve_checkpoint(config.checkpoint, cache_dir=config.cache_dir)
    return load_transformer(source["transformer"], dtype=resolve_dtype(config.dtype), device=config.device,
                            operations=TorchOps)


def check_dtype(config: TrainConfig, transformer: nn.Module) -> None:
    """A given transformer computes in its own dtype; the config (recorded for resume) must say the same."""
    have = next(transformer.parameters()).dtype
    if have != resolve_dtype(config.dtype):
        raise ValueError(f"the transformer holds {str(have).removeprefix('torch.')} weights but the run's dtype is "
                         f"{config.dtype}; set dtype to {str(have).removeprefix('torch.')} (the LoRA is float32 "
                         "either way).")


@contextmanager
def _handed_back(model: nn.Module) -> Iterator[None]:
    """Put back `model`'s mode and which weights want gradients (as they were on entry) on exit."""
    was_training = model.training
    wanted = {name: p.requires_grad for name, p in model.named_parameters()}
    try:
        yield
    finally:
        model.train(was_training)
        for name, p in model.named_parameters():
            p.requires_grad_(wanted.get(name, False))


def train_lora(config: TrainConfig, *, data: TrainingData | None = None, transformer: nn.Module | None = None,
               on_step: Callable[[StepReport], None] | None = None,
               on_message: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train a LoRA on the folder `config.data`; checkpoint folders go into `config.out`.

    By default the checkpoint `config.checkpoint` is loaded for the run. A host that already holds the
    networks passes them instead: `data` from `encode_training_data` and the loaded `transformer`,
    which is trained in place (computing with its own layers, in its own dtype, on its own device)
    and handed back as it came, LoRA removed, whether the run ends, stops or fails.

    `should_stop` is asked after every optimizer step (after `on_step`): when it answers True the run
    ends there with a checkpoint folder of that step (resumable with `resume=True`), and the result
    says `stopped=True`; a host's Cancel button thus never loses the steps already trained.
    """
    say = on_message or log.info
    config.check()
    spec = config.lora_spec()
    out = Path(config.out).expanduser()
    check_out_folder(config, out)

    # 1-2. data, encoded once; 3. the transformer
    if transformer is not None:
        check_dtype(config, transformer)
    if data is None:
        data, own = _own_networks(config, say, need_transformer=transformer is None)
        transformer = transformer if transformer is not None else own
    elif transformer is None:
        transformer = _load_transformer(config)
    first = next(transformer.parameters())
    device, dtype = first.device, first.dtype
    items = data.songs * config.repeat
    steps = total_steps(config, len(items))

    with _handed_back(transformer):
        lora = inject_lora(transformer, spec, torch.Generator().manual_seed(config.seed + _LORA_INIT_SEED_OFFSET))
        try:
            with checkpointed_blocks(transformer, config.gradient_checkpointing):
                transformer.train()
                return _run(config, out, transformer, lora, items, steps, device, dtype, data, say, on_step,
                            should_stop)
        finally:
            remove_lora(transformer, lora)


def _run(config: TrainConfig, out: Path, model: nn.Module, lora: LoraLayers, items: list[EncodedSong], steps: int,
         device: torch.device, dtype: torch.dtype, data: TrainingData, say: Callable[[str], None],
         on_step: Callable[[StepReport], None] | None, should_stop: Callable[[], bool] | None) -> TrainResult:
    """Steps 4-6: optimizer (and resume), the loop, the final checkpoint."""
    optimizer = make_optimizer(lora.parameters(), config.learning_rate, config.weight_decay, config.betas)
    generator = torch.Generator().manual_seed(config.seed)
    schedule = TrainSchedule.flow_match(shift=config.shift)

    # 4. resume
    out.mkdir(parents=True, exist_ok=True)
    step, consumed, losses = _start(config, out, lora, optimizer, generator, say)
    if step >= steps:
        raise ResumeError(f"the newest checkpoint in {out} is at step {step}, already at max_steps {steps}; "
                          "raise max_steps (--max-steps) to train further.")

    # 5. the loop
    saved: list[Path] = []
    params = list(lora.parameters())
    while step < steps:
        set_learning_rate(optimizer, config.learning_rate, lr_factor(step, config.warmup_steps, steps))
        optimizer.zero_grad(set_to_none=True)
        step_loss, epoch = 0.0, 0
        for _ in range(config.accumulate):
            songs_now, orders, epoch = micro_batch(items, config.batch_size, config.seed, consumed,
                                                   len(data.songs))
            consumed += 1
            result = flow_matching_loss(model, collate(songs_now, orders), generator, schedule, rates=config.dropout,
                                        logit_mean=config.logit_mean, logit_std=config.logit_std,
                                        device=device, dtype=dtype)
            (result.loss / config.accumulate).backward()
            step_loss += float(result.loss.detach()) / config.accumulate
        if not math.isfinite(step_loss):
            raise FloatingPointError(f"the loss became {step_loss} at step {step + 1}; lower the learning rate "
                                     "or train in float32 (--dtype float32).")
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip_norm)
        optimizer.step()
        step += 1
        losses.append(step_loss)
        folder = None
        if step % config.save_every == 0 and step < steps:
            folder = save_checkpoint(out, lora, _state(step, consumed, optimizer, generator, losses, config),
                                     final=False)
            saved.append(folder)
        if on_step is not None:
            on_step(StepReport(step, steps, step_loss, optimizer.param_groups[0]["lr"], epoch, folder))
        if step < steps and should_stop is not None and should_stop():
            if folder is None:  # keep what was trained: the stop point becomes a resumable checkpoint
                saved.append(save_checkpoint(out, lora, _state(step, consumed, optimizer, generator, losses,
                                                               config), final=False))
            say(f"stopped at step {step} of {steps}; resume=True (--resume) continues from {saved[-1]}")
            break
    stopped = step < steps

    # 6. the final LoRA (a stopped run's last checkpoint stands in for it)
    if not stopped:
        saved.append(save_checkpoint(out, lora, _state(step, consumed, optimizer, generator, losses, config),
                                     final=True))
    return TrainResult(out, saved[-1], saved, step, losses, [s.name for s in data.songs], data.skipped,
                       stopped=stopped)


def _state(step: int, consumed: int, optimizer: torch.optim.Optimizer, generator: torch.Generator,
           losses: list[float], config: TrainConfig) -> TrainingState:
    return TrainingState(step, consumed, optimizer.state_dict(), generator.get_state(), list(losses), config.recipe())
