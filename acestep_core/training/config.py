"""`TrainConfig`: one LoRA training run, with the original trainer's defaults."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .dropout import DropoutRates
from .lora_config import LoraSpec, parse_lora_config, read_lora_config

BAD_DATA_POLICIES = ("error", "skip")


@dataclass
class TrainConfig:
    """Where the data and model are, where the LoRA goes, and the recipe (defaults: the original's).

    `ssl_coeff` must stay 0: the original adds MERT and mHuBERT representation-alignment losses
    through the transformer's projector heads, but those SSL models are remote-code Hugging Face
    models (trust_remote_code) that we do not run; the projector heads are left untouched.
    """

    data: str | Path
    lora_config: str | Path | dict | LoraSpec
    out: str | Path
    checkpoint: str | Path | None = None  # folder / all-in-one file / HF repo id (None: the official repo)
    max_steps: int | None = None  # optimizer steps; the learning rate decays linearly to 0 there
    max_epochs: int | None = None
    seed: int = 42
    save_every: int = 2000  # the original's every_n_train_steps
    learning_rate: float = 1e-4
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.8, 0.9)
    warmup_steps: int = 10
    grad_clip_norm: float = 0.5
    batch_size: int = 1
    accumulate: int = 1  # micro-batches per optimizer step
    repeat: int = 1  # how many times each song appears per epoch (convert2hf_dataset's repeat_count)
    tag_orders: int = 8  # shuffled tag orders encoded per song, one per read in turn (1: as written)
    resume: bool = False  # continue from the newest checkpoint folder in `out`
    dtype: str = "float32"  # the frozen base weights; LoRA weights and optimizer state are float32
    device: str = "cpu"
    gradient_checkpointing: bool = True
    on_bad_data: str = "error"  # "error": list every bad song and stop; "skip": warn and train without them
    lyric_vocab: str | Path | None = None
    cache_dir: str | Path | None = None
    shift: float = 3.0
    logit_mean: float = 0.0
    logit_std: float = 1.0
    dropout: DropoutRates = field(default_factory=DropoutRates)
    ssl_coeff: float = 0.0

    def lora_spec(self) -> LoraSpec:
        if isinstance(self.lora_config, LoraSpec):
            return self.lora_config
        if isinstance(self.lora_config, dict):
            return parse_lora_config(self.lora_config)
        return read_lora_config(self.lora_config)

    def check(self) -> None:
        """Refuse settings that cannot run, before anything is loaded."""
        def positive(name: str, value: Any, allow_none: bool = False) -> None:
            if value is None and allow_none:
                return
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

        if self.max_steps is None and self.max_epochs is None:
            raise ValueError("give max_steps (--max-steps N) or max_epochs: training needs an end")
        positive("max_steps", self.max_steps, allow_none=True)
        positive("max_epochs", self.max_epochs, allow_none=True)
        for name in ("save_every", "batch_size", "accumulate", "repeat", "tag_orders"):
            positive(name, getattr(self, name))
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be 0 or more, got {self.warmup_steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.on_bad_data not in BAD_DATA_POLICIES:
            raise ValueError(f"on_bad_data must be one of {BAD_DATA_POLICIES}, got {self.on_bad_data!r}")
        if self.ssl_coeff != 0:
            raise ValueError("ssl_coeff must be 0: the MERT/mHuBERT SSL losses need remote-code models this trainer "
                             "does not run (the original's other losses are all reproduced)")

    def recipe(self) -> dict[str, Any]:
        """The settings a resumed run must share with the run it continues (bit-identical continuation)."""
        keys = ("seed", "learning_rate", "weight_decay", "betas", "warmup_steps", "grad_clip_norm", "batch_size",
                "accumulate", "repeat", "tag_orders", "dtype", "shift", "logit_mean", "logit_std")
        out = {k: getattr(self, k) for k in keys}
        out["betas"] = list(self.betas)
        out["dropout"] = asdict(self.dropout)
        out["lora"] = self.lora_spec().to_json()
        return out


@dataclass
class TrainResult:
    """What a run produced: the checkpoint folders (the last is the final LoRA) and the loss per step.

    `stopped`: the run ended early at `should_stop`'s request; `final` is then the checkpoint of the
    step it stopped at (a loadable LoRA too), and `losses` covers the steps done.
    """

    out: Path
    final: Path
    checkpoints: list[Path]
    steps: int
    losses: list[float]
    songs: list[str]
    skipped: list[str]
    stopped: bool = False
