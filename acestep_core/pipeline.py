"""`AceStepPipeline`: the original ACE-Step v1 pipeline as a numbered recipe of public stages.

The one-call API (`pipe(**kwargs)`) takes upstream's `ACEStepPipeline.__call__` keywords and
defaults and reproduces its outputs seed for seed. Every stage is also public, so the ComfyUI
nodes can call them one by one and get the same numbers:

    encode_prompt → encode_lyrics → sample(task) → decode_latents     (+ encode_audio for sources)

Models are loaded lazily, one part at a time, when a stage first needs them.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from .audio.geometry import (MAX_DURATION, MEL_FRAMES_PER_LATENT, N_MELS, OUTPUT_SAMPLE_RATE, check_frames,
                             frames_for_duration, random_duration)
from .checkpoint import CheckpointSource, resolve_checkpoint
from .branches import BranchEvaluator
from .components import Lazy, is_loaded, resolve
from .conditioning import LyricTokens, PromptConditioning, build_contexts
from .loading import load_music_dcae, load_text_encoder, load_transformer, resolve_dtype
from .lora import LoraAdapter, applied_loras, load_lora
from .outputs import AUDIO_FORMATS, write_outputs
from .sampling.denoiser import GuidedDenoiser
from .sampling.loop import StepCallback, run_denoising_loop
from .sampling.noise import make_generators, parse_seeds
from .sampling.samplers import make_stepper
from .record import CALL_KEYS, to_record
from .settings import SamplerSettings, SamplingPolicy, check_number
from .tasks.audio2audio import Audio2Audio
from .tasks.flow_edit import FlowEdit, run_flow_edit
from .tasks.plan import Draws
from .tasks.repaint import Extend, Repaint
from .tasks.text2music import Retake, Text2Music

log = logging.getLogger(__name__)

TASKS = ("text2music", "retake", "repaint", "extend", "edit", "audio2audio")


@dataclass
class SampleResult:
    """Latents from `sample` and the seeds actually used (the original's actual_seeds/retake_seeds)."""

    latents: torch.Tensor
    actual_seeds: list[int]
    retake_seeds: list[int]


@dataclass
class GenerationOutput:
    """What the one-call API returns."""

    waveforms: torch.Tensor  # float32 [B, 2, N] at sample_rate
    sample_rate: int
    latents: torch.Tensor  # [B, 8, 16, T], what the decoder received
    params: dict  # the original's *_input_params.json record
    paths: list[str] = field(default_factory=list)



class AceStepPipeline:
    """ACE-Step v1 text/lyrics → music, with every task of the original.

    Built from its four components, each ready-made or a `components.Lazy` builder (what
    `from_pretrained` passes, so each network loads when a stage first needs it):

        AceStepPipeline(text_encoder, transformer, codec, lyric_tokenizer, dtype=..., device=...)

    The constructor's switches are about where the components live (`cpu_offload`: on the CPU
    between stages; `low_memory`: built for their stage and dropped after it). How to compute a
    generation is chosen per call (`sample(..., policy=SamplingPolicy(...))`,
    `decode_latents(..., mode=...)`).
    """

    def __init__(self, text_encoder=None, transformer=None, codec=None, lyric_tokenizer=None, *,
                 dtype: str | torch.dtype | None = None, device: str | torch.device = "cpu",
                 cpu_offload: bool = False, low_memory: bool = False, source: CheckpointSource | None = None):
        self._parts: dict[str, Any] = {"text": text_encoder, "transformer": transformer, "dcae": codec,
                                       "lyrics": lyric_tokenizer}
        self.source = source  # where the components were loaded from, when known (from_pretrained)
        if dtype is None:
            dtype = _module_dtype(transformer) or torch.float32
        self.dtype = resolve_dtype(dtype)
        self.device = torch.device(device)
        self.cpu_offload = cpu_offload
        self.low_memory = low_memory

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | Path | None = None, *, dtype: str | torch.dtype = "float32",
                        device: str | torch.device = "cpu", lyric_vocab: str | Path | None = None,
                        cpu_offload: bool = False, low_memory: bool = False,
                        cache_dir: str | Path | None = None, download: bool = True) -> "AceStepPipeline":
        """A local folder / all-in-one file, or a Hugging Face repo id downloaded on first use."""
        source = resolve_checkpoint(path_or_repo_id, download=download, cache_dir=cache_dir)
        dt = resolve_dtype(dtype)
        load_device = torch.device("cpu") if cpu_offload else torch.device(device)

        def tokenizer():
            from .lyrics import LyricTokenizer, locate_vocab

            return LyricTokenizer(locate_vocab(lyric_vocab))

        return cls(Lazy(lambda: load_text_encoder(source, dtype=dt, device=load_device)),
                   Lazy(lambda: load_transformer(source["transformer"], dtype=dt, device=load_device)),
                   Lazy(lambda: load_music_dcae(source, dtype=dt, device=load_device)),
                   Lazy(tokenizer), dtype=dt, device=device, cpu_offload=cpu_offload, low_memory=low_memory,
                   source=source)

    # ------------------------------------------------------------------ components
    @property
    def components(self) -> dict[str, Any]:
        """The four components as given (builders unbuilt): `AceStepPipeline(**pipe.components, ...)`
        makes another view of the same networks, e.g. on another device."""
        p = self._parts
        return {"text_encoder": p["text"], "transformer": p["transformer"], "codec": p["dcae"],
                "lyric_tokenizer": p["lyrics"]}

    def _part(self, name: str):
        if self._parts[name] is None:
            raise ValueError(f"this pipeline was built without its {name!r} component")
        return resolve(self._parts[name])

    @property
    def text_encoder(self):
        return self._part("text")

    @property
    def transformer(self) -> nn.Module:
        return self._part("transformer")

    @property
    def codec(self) -> nn.Module:
        """The MusicDCAE: mel DCAE + vocoder (audio ↔ latents)."""
        return self._part("dcae")

    @property
    def lyric_tokenizer(self):
        return self._part("lyrics")

    def check_prompt(self, prompt: PromptConditioning, what: str = "the prompt") -> None:
        """Prompt states from another ACE-Step model have another width: say so, not a matmul error."""
        expected = self.transformer.genre_embedder.in_features
        got = int(prompt.text.hidden_states.shape[-1])
        if got != expected:
            raise ValueError(f"{what} were encoded by a different ACE-Step model (width {got}, this model expects "
                             f"{expected}); encode them with the same model that samples.")

    def activation_bytes(self, stage: str, frames: int, batch: int = 1, rows_per_item: int = 3) -> int:
        """A rough estimate of one stage's working memory beside its weights ("sampling": the DiT's
        hidden states for `rows_per_item` guidance rows per item; "decode": one item's mel decoder at
        full resolution plus the vocoder), for hosts that reserve device memory before a stage
        (ComfyUI's load_models_gpu)."""
        size = torch.finfo(self.dtype).bits // 8
        frames = max(int(frames), 1)
        if stage == "sampling":
            tr = self.transformer
            return int(batch * rows_per_item * frames * tr.inner_dim * size * len(tr.transformer_blocks))
        if stage == "decode":
            return int(frames * MEL_FRAMES_PER_LATENT * N_MELS * N_MELS * size * 12)
        raise ValueError(f"stage {stage!r} is unknown; choose 'sampling' or 'decode'")

    def loaded_parts(self) -> set[str]:
        """Which of "text", "transformer", "dcae", "lyrics" are in memory now."""
        return {name for name, part in self._parts.items() if is_loaded(part)}

    def unload(self, *parts: str) -> None:
        """Drop built components ("text", "transformer", "dcae"; none named = all) to free their memory.

        Only `Lazy` builders can be dropped (they are rebuilt on demand); ready-made ones stay.
        """
        import gc

        for name in parts or ("text", "transformer", "dcae"):
            if isinstance(self._parts.get(name), Lazy):
                self._parts[name].release()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _stage_done(self, part: str) -> None:
        if self.low_memory:
            self.unload(part)

    @contextmanager
    def _on_device(self, module: nn.Module) -> Iterator[nn.Module]:
        """cpu_offload: move a model to the compute device for one stage, then back (spec §13)."""
        if not self.cpu_offload or self.device.type == "cpu":
            yield module
            return
        module.to(self.device)
        try:
            yield module
        finally:
            module.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    # ------------------------------------------------------------------ 1. text stages
    def encode_prompt(self, prompt: str, *, erg: bool = True) -> PromptConditioning:
        """UMT5 states of the tags, plus the ERG-tag weak states (cheap; the sampler decides their use)."""
        if not isinstance(prompt, str):
            raise ValueError(f"prompt must be a string of tags/description, got {type(prompt).__name__}")
        enc = self.text_encoder
        with self._on_device(enc.model):
            text = enc.encode(prompt)
            text_erg = enc.encode(prompt, erg=True) if erg else None
        return PromptConditioning(text, text_erg)

    def encode_lyrics(self, lyrics: str | None, language: str | None = None) -> LyricTokens:
        """Token ids of the lyrics; "" (or None) means instrumental: ids [0], mask [0] (spec §4.1)."""
        if lyrics is None:
            lyrics = ""
        if not isinstance(lyrics, str):
            raise ValueError(f"lyrics must be a string, got {type(lyrics).__name__}")
        if lyrics == "":
            return LyricTokens.from_lists([0], [0])
        ids = self.lyric_tokenizer.encode(lyrics, language=language)
        return LyricTokens.from_lists(ids, [1] * len(ids))

    # ------------------------------------------------------------------ 2. audio ↔ latents
    @torch.no_grad()
    def encode_audio(self, audio, sample_rate: int | None = None) -> torch.Tensor:
        """Any audio (path, (waveform, rate) pair or tensor [C,N]/[1,C,N]) → latents [1, 8, 16, T] (spec §6.1)."""
        from .audio.io import as_waveform, to_stereo

        wave, sr = as_waveform(audio if sample_rate is None else (audio, sample_rate))
        if wave.ndim == 3:
            if wave.shape[0] != 1:
                raise ValueError(f"encode one song at a time: got a batch of {wave.shape[0]}")
            wave = wave[0]
        wave = to_stereo(wave)
        if wave.shape[-1] == 0:
            raise ValueError("the audio is empty (0 samples)")
        if not torch.isfinite(wave).all():
            raise ValueError("the audio contains NaN or infinite samples")
        dcae = self.codec
        with self._on_device(dcae):
            x = wave[None].to(device=self.device, dtype=self.dtype)
            latents, _ = dcae.encode(x, int(sr))
        return latents

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, sample_rate: int | None = OUTPUT_SAMPLE_RATE, *,
                       mode: str = "plain", on_chunk=None, on_layer=None) -> torch.Tensor:
        """Latents [B, 8, 16, T] → float32 waveform [B, 2, N] (48 kHz by default, None = native 44.1 kHz).

        `on_chunk(done, total)` after each decoder window / vocoder call (progress) and `on_layer()`
        before each layer (to stop within a second): what either raises aborts the decode.
        """
        check_latents(latents)
        dcae = self.codec
        with self._on_device(dcae):
            wave = dcae.decode(latents.to(device=self.device, dtype=self.dtype), sample_rate, mode=mode,
                               on_chunk=on_chunk, on_layer=on_layer)
        return wave.float().cpu()

    # ------------------------------------------------------------------ 3. sampling
    @torch.no_grad()
    def sample(self, prompt: PromptConditioning, lyrics: LyricTokens, task, settings: SamplerSettings, *,
               batch_size: int = 1, manual_seeds=None, retake_seeds=None,
               loras: Sequence[tuple[LoraAdapter, float]] = (), callback: StepCallback | None = None,
               rng: torch.Generator | None = None, policy: SamplingPolicy | None = None) -> SampleResult:
        """Run one task (Text2Music, Retake, Repaint, Extend, Audio2Audio or FlowEdit) to latents.

        `policy`: opt-in speed switches for this call (default: none, the original's numbers).
        """
        policy = policy or SamplingPolicy()
        batch_size = check_number("batch_size", batch_size, 1, 64, integer=True)
        # Generators live on the pipeline device, as upstream's (CPU and CUDA streams differ, spec §10.2).
        main, main_seeds = make_generators(batch_size, manual_seeds, self.device, rng, name="manual_seeds")
        retake, retake_used = make_generators(batch_size, retake_seeds, self.device, rng, name="retake_seeds")
        draws = Draws(main, retake, main_seeds, retake_used)
        transformer = self.transformer
        with self._on_device(transformer), applied_loras(transformer, loras):
            if isinstance(task, FlowEdit):
                latents = run_flow_edit(transformer, prompt, lyrics, task, settings, draws,
                                        batch_size=batch_size, callback=callback)
            else:
                plan = task.prepare(draws, settings, batch_size, self.dtype, self.device)
                contexts = build_contexts(
                    transformer, prompt, lyrics, batch_size=batch_size, use_erg_tag=settings.use_erg_tag,
                    use_erg_lyric=settings.use_erg_lyric, with_null=True, with_no_lyric=settings.double_condition)
                branches = BranchEvaluator(transformer, contexts, frames=plan.frames, batch_size=batch_size,
                                           erg_diffusion=settings.use_erg_diffusion, batched=policy.batch_guidance)
                denoiser = GuidedDenoiser(branches, settings, plan.schedule.num_steps,
                                          cache_interval=policy.guidance_cache_interval,
                                          on_guidance_end=branches.release_stacked)
                stepper = plan.stepper or make_stepper(settings.scheduler_type, plan.schedule, settings.omega_scale,
                                                       main[0])
                latents = run_denoising_loop(plan.schedule.timesteps, plan.latents, denoiser, stepper, callback)
        return SampleResult(latents, main_seeds, retake_used)

    # ------------------------------------------------------------------ the one-call API
    def __call__(self, format: str = "wav", audio_duration: float = 60.0, prompt: str | None = None,
                 lyrics: str | None = None, infer_step: int = 60, guidance_scale: float = 15.0,
                 scheduler_type: str = "euler", cfg_type: str = "apg", omega_scale: float = 10.0,
                 manual_seeds=None, guidance_interval: float = 0.5, guidance_interval_decay: float = 0.0,
                 min_guidance_scale: float = 3.0, use_erg_tag: bool = True, use_erg_lyric: bool = True,
                 use_erg_diffusion: bool = True, oss_steps: str | None = None, guidance_scale_text: float = 0.0,
                 guidance_scale_lyric: float = 0.0, audio2audio_enable: bool = False,
                 ref_audio_strength: float = 0.5, ref_audio_input=None, lora_name_or_path: str = "none",
                 lora_weight: float = 1.0, retake_seeds=None, retake_variance: float = 0.5,
                 task: str = "text2music", repaint_start: float = 0, repaint_end: float = 0,
                 src_audio_path=None, edit_target_prompt: str | None = None, edit_target_lyrics: str | None = None,
                 edit_n_min: float = 0.0, edit_n_max: float = 1.0, edit_n_avg: int = 1, save_path: str | None = None,
                 batch_size: int = 1, debug: bool = False, *, sample_rate: int = OUTPUT_SAMPLE_RATE,
                 loras: Sequence[tuple[Any, float]] = (), callback: StepCallback | None = None,
                 write_files: bool = True, policy: SamplingPolicy | None = None,
                 decode_mode: str = "plain") -> GenerationOutput:
        """Generate as upstream's ACEStepPipeline.__call__ does; same keywords, defaults and seeds.

        Ours beside the original's keywords: `policy` (opt-in speed switches, `SamplingPolicy`),
        `decode_mode` ("plain", "chunked", or "overlapped", which the original applies only to
        songs over 48 s, as here), `sample_rate`, `loras`, `callback`, `write_files`.
        """
        t_start = time.time()
        policy = policy or SamplingPolicy()
        # 1. check inputs
        if audio2audio_enable:
            check_reference(ref_audio_input)
            task = "audio2audio"
        if task not in TASKS:
            raise ValueError(f"task {task!r} is unknown; choose one of {', '.join(TASKS)}")
        if format not in AUDIO_FORMATS:
            raise ValueError(f"format {format!r} is unknown; choose one of {', '.join(AUDIO_FORMATS)}")
        if prompt is None:
            raise ValueError("prompt is required: tags or a description of the music (e.g. 'pop, rock, 120 bpm')")
        audio_duration = check_number("audio_duration", audio_duration)
        if audio_duration > MAX_DURATION:
            raise ValueError(f"audio_duration = {audio_duration} s is longer than the model supports "
                             f"(240 s); use <= 240, or extend a song in several steps")
        for name, v, lo, hi in (("retake_variance", retake_variance, 0.0, 1.0),
                                ("ref_audio_strength", ref_audio_strength, 0.0, 1.0),
                                ("lora_weight", lora_weight, -10.0, 10.0)):
            check_number(name, v, lo, hi)
        settings = SamplerSettings(
            infer_step=infer_step, guidance_scale=guidance_scale, scheduler_type=scheduler_type, cfg_type=cfg_type,
            omega_scale=omega_scale, guidance_interval=guidance_interval,
            guidance_interval_decay=guidance_interval_decay, min_guidance_scale=min_guidance_scale,
            use_erg_tag=use_erg_tag, use_erg_lyric=use_erg_lyric, use_erg_diffusion=use_erg_diffusion,
            guidance_scale_text=guidance_scale_text, guidance_scale_lyric=guidance_scale_lyric,
            oss_steps=oss_steps if isinstance(oss_steps, (str, list)) else None)
        if src_audio_path is not None and task not in ("repaint", "edit", "extend"):
            raise ValueError(f"src_audio_path is only used by repaint, edit and extend, not {task!r}")
        if task in ("repaint", "edit", "extend") and src_audio_path is None:
            raise ValueError(f"task {task!r} needs src_audio_path (the song to {task})")
        if task == "audio2audio" and _no_audio(ref_audio_input):
            raise ValueError("task 'audio2audio' needs ref_audio_input (the reference song): give an audio file "
                             "path or waveform, or use another task")
        parse_seeds(manual_seeds, "manual_seeds")  # a bad seed string fails here, before any model loads
        parse_seeds(retake_seeds, "retake_seeds")
        adapters = self._adapters(lora_name_or_path, lora_weight, loras)

        # 2. seeds (the random duration is drawn after them, from the first seed: reproducible)
        batch_size = check_number("batch_size", batch_size, 1, 64, integer=True)
        _, actual_seeds = make_generators(batch_size, manual_seeds, name="manual_seeds")
        _, actual_retake = make_generators(batch_size, retake_seeds, name="retake_seeds")

        # 3. lyrics (cheap, and refused when too long before any model loads), then text
        lyric_tokens = self.encode_lyrics(lyrics)
        target_lyric_tokens = None
        if task == "edit":
            target_lyric_tokens = self.encode_lyrics(lyrics if edit_target_lyrics is None else edit_target_lyrics)
        prompt_cond = self.encode_prompt(prompt, erg=settings.use_erg_tag)
        target_prompt = None
        if task == "edit":
            target_prompt = self.encode_prompt(prompt if edit_target_prompt is None else edit_target_prompt, erg=False)
        self._stage_done("text")
        if debug:
            log.info("lyric tokens: %s", lyric_tokens.ids.tolist())
        if audio_duration <= 0:
            audio_duration = random_duration(actual_seeds[0])
        if task == "retake":
            repaint_start, repaint_end = 0, audio_duration
        t_pre = time.time()

        # 4. source / reference latents
        src_latents = self.encode_audio(src_audio_path) if src_audio_path is not None else None
        ref_latents = self.encode_audio(ref_audio_input) if task == "audio2audio" else None
        self._stage_done("dcae")

        # 5. the task
        frames = frames_for_duration(audio_duration)
        if task == "edit":
            job = FlowEdit(src_latents, target_prompt, target_lyric_tokens, edit_n_min, edit_n_max, edit_n_avg)
        elif task == "audio2audio":
            job = Audio2Audio(ref_latents, ref_audio_strength)
        elif task in ("repaint", "extend"):
            total = int(src_latents.shape[-1])
            s, e = frames_for_duration(repaint_start), frames_for_duration(repaint_end)
            if task == "repaint":
                Repaint(src_latents, float(repaint_start), float(repaint_end)).frame_range()  # range checks
            if s < 0 or e > total:
                job = Extend(src_latents, float(repaint_start), float(repaint_end), retake_variance)
            else:
                job = Repaint(src_latents, float(repaint_start), float(repaint_end), retake_variance)
        elif task == "retake":
            job = Retake(check_frames(frames), retake_variance)
        else:
            job = Text2Music(check_frames(frames))

        # 6. sample
        result = self.sample(prompt_cond, lyric_tokens, job, settings, batch_size=batch_size,
                             manual_seeds=actual_seeds, retake_seeds=actual_retake, loras=adapters,
                             callback=callback, policy=policy)
        self._stage_done("transformer")
        t_diff = time.time()

        # 7. decode (overlapped only when asked for and the requested duration is > 48 s, as upstream)
        mode = "plain" if decode_mode == "overlapped" and audio_duration <= 48 else decode_mode
        waveforms = self.decode_latents(result.latents, sample_rate, mode=mode)
        self._stage_done("dcae")
        t_dec = time.time()

        # 8. the original's parameter record (the keywords' values as used now), then files
        given = locals()
        params = to_record({k: given[k] for k in CALL_KEYS}, actual_seeds=result.actual_seeds,
                           retake_seeds=result.retake_seeds, oss_steps=list(settings.oss_steps),
                           timecosts={"preprocess": t_pre - t_start, "diffusion": t_diff - t_pre,
                                      "latent2audio": t_dec - t_diff},
                           guidance_cache_interval=policy.guidance_cache_interval)
        paths = write_outputs(waveforms, sample_rate, params, save_path, format) if write_files else []
        return GenerationOutput(waveforms, sample_rate, result.latents, params, paths)

    def _adapters(self, name: str | None, weight: float, extra: Sequence[tuple[Any, float]]):
        adapters = []
        if name not in (None, "", "none"):
            adapters.append((load_lora(name), float(weight)))
        for item, w in extra:
            adapters.append((item if isinstance(item, LoraAdapter) else load_lora(item), float(w)))
        return adapters


