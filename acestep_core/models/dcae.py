"""ACE-Step's music autoencoder: stereo audio ↔ latents ``[B, 8, 16, T]`` (spec §6).

``MusicDCAE`` pairs diffusers' ``AutoencoderDC`` (mel ↔ latent; bit-identical to what upstream
uses) with the ``MusicVocoder`` (mel → wave). Encoding and the three decode strategies follow
upstream's ``acestep/music_dcae/music_dcae_pipeline.py`` operation by operation, because the
latent space, the lengths and the output samples are part of what has to match.

Decode modes:

* ``"plain"`` — upstream ``decode``: whole-song DCAE, vocoder once per stereo channel (a long song
  in exact windows: ``MusicDCAE.vocode``), 44.1 → sr
  resampling on the CPU in float32, output length ``ceil(4096·T·sr/44100)``.
* ``"overlapped"`` — upstream ``decode_overlap`` (its ``--overlapped_decode`` for > 48 s): DCAE in
  512-latent windows with hard cuts, vocoder on 512-frame blocks with 128-sample crossfades, both
  channels batched, output length ``int(4096·T·sr/44100)``.
* ``"chunked"`` — ours, for long songs on small memory: the DCAE decodes 256-latent cores with 128
  latents of context on each side (so every window is upstream's 512), the vocoder decodes
  1024-frame cores with 128 frames of context, more than its receptive field (±79 mel frames for
  the released structure, measured in the tests), so that part equals plain vocoding (bit-identical
  on the tiny checkpoint); assembled, resampled and sized exactly as ``"plain"``. The one
  approximation is the DCAE's deepest level, whose linear attention spans the whole input. On the
  golden tiny checkpoint, a 700-frame (65 s) latent decodes with an RMS error of 0.6 % of the
  signal RMS vs plain (max |error| 0.21 × RMS); upstream's overlapped mode, for comparison, is
  11.6 % RMS (max 4.4 × RMS) away from plain on the same latent.
"""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from diffusers import AutoencoderDC
from torch import nn

from ..audio.geometry import (
    HOP_LENGTH,
    LATENT_SCALE,
    LATENT_SHIFT,
    MEL_FRAMES_PER_LATENT,
    MEL_MAX,
    MEL_MIN,
    SAMPLE_RATE,
    SAMPLES_PER_LATENT,
    samples_for_frames,
)
from ..audio.resample import resample
from .dcae_blocks import use_in_place_blocks
from .layer_hooks import LayerHook, before_each_layer
from .operations import Operations, TorchOps
from .vocoder import MusicVocoder, convert_vocoder_state_dict, infer_vocoder_config

DecodeMode = Literal["plain", "overlapped", "chunked"]
ProgressHook = Callable[[int, int], None]

DEFAULT_DCAE_CONFIG: dict[str, Any] = {
    "in_channels": 2,
    "latent_channels": 8,
    "attention_head_dim": 32,
    "encoder_block_types": ["ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock"],
    "decoder_block_types": ["ResBlock", "ResBlock", "ResBlock", "EfficientViTBlock"],
    "encoder_block_out_channels": [128, 256, 512, 1024],
    "decoder_block_out_channels": [128, 256, 512, 1024],
    "encoder_layers_per_block": [2, 2, 3, 3],
    "decoder_layers_per_block": [3, 3, 3, 3],
    "encoder_qkv_multiscales": [[], [], [5], [5]],
    "decoder_qkv_multiscales": [[], [], [5], [5]],
    "upsample_block_type": "interpolate",
    "downsample_block_type": "Conv",
    "decoder_norm_types": "rms_norm",
    "decoder_act_fns": "silu",
    "scaling_factor": 0.41407,
}
"""The released ``music_dcae_f8c8`` configuration (spec §2.2)."""


# --------------------------------------------------------------------------- normalisation


def dcae_to_latents(z: torch.Tensor) -> torch.Tensor:
    """DCAE encoder output → the model's latent space: ``(z − shift)·scale``."""
    return (z - LATENT_SHIFT) * LATENT_SCALE


