"""Latent nodes: an empty latent of a duration, AUDIO → LATENT (DCAE encode), LATENT → AUDIO (decode)."""
from __future__ import annotations

import torch

import comfy.model_management as mm

from ..acestep_core.audio import (OUTPUT_SAMPLE_RATE, SAMPLE_RATE, SAMPLES_PER_LATENT, check_frames,
                                  frames_for_duration)

from ._comfy import CATEGORY, ModelType, io, warn
from .conditioning import check_model
from .convert import AceStepInputError, ace_latent, audio_input, chunk_progress, layer_check, make_audio, make_latent
from .model import running

RATE_CHOICES = ["48000", "44100"]
DECODE_MODES = ["plain", "chunked", "overlapped"]


class EmptyLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1EmptyLatent",
            display_name="ACE-Step v1 Empty Latent",
            category=CATEGORY,
            description=("An empty ACE-Step latent of a duration: [batch, 8, 16, int(seconds·44100/4096)], the same "
                         "format as ComfyUI's EmptyAceStepLatentAudio. The sampler takes its length and batch size."),
            inputs=[
                io.Float.Input("seconds", default=60.0, min=0.1, max=240.0, step=0.01,
                               tooltip=("Song length in seconds (the original's audio_duration, default 60, at most "
                                        "240). The latent holds int(seconds·44100/4096) frames, so the audio comes "
                                        "out up to 0.09 s shorter.")),
                io.Int.Input("batch_size", default=1, min=1, max=64,
                             tooltip="Number of songs generated together (the original's batch_size)."),
            ],
            outputs=[io.Latent.Output(tooltip="An ACE-Step v1 LATENT.")],
        )

    @classmethod
    def execute(cls, seconds: float, batch_size: int = 1) -> io.NodeOutput:
        try:
            frames = check_frames(frames_for_duration(float(seconds)), f"seconds = {seconds}")
        except ValueError as e:
            raise AceStepInputError(str(e)) from None
        samples = torch.zeros((int(batch_size), 8, 16, frames), device=mm.intermediate_device())
        return io.NodeOutput(make_latent(samples))


class AudioToLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1AudioToLatent",
            display_name="ACE-Step v1 Audio to Latent",
            category=CATEGORY,
            description=("Encodes any AUDIO (any sample rate, mono or stereo) with the model's DCAE, exactly as the "
                         "original encodes a source or reference file: mono is duplicated to stereo, other rates are "
                         "resampled to 44.1 kHz with torchaudio's windowed sinc, the end is padded to 4096 samples."),
            inputs=[
                ModelType.Input("model", tooltip="The ACE-Step v1 model (its DCAE encoder is used)."),
                io.Audio.Input("audio", tooltip="The song to repaint, extend, edit or use as audio2audio reference."),
            ],
            outputs=[io.Latent.Output(tooltip="The song's ACE-Step v1 latent (batch as the audio's).")],
        )

    @classmethod
    def execute(cls, model, audio) -> io.NodeOutput:
        model = check_model(model)
        wave, sr = audio_input(audio)
        if wave.shape[1] == 1:
            warn("audio is mono: duplicated to stereo, as the original does")
        if sr != SAMPLE_RATE:
            warn("audio is %d Hz: resampled to 44100 Hz for the encoder", sr)
        progress = chunk_progress(wave.shape[0])
        out = []
        frames = wave.shape[-1] // SAMPLES_PER_LATENT + 1
        with running(model, "dcae", model.pipe.activation_bytes("decode", frames)) as pipe:
            for i in range(wave.shape[0]):
                out.append(pipe.encode_audio(wave[i], sr))
                progress(i + 1, wave.shape[0])
        latents = torch.cat(out, dim=0)
        return io.NodeOutput(make_latent(latents, {"source_seconds": wave.shape[-1] / sr}))


class LatentToAudio(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1LatentToAudio",
            display_name="ACE-Step v1 Latent to Audio",
            category=CATEGORY,
            description=("Decodes ACE-Step v1 latents (ours or ComfyUI's native ones) with the DCAE and the vocoder "
                         "into a standard stereo AUDIO for SaveAudio / PreviewAudio."),
            inputs=[
                ModelType.Input("model", tooltip="The ACE-Step v1 model (its DCAE decoder and vocoder are used)."),
                io.Latent.Input("latent", tooltip="An ACE-Step v1 latent [B, 8, 16, T]."),
                io.Combo.Input("sample_rate", options=RATE_CHOICES, default=str(OUTPUT_SAMPLE_RATE),
                               tooltip=("48000: the original pipeline's output (the vocoder's 44.1 kHz resampled with "
                                        "torchaudio's windowed sinc). 44100: the vocoder's native rate, no resampling "
                                        "(what ComfyUI's VAEDecodeAudio gives).")),
                io.Combo.Input("mode", options=DECODE_MODES, default="plain",
                               tooltip=("plain: the original's decode (whole song at once). chunked: decode in "
                                        "overlapping windows for long songs on little memory (numerically very close "
                                        "to plain). overlapped: the original's --overlapped_decode algorithm.")),
            ],
            outputs=[io.Audio.Output(tooltip="Stereo float32 AUDIO at the chosen sample rate.")],
        )

    @classmethod
    def execute(cls, model, latent, sample_rate: str = "48000", mode: str = "plain") -> io.NodeOutput:
        model = check_model(model)
        samples = ace_latent(latent)
        if sample_rate not in RATE_CHOICES:
            raise AceStepInputError(f"sample_rate {sample_rate!r} is unknown; choose 48000 or 44100.")
        if mode not in DECODE_MODES:
            raise AceStepInputError(f"mode {mode!r} is unknown; choose one of {', '.join(DECODE_MODES)}.")
        sr = int(sample_rate)
        on_chunk = chunk_progress()
        rate = None if sr == SAMPLE_RATE else sr
        with running(model, "dcae", model.pipe.activation_bytes("decode", samples.shape[-1])) as pipe:
            try:
                wave = pipe.decode_latents(samples, rate, mode=mode, on_chunk=on_chunk, on_layer=layer_check())
            except mm.OOM_EXCEPTION as e:
                if mode == "chunked" or mm.OOM_EXCEPTION is Exception or isinstance(e, mm.InterruptProcessingException):
                    raise
                # As ComfyUI's own VAE decode does: retry in pieces rather than fail.
                warn("out of memory decoding %d frames in %s mode; retrying in chunked mode", samples.shape[-1], mode)
                mm.soft_empty_cache(True)
                wave = pipe.decode_latents(samples, rate, mode="chunked", on_chunk=chunk_progress(),
                                           on_layer=layer_check())
        mm.soft_empty_cache()
        return io.NodeOutput(make_audio(wave, sr))


NODES = [EmptyLatent, AudioToLatent, LatentToAudio]
