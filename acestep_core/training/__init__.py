"""LoRA training for ACE-Step v1: the original trainer's recipe (trainer.py) in plain PyTorch.

    from acestep_core.training import TrainConfig, train_lora
    result = train_lora(TrainConfig(data="my_songs/", lora_config="lora.json", out="runs/my_lora", max_steps=2000))
    result.final   # a LoRA folder: AceStepPipeline(...)(..., lora_name_or_path=str(result.final))

Command line: `python -m acestep_core.training.cli train-lora --data DIR --config lora.json --out DIR ...`.
"""
from .checkpoints import ResumeError
from .config import TrainConfig, TrainResult
from .data import DataError, Song, check_songs, find_songs, scan_songs
from .dropout import DropoutRates
from .footprint import training_step_bytes
from .loop import StepReport, TrainingData, encode_training_data, train_lora
from .lora_config import (
           RAPMACHINE_LORA_CONFIG,
           LoraConfigError,
           LoraSpec,
           parse_lora_config,
           read_lora_config,
)
from .lora_layers import LoraTargetError, lora_targets

__all__ = [
           "RAPMACHINE_LORA_CONFIG",
           "DataError",
           "DropoutRates",
           "LoraConfigError",
           "LoraSpec",
           "LoraTargetError",
           "ResumeError",
           "Song",
           "StepReport",
           "TrainConfig",
           "TrainResult",
           "TrainingData",
           "check_songs",
           "encode_training_data",
           "find_songs",
           "lora_targets",
           "parse_lora_config",
           "read_lora_config",
           "scan_songs",
           "train_lora",
           "training_step_bytes",
]