def check_latents(latents) -> torch.Tensor:
    """An ACE-Step latent is [B, 8, 16, T]; anything else is another model's latent."""
    if not isinstance(latents, torch.Tensor):
        raise ValueError(f"latents must be a tensor, got {type(latents).__name__}")
    if latents.ndim != 4 or latents.shape[1] != 8 or latents.shape[2] != 16:
        raise ValueError(
            f"latents of shape {tuple(latents.shape)} are not ACE-Step audio latents [B, 8, 16, T]; "
            "they come from another model (use an ACE-Step latent, e.g. from EmptyAceStepLatentAudio)")
    if latents.shape[-1] < 1:
        raise ValueError("latents have 0 frames")
    return latents


def _no_audio(value) -> bool:
    """None or a blank path: what a UI sends when no file was chosen."""
    return value is None or (isinstance(value, (str, Path)) and str(value).strip() in ("", "."))


def check_reference(ref_audio_input) -> None:
    """audio2audio_enable=True without a reference is an error (the original silently ran text2music)."""
    if _no_audio(ref_audio_input):
        raise ValueError(
            f"audio2audio_enable=True needs ref_audio_input (the reference song), got {ref_audio_input!r}: give an "
            "audio file path or waveform, or set audio2audio_enable=False for text2music")


def _module_dtype(component) -> torch.dtype | None:
    if isinstance(component, nn.Module):
        for param in component.parameters():
            return param.dtype
    return None