def latents_to_dcae(latents: torch.Tensor) -> torch.Tensor:
    """Model latents → DCAE decoder input: ``z/scale + shift``."""
    return latents / LATENT_SCALE + LATENT_SHIFT


def normalize_mel(logmel: torch.Tensor) -> torch.Tensor:
    """Natural-log mel → DCAE input range: ``((m − min)/(max − min) − 0.5)/0.5``."""
    m = (logmel - MEL_MIN) / (MEL_MAX - MEL_MIN)
    return (m - 0.5) / 0.5


def denormalize_mel(mel: torch.Tensor) -> torch.Tensor:
    """DCAE decoder output → natural-log mel: ``(m·0.5 + 0.5)·(max − min) + min``."""
    m = mel * 0.5 + 0.5
    return m * (MEL_MAX - MEL_MIN) + MEL_MIN


# --------------------------------------------------------------------------- AutoencoderDC


def build_autoencoder(
    config: Mapping[str, Any], *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> AutoencoderDC:
    """diffusers ``AutoencoderDC`` from a ``music_dcae_f8c8/config.json`` dict (``_`` keys dropped).

    Its blocks run their elementwise steps in place (``dcae_blocks``): bit-identical, less memory
    traffic; its upsamplers run as sub-pixel convolutions (rounding-level: see ``dcae_blocks``).
    """
    kwargs = {k: v for k, v in config.items() if not k.startswith("_")}
    allowed = set(inspect.signature(AutoencoderDC.__init__).parameters) - {"self"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(f"unknown AutoencoderDC config keys: {sorted(unknown)}")
    if device is not None:
        with torch.device(device):
            model = AutoencoderDC(**kwargs)
    else:
        model = AutoencoderDC(**kwargs)
    if dtype is not None:
        nn.Module.to(model, dtype=dtype)  # ModelMixin.to only adds a warning about fp32-kept modules (none here)
    return use_in_place_blocks(model).eval()


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def _count(keys: Sequence[str], prefix: str) -> int:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in keys if (m := pat.match(k))})


