"""Sampling nodes: the sampler (text2music / retake / repaint / extend / audio2audio), its advanced
options, and the flow-edit sampler.

The task is read off the inputs, never chosen by a switch:

| latent                                   | noise            | audio2audio_strength | task        |
|------------------------------------------|------------------|----------------------|-------------|
| any (its length and batch are used)      | seeded           | 0                    | text2music  |
| any                                      | variation        | 0                    | retake      |
| from AceStepV1RepaintRegion              | variation        | 0                    | repaint     |
| from AceStepV1ExtendRegion               | variation        | 0                    | extend      |
| encoded audio (the reference)            | seeded           | > 0                  | audio2audio |

Each maps to one `acestep_core` task and one `AceStepPipeline.sample` call with the seeds, so a
graph reproduces the one-call API seed for seed.
"""
from __future__ import annotations

from dataclasses import fields

from ..acestep_core import (CFG_TYPES, SCHEDULERS, Audio2Audio, Extend, FlowEdit, Repaint, Retake, SamplerSettings,
                           SamplingPolicy, Text2Music, parse_oss_steps)

from ._comfy import CATEGORY, EditTargetType, LyricsType, ModelType, OptionsType, TagsType, io
from .conditioning import EditTarget, check_lyrics, check_model, check_tags
from .convert import AceStepInputError, ace_latent, latent_meta, make_latent, step_progress
from .model import running
from .noise import as_ace_noise, batch_for

MAX_STEPS = 1000
POLICY_OPTIONS = tuple(f.name for f in fields(SamplingPolicy))  # options that choose how, not what, to compute


def _settings(steps: int, guidance_scale: float, options) -> SamplerSettings:
    if not isinstance(options, (dict, type(None))):
        raise AceStepInputError(f"options: expected AceStepV1SamplerOptions, got {type(options).__name__}.")
    opts = {} if options is None else dict(options)
    for name in POLICY_OPTIONS:  # the per-call policy, not sampler settings
        opts.pop(name, None)
    try:
        return SamplerSettings(infer_step=int(steps), guidance_scale=float(guidance_scale), **opts)
    except (TypeError, ValueError) as e:
        raise AceStepInputError(str(e)) from None


def _policy(options) -> SamplingPolicy:
    opts = options or {}
    try:
        return SamplingPolicy(**{name: opts[name] for name in POLICY_OPTIONS if name in opts})
    except (TypeError, ValueError) as e:
        raise AceStepInputError(str(e)) from None


def _check_text_width(model, tags, what: str) -> None:
    """Tags encoded by another ACE-Step model have another width; say so instead of a matmul error."""
    try:
        model.pipe.check_prompt(tags.cond, what)
    except ValueError as e:
        raise AceStepInputError(str(e)) from None


