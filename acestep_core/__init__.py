"""ACE-Step v1 in plain PyTorch: models, samplers, tasks and a pipeline faithful to the original.

    from acestep_core import AceStepPipeline
    pipe = AceStepPipeline.from_pretrained("ACE-Step/ACE-Step-v1-3.5B", dtype="bfloat16", device="cuda")
    out = pipe(prompt="pop, rock, 120 bpm", lyrics="[verse]\\n...", audio_duration=60, manual_seeds=[42])

Importing this package loads no weights and downloads nothing.
"""
from .conditioning import MAX_LYRIC_TOKENS, LyricTokens, PromptConditioning
from .pipeline import AceStepPipeline, GenerationOutput, SampleResult
from .settings import SamplerSettings
from .tasks.audio2audio import Audio2Audio
from .tasks.flow_edit import FlowEdit
from .tasks.repaint import Extend, Repaint
from .tasks.text2music import Retake, Text2Music

__all__ = [
    "AceStepPipeline", "GenerationOutput", "SampleResult", "SamplerSettings", "PromptConditioning", "LyricTokens",
    "Text2Music", "Retake", "Repaint", "Extend", "Audio2Audio", "FlowEdit", "MAX_LYRIC_TOKENS",
]
__version__ = "0.1.0"