def infer_dcae_config(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild the ``AutoencoderDC`` config from tensor shapes (``sd``: key → tensor, or key → shape).

    Block types, widths, depths, head size, multiscale kernels and the up/down-sampling styles
    are visible in the shapes; the activation, ``scaling_factor`` (never used by ACE-Step) and the
    multiscale entries of ResBlock levels (which ignore them) are not, so they take §2.2's values.
    """
    keys = list(sd)
    shape = {k: _shape(v) for k, v in sd.items()}
    config = dict(DEFAULT_DCAE_CONFIG)
    config["in_channels"] = shape["encoder.conv_in.weight"][1]
    config["latent_channels"] = shape["encoder.conv_out.weight"][0]
    head_dims = [s[1] for k, s in shape.items() if k.endswith("to_qkv_multiscale.0.proj_out.weight")]
    if head_dims:
        config["attention_head_dim"] = head_dims[0]
    for side, blocks in (("encoder", "down_blocks"), ("decoder", "up_blocks")):
        levels = _count(keys, f"{side}.{blocks}.")
        types, widths, layers, scales, norms = [], [], [], [], []
        for i in range(levels):
            base = f"{side}.{blocks}.{i}."
            n = _count(keys, base)
            resample_first = side == "decoder" and i < levels - 1
            resample_last = side == "encoder" and i < levels - 1
            first = base + ("1." if resample_first else "0.")
            if first + "attn.to_q.weight" in shape:
                types.append("EfficientViTBlock")
                widths.append(shape[first + "attn.to_q.weight"][0])
                ks = sorted(
                    (int(m.group(1)), shape[k][-1])
                    for k in keys
                    if (m := re.fullmatch(re.escape(first) + r"attn\.to_qkv_multiscale\.(\d+)\.proj_in\.weight", k))
                )
                scales.append([k for _, k in ks])
            else:
                types.append("ResBlock")
                widths.append(shape[first + "conv1.weight"][0])
                # ResBlocks ignore their multiscale entry, so shapes cannot show it: keep §2.2's value.
                default = DEFAULT_DCAE_CONFIG[f"{side}_qkv_multiscales"]
                scales.append(list(default[i]) if levels == len(default) else [])
                norms.append("batch_norm" if first + "norm.running_mean" in shape else "rms_norm")
            layers.append(n - (1 if resample_first or resample_last else 0))
        config[f"{side}_block_types"] = types
        config[f"{side}_block_out_channels"] = widths
        config[f"{side}_layers_per_block"] = layers
        config[f"{side}_qkv_multiscales"] = scales
        if side == "decoder" and norms:
            config["decoder_norm_types"] = norms[0] if len(set(norms)) == 1 else norms
    enc_w = config["encoder_block_out_channels"]
    down = shape[f"encoder.down_blocks.0.{config['encoder_layers_per_block'][0]}.conv.weight"]
    config["downsample_block_type"] = "Conv" if down[0] == enc_w[1] else "pixel_unshuffle"
    up = shape["decoder.up_blocks.0.0.conv.weight"]
    same_width = up[0] == config["decoder_block_out_channels"][0]
    config["upsample_block_type"] = "interpolate" if same_width else "pixel_shuffle"
    return config


# --------------------------------------------------------------------------- window plans


def plan_windows(total: int, core: int, context: int) -> list[tuple[int, int, int, int]]:
    """Tile ``[0, total)`` with cores of ``core``; each window adds ``context`` on both sides.

    Returns ``(start, end, keep_start, keep_end)`` per window, all absolute; the kept ranges tile
    ``[0, total)`` exactly, in order.
    """
    if core <= 0 or context < 0:
        raise ValueError(f"core must be > 0 and context >= 0, got {core}, {context}")
    return [
        (max(0, s - context), min(total, s + core + context), s, min(total, s + core)) for s in range(0, total, core)
    ]


def overlap_dcae_windows(length: int) -> list[tuple[int, int, int, int]]:
    """Upstream ``decode_overlap``'s DCAE windows as ``(start, end, drop_head_mels, drop_tail_mels)``.

    Windows of 512 latents start every 256 latents (anchors ``128 + 256k < L − 128``, or one
    anchor); the first keeps all but the last 1024 mel frames, the last drops the first 1024, the
    middle ones drop 1024 at both ends, a single window keeps everything.
    """
    anchors = list(range(128, length - 128, 256)) or [128]
    out = []
    for i, anchor in enumerate(anchors):
        start = max(0, anchor - 128)
        end = min(length, start + 512)
        first, last = i == 0, i == len(anchors) - 1
        head = 0 if first else 1024
        tail = 0 if last else 1024
        out.append((start, end, head, tail))
    return out


def overlap_vocoder_blocks(mel_frames: int) -> int:
    """How many 512-frame vocoder blocks upstream's overlapped decode runs for ``mel_frames``."""
    total, hop, p, n = mel_frames * HOP_LENGTH, _OV_HOP, _OV_HOP, 1
    while p < total and p // HOP_LENGTH < mel_frames:
        n += 1
        p += hop
    return n


_OV_WIN_MELS = 512
_OV_WIN = _OV_WIN_MELS * HOP_LENGTH  # 262144 samples
_OV_OVERLAP = 1024
_OV_HOP = _OV_WIN - 2 * _OV_OVERLAP  # 260096
_OV_CROSSFADE = 128


# --------------------------------------------------------------------------- MusicDCAE


class MusicDCAE(nn.Module):
    """Audio ↔ latent codec: ``dcae`` (AutoencoderDC) + ``vocoder`` (MusicVocoder).

    The submodule names give the state-dict prefixes ``dcae.``/``vocoder.`` (ComfyUI stores them
    under ``vae.``). Encoding and decoding run in the modules' dtype on their device.
    """

    chunk_latents = 256
    chunk_context_latents = 128
    chunk_mels = 1024
    chunk_context_mels = 128
    # Plain decode vocodes long songs in windows too (see ``vocode``); the context exceeds the
    # vocoder's receptive field (±74 mel frames, measured in the tests).
    vocoder_window_mels = 1536
    vocoder_context_mels = 96

    def __init__(self, dcae: nn.Module, vocoder: nn.Module) -> None:
        super().__init__()
        self.dcae = dcae
        self.vocoder = vocoder

    @classmethod
    def from_config(
        cls,
        dcae_config: Mapping[str, Any] | None = None,
        vocoder_config: Mapping[str, Any] | None = None,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        operations: Operations = TorchOps,
    ) -> MusicDCAE:
        """Build both parts from their config dicts (``None``: the released checkpoint's config)."""
        return cls(
            build_autoencoder(dcae_config or DEFAULT_DCAE_CONFIG, dtype=dtype, device=device),
            MusicVocoder.from_config(vocoder_config or {}, dtype=dtype, device=device, operations=operations),
        )

    @classmethod
    def from_state_dicts(
        cls,
        dcae_sd: Mapping[str, torch.Tensor],
        vocoder_sd: Mapping[str, torch.Tensor],
        *,
        dcae_config: Mapping[str, Any] | None = None,
        vocoder_config: Mapping[str, Any] | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> MusicDCAE:
        """Build and load strictly; configs are inferred from the shapes when not given."""
        vocoder_sd = convert_vocoder_state_dict(vocoder_sd)
        model = cls.from_config(
            dcae_config or infer_dcae_config(dcae_sd),
            vocoder_config or infer_vocoder_config(vocoder_sd),
            dtype=dtype,
            device=device,
        )
        model.dcae.load_state_dict(dict(dcae_sd), strict=True)
        model.vocoder.load_state_dict(vocoder_sd, strict=True)
        return model

    @property
    def device(self) -> torch.device:
        return next(self.dcae.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.dcae.parameters()).dtype

    # ------------------------------------------------------------------ encode

    @torch.no_grad()
    def audio_to_mel(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """``[B, 2, N]`` at ``sample_rate`` → normalised mel ``[B, 2, 128, 8·ceil(N44/4096)]`` (DCAE input)."""
        if audio.ndim != 3:
            raise ValueError(f"expected audio [B, C, N], got shape {tuple(audio.shape)}")
        audio = audio.to(device=self.device, dtype=self.dtype)
        audio = resample(audio, sample_rate, SAMPLE_RATE)
        n = audio.shape[-1]
        if n % SAMPLES_PER_LATENT:
            audio = F.pad(audio, (0, SAMPLES_PER_LATENT - n % SAMPLES_PER_LATENT))
        mels = torch.stack([self.vocoder.mel_transform(item) for item in audio])
        return normalize_mel(mels)

    @torch.no_grad()
    def mel_to_latent(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised mel ``[B, 2, 128, F]`` → latents ``[B, 8, 16, F/8]``, one item at a time."""
        z = torch.cat([self.dcae.encoder(item.unsqueeze(0)) for item in mel], dim=0)
        return dcae_to_latents(z)

    @torch.no_grad()
    def encode(
        self, audio: torch.Tensor, sample_rate: int, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stereo audio ``[B, 2, N]`` → ``(latents [B, 8, 16, T], latent_lengths [B])`` (spec §6.1).

        ``latent_lengths`` is upstream's ``(N / sr · 44100 / 512 / 8).long()`` in float32 — one
        less than ``T`` when padding added a frame. ``lengths`` gives per-item sample counts.
        """
        if audio.ndim != 3 or audio.shape[1] != 2:
            raise ValueError(
                f"expected stereo audio [B, 2, N], got shape {tuple(audio.shape)}"
                " (convert mono/multichannel audio first: acestep_core.audio.io.to_stereo)"
            )
        if lengths is None:
            lengths = torch.tensor([audio.shape[-1]] * audio.shape[0])
        latents = self.mel_to_latent(self.audio_to_mel(audio, sample_rate))
        lengths = lengths.to(self.device)
        latent_lengths = (lengths / sample_rate * SAMPLE_RATE / HOP_LENGTH / MEL_FRAMES_PER_LATENT).long()
        return latents, latent_lengths

    # ------------------------------------------------------------------ decode stages

    @torch.no_grad()
    def latent_to_mel(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, 8, 16, T]`` → natural-log mel ``[B, 2, 128, 8T]``, one item at a time."""
        z = latents_to_dcae(latents.to(device=self.device, dtype=self.dtype))
        return torch.cat([denormalize_mel(self.dcae.decoder(item.unsqueeze(0))) for item in z], dim=0)

    @torch.no_grad()
    def vocode(
        self, mel: torch.Tensor, *, batch_channels: bool = False, on_step: Callable[[], None] | None = None
    ) -> torch.Tensor:
        """Log-mel ``[B, 2, 128, F]`` → 44.1 kHz wave ``[B, 2, 512F]`` on the CPU, model dtype.

        Upstream vocodes each channel separately; ``batch_channels`` runs the pair as one batch.
        A song longer than ``vocoder_window_mels`` runs in windows with ``vocoder_context_mels`` of
        context per side, beyond the receptive field, so every kept sample sees exactly the inputs it
        sees in one pass: the same samples up to float rounding (2e-6 of the RMS on the full-size
        vocoder). Why: the whole-song buffers of a long song (40-80 MB at 60 s) are each a fresh mmap
        whose page faults cost more than the convolutions' spare time; windowed buffers stay below
        glibc's mmap threshold and are reused (60 s on a CPU: -12 %), and the memory stays bounded.
        """
        window, context = self.vocoder_window_mels, self.vocoder_context_mels
        with self.vocoder.spectral():  # the FFT convolutions' kernel spectra: once per song
            if mel.shape[-1] > window + 2 * context:
                return self._vocode_windows(mel, window, context, batch_channels, on_step)
            return self._vocode_whole(mel, batch_channels, on_step)

    def vocoder_calls(self, mel_frames: int, *, chunked: bool = False, batch_channels: bool = False) -> int:
        """How many vocoder calls (progress ticks) one item of ``mel_frames`` takes."""
        if chunked:
            windows = len(plan_windows(mel_frames, self.chunk_mels, self.chunk_context_mels))
        elif mel_frames > self.vocoder_window_mels + 2 * self.vocoder_context_mels:
            windows = len(plan_windows(mel_frames, self.vocoder_window_mels, self.vocoder_context_mels))
        else:
            windows = 1
        return windows * (1 if batch_channels else 2)

    def _vocode_whole(
        self, mel: torch.Tensor, batch_channels: bool, on_step: Callable[[], None] | None
    ) -> torch.Tensor:
        waves = []
        for item in mel.to(device=self.device, dtype=self.dtype):
            if batch_channels:
                pair = self.vocoder.decode(item).squeeze(1).cpu()
                _call(on_step)
            else:
                chans = []
                for channel in item:
                    chans.append(self.vocoder.decode(channel.unsqueeze(0)).squeeze(1).cpu())
                    _call(on_step)
                pair = torch.cat(chans, dim=0)
            waves.append(pair)
        return torch.stack(waves)

    # ------------------------------------------------------------------ decode

    @torch.no_grad()
    def decode(
        self,
        latents: torch.Tensor,
        sample_rate: int | None = 48000,
        *,
        mode: DecodeMode = "plain",
        on_chunk: ProgressHook | None = None,
        batch_channels: bool = False,
        on_layer: LayerHook | None = None,
    ) -> torch.Tensor:
        """Latents ``[B, 8, 16, T]`` → float32 CPU waveform ``[B, 2, N]`` at ``sample_rate`` (None: 44.1 kHz).

        ``on_chunk(done, total)`` runs after every DCAE window and every vocoder call; an exception
        it raises aborts the decode. ``on_layer()`` runs before every layer of the DCAE and the
        vocoder in all modes (hundreds of times per pass, see ``layer_hooks``); an exception it
        raises aborts the decode within a layer, not a pass. Neither changes the output.
        ``batch_channels`` vocodes both channels as one batch in the plain and chunked modes
        (overlapped always does, as upstream).
        """
        if latents.ndim != 4 or latents.shape[-1] == 0:
            raise ValueError(f"expected latents [B, 8, 16, T] with T > 0, got shape {tuple(latents.shape)}")
        sr = SAMPLE_RATE if sample_rate is None else int(sample_rate)
        # one set of FFT kernel spectra for all items (made on first use)
        with self.vocoder.spectral(), before_each_layer(on_layer, self.dcae, self.vocoder):
            return self._decode(latents, sr, mode, on_chunk, batch_channels)

    def _decode(
        self, latents: torch.Tensor, sr: int, mode: DecodeMode, on_chunk: ProgressHook | None, batch_channels: bool
    ) -> torch.Tensor:
        mel_frames = latents.shape[-1] * MEL_FRAMES_PER_LATENT
        if mode == "plain":
            per_item = 1 + self.vocoder_calls(mel_frames, batch_channels=batch_channels)
            return self._decode_plain(latents, sr, _Progress(on_chunk, latents.shape[0] * per_item), batch_channels)
        if mode == "overlapped":
            per_item = len(overlap_dcae_windows(latents.shape[-1]))
            per_item += overlap_vocoder_blocks(latents.shape[-1] * MEL_FRAMES_PER_LATENT)
            return self._decode_overlapped(latents, sr, _Progress(on_chunk, latents.shape[0] * per_item))
        if mode == "chunked":
            frames = latents.shape[-1]
            per_item = len(plan_windows(frames, self.chunk_latents, self.chunk_context_latents))
            per_item += self.vocoder_calls(mel_frames, chunked=True, batch_channels=batch_channels)
            return self._decode_chunked(latents, sr, _Progress(on_chunk, latents.shape[0] * per_item), batch_channels)
        raise ValueError(f"unknown decode mode {mode!r}: use 'plain', 'overlapped' or 'chunked'")

    def _decode_plain(self, latents: torch.Tensor, sr: int, progress: _Progress, batch_channels: bool) -> torch.Tensor:
        waves = []
        for item in latents:
            mel = self.latent_to_mel(item.unsqueeze(0))
            progress.step()
            wav = self.vocode(mel, batch_channels=batch_channels, on_step=progress.step)[0]
            waves.append(resample(wav.float(), SAMPLE_RATE, sr))
        return torch.stack(waves)

    def _decode_chunked(
        self, latents: torch.Tensor, sr: int, progress: _Progress, batch_channels: bool
    ) -> torch.Tensor:
        waves = []
        for item in latents:
            mel = self.latent_to_mel_chunked(item.unsqueeze(0), on_step=progress.step)
            wav = self.vocode_chunked(mel, batch_channels=batch_channels, on_step=progress.step)[0]
            waves.append(resample(wav.float(), SAMPLE_RATE, sr))
        return torch.stack(waves)

    @torch.no_grad()
    def latent_to_mel_chunked(
        self, latents: torch.Tensor, *, on_step: Callable[[], None] | None = None
    ) -> torch.Tensor:
        """``latent_to_mel`` in windows of ``chunk_latents`` + ``chunk_context_latents`` per side.

        Approximate: the DCAE's deepest attention sees only its window.
        """
        frames = latents.shape[-1]
        mels = []
        for start, end, keep_start, keep_end in plan_windows(frames, self.chunk_latents, self.chunk_context_latents):
            mel = self.latent_to_mel(latents[..., start:end])
            a = (keep_start - start) * MEL_FRAMES_PER_LATENT
            mels.append(mel[..., a : a + (keep_end - keep_start) * MEL_FRAMES_PER_LATENT])
            _call(on_step)
        return torch.cat(mels, dim=-1)

    @torch.no_grad()
    def vocode_chunked(
        self, mel: torch.Tensor, *, batch_channels: bool = False, on_step: Callable[[], None] | None = None
    ) -> torch.Tensor:
        """``vocode`` in windows of ``chunk_mels`` + ``chunk_context_mels`` per side (CPU output).

        The vocoder is local (convolutions and per-frame norms); with context beyond its receptive
        field each kept sample sees exactly the inputs it sees in one pass.
        """
        with self.vocoder.spectral():
            return self._vocode_windows(mel, self.chunk_mels, self.chunk_context_mels, batch_channels, on_step)

    def _vocode_windows(
        self, mel: torch.Tensor, core: int, context: int, batch_channels: bool,
        on_step: Callable[[], None] | None,
    ) -> torch.Tensor:
        pieces = []
        for start, end, keep_start, keep_end in plan_windows(mel.shape[-1], core, context):
            wav = self._vocode_whole(mel[..., start:end], batch_channels, on_step)
            a = (keep_start - start) * HOP_LENGTH
            pieces.append(wav[..., a : a + (keep_end - keep_start) * HOP_LENGTH])
        return torch.cat(pieces, dim=-1)

    def _decode_overlapped(self, latents: torch.Tensor, sr: int, progress: _Progress) -> torch.Tensor:
        waves = []
        for item in latents:
            mel = self._overlap_latent_to_mel(item.unsqueeze(0), progress)
            wav = self._overlap_vocode(mel, progress)
            if sr != SAMPLE_RATE:
                wav = resample(wav.cpu(), SAMPLE_RATE, sr, compute_dtype=wav.dtype)
            length = min(samples_for_frames(item.shape[-1], sr, overlapped=True), wav.shape[-1])
            waves.append(wav[:, :length].cpu().float())
        return torch.stack(waves)

    def _overlap_latent_to_mel(self, latent: torch.Tensor, progress: _Progress) -> torch.Tensor:
        """Upstream's windowed DCAE decode of one item ``[1, 8, 16, L]`` → log-mel ``[1, 2, 128, 8L]``."""
        z = latents_to_dcae(latent.to(device=self.device, dtype=self.dtype))
        windows = overlap_dcae_windows(z.shape[-1])
        segments = []
        for start, end, head, tail in windows:
            mel = self.dcae.decoder(z[..., start:end])
            if len(windows) == 1:
                mel = mel[..., : min((end - start) * MEL_FRAMES_PER_LATENT, mel.shape[-1])]
            else:
                mel = mel[..., head : mel.shape[-1] - tail]
            if mel.shape[-1] > 0:
                segments.append(mel)
            progress.step()
        return denormalize_mel(torch.cat(segments, dim=-1))

    def _overlap_vocode(self, mel: torch.Tensor, progress: _Progress) -> torch.Tensor:
        """Upstream's overlapped vocoder on ``[1, 2, 128, M]`` → ``[2, S]`` (device; dtype may promote)."""
        mel = mel[0]
        frames = mel.shape[-1]
        tail_w = torch.linspace(1, 0, _OV_CROSSFADE, device=mel.device).view(1, 1, -1)
        head_w = torch.linspace(0, 1, _OV_CROSSFADE, device=mel.device).view(1, 1, -1)
        block = mel[..., :_OV_WIN_MELS]
        if 0 < block.shape[-1] < _OV_WIN_MELS:
            block = F.pad(block, (0, _OV_WIN_MELS - block.shape[-1]))
        out = self.vocoder.decode(block)[..., :-_OV_OVERLAP]
        progress.step()
        total = frames * HOP_LENGTH
        p = _OV_HOP
        while p < total:
            start = p // HOP_LENGTH
            if start >= frames:
                break
            block = mel[..., start : min(start + _OV_WIN_MELS, frames)]
            if block.shape[-1] < _OV_WIN_MELS:
                block = F.pad(block, (0, _OV_WIN_MELS - block.shape[-1]))
            new = self.vocoder.decode(block)
            progress.step()
            n = min(_OV_CROSSFADE, out.shape[-1], new.shape[-1] - (_OV_OVERLAP - _OV_CROSSFADE))
            if n > 0:
                faded = out[..., -n:] * tail_w[..., :n] + new[..., _OV_OVERLAP - n : _OV_OVERLAP] * head_w[..., :n]
                out = torch.cat([out[..., :-n], faded], dim=-1)
            if p + _OV_HOP >= total:
                out = torch.cat([out, new[..., _OV_OVERLAP:]], dim=-1)
            else:
                out = torch.cat([out, new[..., _OV_OVERLAP:-_OV_OVERLAP]], dim=-1)
            p += _OV_HOP
        return out.squeeze(1)


class _Progress:
    """Counts finished work units and reports ``(done, total)`` to the caller's hook."""

    def __init__(self, hook: ProgressHook | None, total: int) -> None:
        self.hook, self.total, self.done = hook, total, 0

    def step(self) -> None:
        self.done += 1
        if self.hook is not None:
            self.hook(self.done, self.total)


def _call(fn: Callable[[], None] | None) -> None:
    if fn is not None:
        fn()