class SamplerOptions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1SamplerOptions",
            display_name="ACE-Step v1 Sampler Options",
            category=CATEGORY,
            description=("Every other setting of the original sampler. Defaults are the original library's; leave "
                         "this node out to use them."),
            inputs=[
                io.Combo.Input("scheduler", options=list(SCHEDULERS), default="euler",
                               tooltip=("euler (default), heun (2 model calls per step) or pingpong (stochastic: adds "
                                        "fresh noise from the seed at every step).")),
                io.Combo.Input("cfg_type", options=list(CFG_TYPES), default="apg",
                               tooltip=("apg: adaptive projected guidance (the original's default); cfg: classic "
                                        "classifier-free guidance; cfg_star: CFG-zero-star.")),
                io.Float.Input("omega_scale", default=10.0, min=-100.0, max=100.0, step=0.1,
                               tooltip=("'Granularity scale' of the euler/pingpong step (default 10): higher keeps "
                                        "more detail, 0 disables it.")),
                io.Float.Input("guidance_interval", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip=("Fraction of the steps, centred, on which guidance runs (default 0.5); the "
                                        "other steps use the conditional prediction only.")),
                io.Float.Input("guidance_interval_decay", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip=("Linear decay of the guidance scale across the interval, down to "
                                        "min_guidance_scale (0 = constant).")),
                io.Float.Input("min_guidance_scale", default=3.0, min=0.0, max=200.0, step=0.1,
                               tooltip="The scale the decay ends at (default 3)."),
                io.Float.Input("guidance_scale_text", default=0.0, min=0.0, max=10.0, step=0.1,
                               tooltip=("Double-condition guidance: text scale. Active only when both this and "
                                        "guidance_scale_lyric are above 1 (default 0 = off).")),
                io.Float.Input("guidance_scale_lyric", default=0.0, min=0.0, max=10.0, step=0.1,
                               tooltip="Double-condition guidance: lyric scale (see guidance_scale_text)."),
                io.Boolean.Input("use_erg_tag", default=True,
                                 tooltip=("Entropy-rectifying guidance on the tags: the unconditional branch uses "
                                          "weakened tag states instead of zeros (default on).")),
                io.Boolean.Input("use_erg_lyric", default=True,
                                 tooltip=("ERG on the lyrics: the unconditional branch uses weakened lyric attention "
                                          "(library default on; the original's UI turns it off).")),
                io.Boolean.Input("use_erg_diffusion", default=True,
                                 tooltip="ERG inside the diffusion transformer for the unconditional branch (default on)."),
                io.String.Input("oss_steps", default="", placeholder="16, 29, 52, 96, 129, 158, 172, 183, 189, 200",
                                tooltip=("'Optimal steps': comma list of step indices out of the largest one (e.g. "
                                         "'16, 29, 52, 96, 129, 158, 172, 183, 189, 200' runs 10 steps). Empty = the "
                                         "regular schedule of 'steps'. Not with heun. Marked 'not tested well' "
                                         "upstream.")),
                io.Boolean.Input("batch_guidance", default=False, optional=True,
                                 tooltip=("Speed, opt-in: run the guided passes of a step (conditional, "
                                          "unconditional, text-only) as one batched transformer call. Faster, "
                                          "most of all on a GPU; rounds slightly differently from the original "
                                          "(about 1e-6 of the signal), so off by default for exact "
                                          "reproduction.")),
                io.Int.Input("guidance_cache_interval", default=1, min=1, max=10, optional=True,
                             tooltip=("Speed, opt-in step caching: run the unconditional passes on every k-th "
                                      "guided step only; the steps between reuse their last difference to the "
                                      "conditional pass. 2 saves a sixth of the transformer passes at the default "
                                      "settings (15 of 90 at 60 steps). 1 = off (the original). Changes the song "
                                      "a little.")),
            ],
            outputs=[OptionsType.Output(display_name="options", tooltip="For AceStepV1Sampler / AceStepV1FlowEditSampler.")],
        )

    @classmethod
    def validate_inputs(cls, oss_steps=None) -> bool | str:
        if oss_steps is None:
            return True
        try:
            parse_oss_steps(oss_steps)
        except ValueError as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, scheduler: str, cfg_type: str, omega_scale: float, guidance_interval: float,
                guidance_interval_decay: float, min_guidance_scale: float, guidance_scale_text: float,
                guidance_scale_lyric: float, use_erg_tag: bool, use_erg_lyric: bool, use_erg_diffusion: bool,
                oss_steps: str = "", batch_guidance: bool = False,
                guidance_cache_interval: int = 1) -> io.NodeOutput:
        opts = {
            "scheduler_type": scheduler, "cfg_type": cfg_type, "omega_scale": float(omega_scale),
            "guidance_interval": float(guidance_interval), "guidance_interval_decay": float(guidance_interval_decay),
            "min_guidance_scale": float(min_guidance_scale), "guidance_scale_text": float(guidance_scale_text),
            "guidance_scale_lyric": float(guidance_scale_lyric), "use_erg_tag": bool(use_erg_tag),
            "use_erg_lyric": bool(use_erg_lyric), "use_erg_diffusion": bool(use_erg_diffusion),
            "oss_steps": oss_steps or "", "batch_guidance": bool(batch_guidance),
            "guidance_cache_interval": int(guidance_cache_interval),
        }
        _settings(60, 15.0, opts)  # reject a bad combination here, not at sampling time
        return io.NodeOutput(opts)


def _task(latent: dict, samples, noise, strength: float):
    """The acestep_core task this combination of inputs means (see the module docstring)."""
    meta = latent_meta(latent)
    region = meta.get("region")
    frames = int(samples.shape[-1])
    if "noise_mask" in latent and not region:
        raise AceStepInputError(
            "latent: it has a noise_mask but no ACE-Step region; mark the region with AceStepV1RepaintRegion or "
            "AceStepV1ExtendRegion (a native mask cannot say which seconds the original should repaint).")
    if strength > 0:
        if region:
            raise AceStepInputError(
                f"audio2audio_strength > 0 with a {region.get('task')} region: the original disables repaint/extend "
                "in audio2audio. Set audio2audio_strength to 0, or remove the region node.")
        if noise.is_variation:
            raise AceStepInputError(
                "audio2audio_strength > 0 with variation noise: the original ignores retake in audio2audio. Use "
                "AceStepV1SeededNoise, or set audio2audio_strength to 0.")
        if not bool(samples.abs().amax() > 0):
            raise AceStepInputError(
                "audio2audio needs the reference song's latent (AceStepV1AudioToLatent or VAEEncodeAudio); this latent "
                "is empty. Connect encoded audio, or set audio2audio_strength to 0 for text2music.")
        return Audio2Audio(samples, float(strength))
    if region:
        kind = region.get("task")
        if not noise.is_variation:
            raise AceStepInputError(
                f"{kind} draws the new frames from retake seeds: connect AceStepV1VariationNoise as the noise "
                f"(its variance is the {kind} strength; the original uses 1.0 for extend).")
        if region.get("frames") != frames:
            raise AceStepInputError(
                f"latent: the {kind} region was made for {region.get('frames')} frames but the latent now has {frames}; "
                "connect the region node's output to the sampler directly.")
        if kind == "repaint":
            return Repaint(samples, float(region["start"]), float(region["end"]), float(noise.variance))
        if kind == "extend":
            return Extend(region["source"], float(region["start"]), float(region["end"]), float(noise.variance))
        raise AceStepInputError(f"latent: unknown region {kind!r}.")
    if noise.is_variation:
        return Retake(frames, float(noise.variance))
    return Text2Music(frames)


class Sampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1Sampler",
            display_name="ACE-Step v1 Sampler",
            category=CATEGORY,
            description=("Generates ACE-Step v1 latents. What it does follows its inputs: an empty latent + seeded "
                         "noise = text2music; + variation noise = retake; a repaint / extend region = repaint / "
                         "extend; audio2audio_strength > 0 with a song's latent = audio2audio. Same seeds and "
                         "settings give the same song as the original ACE-Step."),
            inputs=[
                ModelType.Input("model", tooltip="The ACE-Step v1 model, with any LoRAs."),
                TagsType.Input("tags", tooltip="Encoded tags (AceStepV1TextEncode)."),
                LyricsType.Input("lyrics", tooltip="Encoded lyrics (AceStepV1LyricsEncode)."),
                io.Noise.Input("noise", tooltip=("Seeds (AceStepV1SeededNoise) or seeds + retake seeds "
                                                 "(AceStepV1VariationNoise). Native RandomNoise also works.")),
                io.Latent.Input("latent", tooltip=("Sets length and batch: an empty latent (AceStepV1EmptyLatent or "
                                                   "EmptyAceStepLatentAudio), a region from the repaint/extend nodes, "
                                                   "or a song's latent for audio2audio.")),
                io.Int.Input("steps", default=60, min=1, max=MAX_STEPS,
                             tooltip="Number of sampling steps (the original's infer_step, default 60)."),
                io.Float.Input("guidance_scale", default=15.0, min=0.0, max=200.0, step=0.1,
                               tooltip=("Guidance strength (default 15; the original's UI allows 0..30). 0 or 1 turns "
                                        "guidance off.")),
                io.Float.Input("audio2audio_strength", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip=("0 = off. Above 0 the latent is a reference song that the result stays close "
                                        "to (the original's ref_audio_strength; its UI default when enabled is 0.5). "
                                        "Only int((1 - strength)·steps) steps run; when that is 0 the noised reference comes back "
                                        "unchanged, as in the original.")),
                OptionsType.Input("options", optional=True,
                                  tooltip="AceStepV1SamplerOptions for scheduler, cfg type, ERG, ...; unconnected = defaults."),
            ],
            outputs=[io.Latent.Output(tooltip="The generated ACE-Step v1 latents (for AceStepV1LatentToAudio).")],
        )

    @classmethod
    def execute(cls, model, tags, lyrics, noise, latent, steps: int = 60, guidance_scale: float = 15.0,
                audio2audio_strength: float = 0.0, options=None) -> io.NodeOutput:
        model = check_model(model)
        tags = check_tags(tags)
        lyrics = check_lyrics(lyrics)
        samples = ace_latent(latent)
        noise = as_ace_noise(noise)
        settings = _settings(steps, guidance_scale, options)
        _check_text_width(model, tags, "tags")
        if not 0.0 <= float(audio2audio_strength) <= 1.0:
            raise AceStepInputError(f"audio2audio_strength = {audio2audio_strength} is out of range [0, 1].")
        task = _task(latent, samples, noise, float(audio2audio_strength))
        batch = batch_for(int(samples.shape[0]), noise)
        frames = int(samples.shape[-1])
        retake = noise.retake_spec if noise.is_variation else noise.main_spec  # unused unless variation
        policy = _policy(options)
        with running(model, "transformer", model.pipe.activation_bytes("sampling", frames, batch)) as pipe:
            result = pipe.sample(tags.cond, lyrics.tokens, task, settings, batch_size=batch,
                                 manual_seeds=noise.main_spec, retake_seeds=retake, loras=model.lora_list,
                                 callback=step_progress(settings.infer_step), policy=policy)
        return io.NodeOutput(make_latent(result.latents))


class FlowEditSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1FlowEditSampler",
            display_name="ACE-Step v1 Flow-Edit Sampler",
            category=CATEGORY,
            description=("Edits an existing song toward new tags and/or lyrics (the original's 'edit' task, flow-edit). "
                         "Only steps in [n_min, n_max) edit; later steps sample the target freely. Presets of the "
                         "original UI: only_lyrics n_min 0.6 / n_max 1.0, remix 0.2 / 0.4. One song at a time."),
            inputs=[
                ModelType.Input("model", tooltip="The ACE-Step v1 model, with any LoRAs."),
                TagsType.Input("tags", tooltip="The source song's tags."),
                LyricsType.Input("lyrics", tooltip="The source song's lyrics."),
                EditTargetType.Input("target", tooltip="The target tags/lyrics (AceStepV1EditTarget)."),
                io.Noise.Input("noise", tooltip=("Flow-edit draws all its noise from the retake seeds of "
                                                 "AceStepV1VariationNoise (the original's retake_seeds), or from the "
                                                 "seed of a plain AceStepV1SeededNoise.")),
                io.Latent.Input("latent", tooltip="The source song's latent (AceStepV1AudioToLatent), batch 1."),
                io.Int.Input("steps", default=60, min=1, max=MAX_STEPS,
                             tooltip="Number of steps (the original's infer_step, default 60)."),
                io.Float.Input("guidance_scale", default=15.0, min=0.0, max=200.0, step=0.1,
                               tooltip="APG guidance for both branches (default 15; 0 or 1 = off)."),
                io.Float.Input("n_min", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="First editing step as a fraction of steps (the original's edit_n_min, default 0)."),
                io.Float.Input("n_max", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="End of the editing steps as a fraction (edit_n_max, default 1)."),
                io.Int.Input("n_avg", default=1, min=1, max=100,
                             tooltip="Noise samples averaged per editing step (edit_n_avg, default 1)."),
                OptionsType.Input("options", optional=True,
                                  tooltip=("Only the scheduler matters (heun is treated as euler); flow-edit always "
                                           "uses APG without interval, ERG or omega, as the original.")),
            ],
            outputs=[io.Latent.Output(tooltip="The edited song's latent.")],
        )

    @classmethod
    def validate_inputs(cls, n_min=None, n_max=None) -> bool | str:
        if n_min is not None and n_max is not None and n_min > n_max:
            return f"n_min ({n_min}) must not exceed n_max ({n_max})."
        return True

    @classmethod
    def execute(cls, model, tags, lyrics, target, noise, latent, steps: int = 60, guidance_scale: float = 15.0,
                n_min: float = 0.0, n_max: float = 1.0, n_avg: int = 1, options=None) -> io.NodeOutput:
        model = check_model(model)
        tags = check_tags(tags)
        lyrics = check_lyrics(lyrics)
        if not isinstance(target, EditTarget):
            raise AceStepInputError(f"target: expected AceStepV1EditTarget, got {type(target).__name__}.")
        samples = ace_latent(latent)
        if latent_meta(latent).get("region") or "noise_mask" in latent:
            raise AceStepInputError("flow-edit edits a whole song: connect the song's latent without a region node.")
        noise = as_ace_noise(noise)
        seeds = noise.retake_spec if noise.is_variation else noise.main_spec
        if samples.shape[0] != 1 or (isinstance(seeds, list) and len(seeds) > 1):
            raise AceStepInputError(
                f"flow-edit works on one song at a time (latent batch {samples.shape[0]}, "
                f"{len(seeds) if isinstance(seeds, list) else 1} seed(s)), as in the original; use batch 1 and one seed.")
        settings = _settings(steps, guidance_scale, options)
        tar_tags = target.tags or tags
        tar_lyrics = target.lyrics or lyrics
        _check_text_width(model, tags, "tags")
        _check_text_width(model, tar_tags, "target tags")
        try:
            task = FlowEdit(samples, tar_tags.cond, tar_lyrics.tokens, float(n_min), float(n_max), int(n_avg))
            task.validate()
        except ValueError as e:
            raise AceStepInputError(str(e)) from None
        memory = model.pipe.activation_bytes("sampling", int(samples.shape[-1]), 1, rows_per_item=2)
        with running(model, "transformer", memory) as pipe:
            result = pipe.sample(tags.cond, lyrics.tokens, task, settings, batch_size=1,
                                 manual_seeds=noise.main_spec, retake_seeds=seeds, loras=model.lora_list,
                                 callback=step_progress(settings.infer_step))
        return io.NodeOutput(make_latent(result.latents))


NODES = [SamplerOptions, Sampler, FlowEditSampler]
