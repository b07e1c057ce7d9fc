"""ACE-Step v1 in plain PyTorch: models, samplers, tasks and a pipeline faithful to the original.

    from acestep_core import AceStepPipeline
    pipe = AceStepPipeline.from_pretrained("ACE-Step/ACE-Step-v1-3.5B", dtype="bfloat16", device="cuda")
    out = pipe(prompt="pop, rock, 120 bpm", lyrics="[verse]\\n...", audio_duration=60, manual_seeds=[42])

The public API is what this file exports, plus the documented subpackages `acestep_core.audio`
(latent/audio geometry) and `acestep_core.lyrics` (lyric tokenisation). Everything else is internal.
Importing this package loads no weights and downloads nothing.
"""
from .checkpoint import (DEFAULT_MODEL_NAME, HF_REPO_ID, PART_FOLDERS, CheckpointError, ModelUnavailable,
                         download_checkpoint, open_all_in_one, open_checkpoint)
from .components import Lazy
from .conditioning import MAX_LYRIC_TOKENS, LyricTokens, PromptConditioning
from .loading import resolve_dtype
from .lora import check_fits, load_lora
from .models.text_encoder import TextEncoding
from .pipeline import AceStepPipeline, GenerationOutput, SampleResult
from .record import call_kwargs, from_record, to_record
from .sampling.noise import parse_seeds
from .sampling.schedules import parse_oss_steps
from .settings import CFG_TYPES, SCHEDULERS, SamplerSettings, SamplingPolicy
from .tasks.audio2audio import Audio2Audio
from .tasks.flow_edit import FlowEdit
from .tasks.repaint import Extend, Repaint
from .tasks.text2music import Retake, Text2Music, retake_mix, starting_noise

__all__ = [
    # the pipeline and what its stages exchange
    "AceStepPipeline", "GenerationOutput", "SampleResult", "Lazy", "PromptConditioning", "LyricTokens",
    "TextEncoding", "MAX_LYRIC_TOKENS",
    # how to sample: settings (what) and policy (how)
    "SamplerSettings", "SamplingPolicy", "SCHEDULERS", "CFG_TYPES", "parse_oss_steps", "resolve_dtype",
    # tasks, seeds and noise
    "Text2Music", "Retake", "Repaint", "Extend", "Audio2Audio", "FlowEdit", "parse_seeds", "starting_noise",
    "retake_mix",
    # checkpoints and LoRAs
    "CheckpointError", "ModelUnavailable", "DEFAULT_MODEL_NAME", "HF_REPO_ID", "PART_FOLDERS", "download_checkpoint",
    "open_checkpoint", "open_all_in_one", "load_lora", "check_fits",
    # the input_params.json record
    "to_record", "from_record", "call_kwargs",
]
__version__ = "0.1.0"
