"""ACE-Step's music vocoder, ``ADaMoSHiFiGANV1`` (spec §6.5): log-mel ``[B,128,F]`` → wave ``[B,1,512F]``.

A ConvNeXt-1D backbone feeds a weight-normalised HiFi-GAN generator. Parameter names are exactly
the upstream file's (``backbone.*``, ``head.*`` with ``weight_g``/``weight_v``, and the
``mel_transform`` buffers), so the released checkpoint loads with ``strict=True``; ComfyUI's
``parametrizations.weight.original0/1`` spelling is converted by ``convert_vocoder_state_dict``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..audio.mel import LogMelSpectrogram
from . import fft_conv
from .operations import Operations, TorchOps

DEFAULT_CONFIG: dict[str, Any] = {
    "input_channels": 128,
    "depths": [3, 3, 9, 3],
    "dims": [128, 256, 384, 512],
    "drop_path_rate": 0.0,
    "kernel_sizes": [7],
    "upsample_rates": [4, 4, 2, 2, 2, 2, 2],
    "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4, 4],
    "resblock_kernel_sizes": [3, 7, 11, 13],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "num_mels": 512,
    "upsample_initial_channel": 1024,
    "use_template": False,
    "pre_conv_kernel_size": 13,
    "post_conv_kernel_size": 13,
    "sampling_rate": 44100,
    "n_fft": 2048,
    "win_length": 2048,
    "hop_length": 512,
    "f_min": 40,
    "f_max": 16000,
    "n_mels": 128,
}
"""The released checkpoint's configuration (spec §2.3; equal to upstream's constructor defaults)."""


# --------------------------------------------------------------------------- backbone


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over dim 1 of ``[B, C, T]``, written out by hand as upstream does (not ``F.layer_norm``)."""

    def __init__(self, dim: int, eps: float = 1e-6, **factory: Any) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim, **factory))
        self.bias = nn.Parameter(torch.zeros(dim, **factory))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None] * x + self.bias[:, None]


class ConvNeXtBlock(nn.Module):
    """``x + γ·pw2(GELU(pw1(LN(dwconv(x)))))`` along time, channels last inside."""

    def __init__(self, dim: int, kernel_size: int = 7, mlp_ratio: float = 4.0, operations: Operations = TorchOps,
                 **factory: Any) -> None:
        super().__init__()
        hidden = int(mlp_ratio * dim)
        self.dwconv = operations.Conv1d(dim, dim, kernel_size, padding=(kernel_size - 1) // 2, groups=dim, **factory)
        self.norm = operations.LayerNorm(dim, eps=1e-6, **factory)
        self.pwconv1 = operations.Linear(dim, hidden, **factory)
        self.pwconv2 = operations.Linear(hidden, dim, **factory)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6, **factory))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).permute(0, 2, 1)
        h = self.pwconv2(F.gelu(self.pwconv1(self.norm(h))))
        return x + (self.gamma * h).permute(0, 2, 1)


class ConvNeXtEncoder(nn.Module):
    """Stem conv (replicate padding) and ConvNeXt stages, widening with 1×1 convs between stages."""

    def __init__(
        self, input_channels: int, depths: Sequence[int], dims: Sequence[int], kernel_size: int = 7,
        operations: Operations = TorchOps, **factory: Any
    ) -> None:
        super().__init__()
        if len(depths) != len(dims):
            raise ValueError(f"depths {list(depths)} and dims {list(dims)} differ in length")
        stem = nn.Sequential(
            operations.Conv1d(input_channels, dims[0], 7, padding=3, padding_mode="replicate", **factory),
            ChannelsFirstLayerNorm(dims[0], **factory),
        )
        mids = [
            nn.Sequential(ChannelsFirstLayerNorm(dims[i], **factory),
                          operations.Conv1d(dims[i], dims[i + 1], 1, **factory))
            for i in range(len(dims) - 1)
        ]
        self.channel_layers = nn.ModuleList([stem, *mids])
        self.stages = nn.ModuleList(
            nn.Sequential(*[ConvNeXtBlock(dim, kernel_size, operations=operations, **factory) for _ in range(depth)])
            for depth, dim in zip(depths, dims)
        )
        self.norm = ChannelsFirstLayerNorm(dims[-1], **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for channel_layer, stage in zip(self.channel_layers, self.stages):
            x = stage(channel_layer(x))
        return self.norm(x)


# --------------------------------------------------------------------------- head


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, L]`` with its samples' channels adjacent in memory (strides ``(C·L, 1, C)``)."""
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x [B, C, L]`` is laid out as ``to_channels_last`` makes it (C and L both above 1)."""
    return x.dim() == 3 and x.shape[1] > 1 and x.shape[2] > 1 and x.stride(1) == 1


def _in_layout(x: torch.Tensor, channels_last_wanted: bool) -> torch.Tensor:
    if is_channels_last(x) == channels_last_wanted:
        return x
    return to_channels_last(x) if channels_last_wanted else x.contiguous()


class _WeightNormConv(nn.Module):
    """A 1-D (transposed) convolution stored as ``weight_g``/``weight_v``: ``W = g·v/‖v‖`` (norm over dims ≥ 1).

    Keeping both tensors as parameters (instead of folding them) keeps the state-dict keys of the
    upstream file. ``torch._weight_norm`` is the very kernel the legacy ``weight_norm`` hook calls.
    """

    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        **factory: Any,
    ) -> None:
        super().__init__()
        pair = (in_channels, out_channels) if self.transposed else (out_channels, in_channels)
        shape = (*pair, kernel_size)
        v = torch.empty(shape, **factory)
        g = torch.empty(shape[0], 1, 1, **factory)
        with torch.no_grad():
            nn.init.normal_(v, 0.0, 0.01)
            g.copy_(torch.norm_except_dim(v, 2, 0))
        self.weight_g = nn.Parameter(g)
        self.weight_v = nn.Parameter(v)
        self.bias = nn.Parameter(torch.zeros(out_channels, **factory))
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def weight(self) -> torch.Tensor:
        """The effective convolution weight."""
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_channels_last(x):
            y = F.conv2d(x.unsqueeze(2), self.weight().unsqueeze(2), self.bias,
                         (1, self.stride), (0, self.padding), (1, self.dilation))
            return y.squeeze(2)
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)


class WeightNormConv1d(_WeightNormConv):
    """Weight-normalised ``Conv1d``; by FFT while ``fft_block`` is set (``MusicVocoder.spectral``)."""

    fft_block: int | None = None
    """FFT block length while inside ``MusicVocoder.spectral`` (None: direct)."""
    spectrum: torch.Tensor | None = None
    """The kernel spectrum for ``fft_block``, computed on first use and dropped on leaving ``spectral``."""

    def by_fft(self, dtype: torch.dtype) -> bool:
        """Whether ``forward`` runs by FFT now for an input of ``dtype`` (float32 without autograd only)."""
        return self.fft_block is not None and dtype == torch.float32 and not torch.is_grad_enabled()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.by_fft(x.dtype):
            return super().forward(x)
        if self.spectrum is None:
            self.spectrum = fft_conv.kernel_spectrum(self.weight(), self.fft_block)
        return fft_conv.fft_conv1d(x, self.spectrum, self.bias, self.weight_v.shape[-1], self.padding, self.dilation)


class WeightNormConvTranspose1d(_WeightNormConv):
    """Weight-normalised ``ConvTranspose1d`` (dim 0 of ``weight_v`` is the *input* channel)."""

    transposed = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_channels_last(x):
            y = F.conv_transpose2d(x.unsqueeze(2), self.weight().unsqueeze(2), self.bias,
                                   (1, self.stride), (0, self.padding), 0, 1, (1, self.dilation))
            return y.squeeze(2)
        return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding, 0, 1, self.dilation)


def _same_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """HiFi-GAN ResBlock1: three ``x + c2(SiLU(c1(SiLU(x))))`` pairs, ``c1`` dilated."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int], **factory: Any) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, 1, _same_padding(kernel_size, d), d, **factory)
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, 1, _same_padding(kernel_size), 1, **factory)
            for _ in dilations
        )

    def is_direct(self, dtype: torch.dtype) -> bool:
        """Whether no convolution of this block runs by FFT now for ``dtype`` (``MusicVocoder.spectral``)."""
        return not any(conv.by_fft(dtype) for conv in (*self.convs1, *self.convs2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In-place where the value is not needed again: the same arithmetic (IEEE addition is
        # commutative), with fewer of the large fresh buffers whose page faults cost more than the
        # SiLUs themselves on long songs.
        for c1, c2 in zip(self.convs1, self.convs2):
            h = c1(F.silu(x))
            x = c2(F.silu(h, inplace=True)).add_(x)
        return x


class HiFiGANGenerator(nn.Module):
    """Upsamples backbone features to samples; each stage averages a bank of ResBlocks."""

    def __init__(
        self,
        num_mels: int,
        upsample_initial_channel: int,
        upsample_rates: Sequence[int],
        upsample_kernel_sizes: Sequence[int],
        resblock_kernel_sizes: Sequence[int],
        resblock_dilation_sizes: Sequence[Sequence[int]],
        pre_conv_kernel_size: int,
        post_conv_kernel_size: int,
        **factory: Any,
    ) -> None:
        super().__init__()
        c0 = upsample_initial_channel
        self.conv_pre = WeightNormConv1d(
            num_mels, c0, pre_conv_kernel_size, 1, _same_padding(pre_conv_kernel_size), **factory
        )
        self.ups = nn.ModuleList(
            WeightNormConvTranspose1d(c0 // 2**i, c0 // 2 ** (i + 1), k, u, (k - u) // 2, **factory)
            for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes))
        )
        self.resblocks = nn.ModuleList(
            ResBlock1(c0 // 2 ** (i + 1), k, d, **factory)
            for i in range(len(self.ups))
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes)
        )
        self.num_kernels = len(resblock_kernel_sizes)
        self.channels_last = True
        """On a CPU, run the direct convolutions channels-last (see ``forward``; False: channels-first)."""
        ch = c0 // 2 ** len(self.ups)
        self.conv_post = WeightNormConv1d(
            ch, 1, post_conv_kernel_size, 1, _same_padding(post_conv_kernel_size), **factory
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``[B, num_mels, F]`` → samples ``[B, 1, F·hop]``.

        On a CPU the direct convolutions run channels-last (as ``conv2d`` on ``[B, C, 1, L]``):
        oneDNN's channels-first 1-D kernels reorder every input and output and run the 8–64-channel
        stages at 10–150 GFLOP/s; channels-last they are 1.5–9× faster per layer, the upsamplers
        1.5–8×, the whole vocoder 1.2× (float32) and 2.5× (bfloat16), to the same rounding. Blocks
        that run by FFT take channels-first input, whose transforms read along time.
        """
        use_channels_last = self.channels_last and x.device.type == "cpu"
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(_in_layout(F.silu(x), use_channels_last))
            bank = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            layouts = {is_channels_last(x): x}  # the stage's input in each layout its blocks take
            xs = None
            for block in bank:
                wanted = use_channels_last and block.is_direct(x.dtype)
                if wanted not in layouts:
                    layouts[wanted] = _in_layout(x, wanted)
                y = block(layouts[wanted])
                xs = y if xs is None else xs.add_(y)
            del layouts  # the stage input's other copy is not needed by the next upsampler
            x = xs.div_(self.num_kernels)
        return torch.tanh(self.conv_post(F.silu(x))).contiguous()


# --------------------------------------------------------------------------- the vocoder


class MusicVocoder(nn.Module):
    """``ADaMoSHiFiGANV1``: ``backbone`` → ``head``; ``mel_transform`` is the matching analysis front end.

    ``drop_path_rate`` is accepted for config compatibility only (stochastic depth is training-only).
    The backbone's torch layers come from ``operations`` (``models/operations.py``); the head's
    weight-normalised convolutions are its own.
    """

    def __init__(
        self,
        input_channels: int = 128,
        depths: Sequence[int] = (3, 3, 9, 3),
        dims: Sequence[int] = (128, 256, 384, 512),
        drop_path_rate: float = 0.0,
        kernel_sizes: Sequence[int] = (7,),
        upsample_rates: Sequence[int] = (4, 4, 2, 2, 2, 2, 2),
        upsample_kernel_sizes: Sequence[int] = (8, 8, 4, 4, 4, 4, 4),
        resblock_kernel_sizes: Sequence[int] = (3, 7, 11, 13),
        resblock_dilation_sizes: Sequence[Sequence[int]] = ((1, 3, 5),) * 4,
        num_mels: int = 512,
        upsample_initial_channel: int = 1024,
        use_template: bool = False,
        pre_conv_kernel_size: int = 13,
        post_conv_kernel_size: int = 13,
        sampling_rate: int = 44100,
        n_fft: int = 2048,
        win_length: int = 2048,
        hop_length: int = 512,
        f_min: float = 40,
        f_max: float = 16000,
        n_mels: int = 128,
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        operations: Operations = TorchOps,
    ) -> None:
        super().__init__()
        if use_template:
            raise ValueError("use_template=True (noise-template branch) is not used by ACE-Step and not supported")
        if len(kernel_sizes) != 1:
            raise ValueError(f"parallel ConvNeXt kernels {list(kernel_sizes)} are not used by ACE-Step: unsupported")
        if math.prod(upsample_rates) != hop_length:
            raise ValueError(f"prod(upsample_rates) = {math.prod(upsample_rates)} must equal hop_length {hop_length}")
        if len(resblock_kernel_sizes) != len(resblock_dilation_sizes):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        factory = {"dtype": dtype, "device": device}
        self.sampling_rate = sampling_rate
        self.hop_length = hop_length
        self.backbone = ConvNeXtEncoder(input_channels, depths, dims, kernel_sizes[0], operations, **factory)
        self.head = HiFiGANGenerator(
            num_mels,
            upsample_initial_channel,
            upsample_rates,
            upsample_kernel_sizes,
            resblock_kernel_sizes,
            resblock_dilation_sizes,
            pre_conv_kernel_size,
            post_conv_kernel_size,
            **factory,
        )
        self.mel_transform = LogMelSpectrogram(
            sampling_rate, n_fft, win_length, hop_length, n_mels, f_min, f_max, dtype=dtype, device=device
        )
        self.use_fft = True
        """Run the wide head convolutions by FFT inside ``spectral`` (False: always direct)."""
        self.fft_rules = fft_conv.cpu_rules()
        """Which convolutions ``spectral`` runs by FFT: ``(width, kernel)`` pairs (``fft_conv.block_size``)."""
        self._spectral_depth = 0
        self.eval()

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, dtype: torch.dtype | None = None, device: torch.device | str | None = None,
        operations: Operations = TorchOps,
    ) -> MusicVocoder:
        """Build from a ``music_vocoder/config.json`` dict (``_``-prefixed bookkeeping keys are ignored)."""
        return cls(**_config_kwargs(config), dtype=dtype, device=device, operations=operations)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``[B, input_channels, F]`` → waveform ``[B, 1, hop·F]`` in (−1, 1)."""
        return self.head(self.backbone(mel))

    @contextmanager
    def spectral(self) -> Iterator[None]:
        """Inside, the wide head convolutions run by FFT (float32 on a CPU): the same output to ~6e-6 of its RMS.

        Their kernel spectra are computed on first use and freed on leaving (~1.5 GB for the released
        vocoder), so wrap all of a song's vocoder calls (``MusicDCAE`` does) to compute them once.
        Nested uses share the outer one's spectra. Off on other devices (their convolutions are
        fast) and while ``use_fft`` is False. Why: on a CPU these layers are compute-bound at the
        GEMM peak, so only fewer multiplies make the decode faster (60 s: see bench/RESULTS.md).
        """
        weight = self.head.conv_pre.weight_v
        outer = self._spectral_depth == 0
        wanted = outer and self.use_fft and weight.device.type == "cpu" and weight.dtype == torch.float32
        convs = self._fft_convs() if wanted else []
        for conv, n in convs:
            conv.fft_block = n
        self._spectral_depth += 1
        try:
            yield
        finally:
            self._spectral_depth -= 1
            for conv, _ in convs:
                conv.fft_block = conv.spectrum = None

    def _fft_convs(self) -> list[tuple[WeightNormConv1d, int]]:
        """The head convolutions worth running by FFT, with their block lengths."""
        found = []
        for conv in self.head.modules():
            if isinstance(conv, WeightNormConv1d):
                out_ch, in_ch, k = conv.weight_v.shape
                n = fft_conv.block_size(in_ch, out_ch, k, conv.stride, rules=self.fft_rules)
                if n is not None:
                    found.append((conv, n))
        return found

    @torch.no_grad()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        """``forward`` without autograd (upstream's inference entry point), wide convolutions by FFT."""
        with self.spectral():
            return self(mel)

    @torch.no_grad()
    def encode(self, wave: torch.Tensor) -> torch.Tensor:
        """Waveform ``[..., N]`` → log-mel ``[..., n_mels, N/hop]``."""
        return self.mel_transform(wave)


def _config_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in config.items() if not k.startswith("_")}
    unknown = set(kwargs) - set(DEFAULT_CONFIG)
    if unknown:
        raise TypeError(f"unknown vocoder config keys: {sorted(unknown)}")
    return kwargs


# --------------------------------------------------------------------------- checkpoints

_PARAMETRIZED = re.compile(r"\.parametrizations\.weight\.original([01])$")


def convert_vocoder_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Rename ``…parametrizations.weight.original0/1`` (ComfyUI, new-style weight norm) to ``…weight_g/_v``.

    Keys already in upstream's spelling pass through unchanged, so this is safe on any vocoder file.
    """
    out: dict[str, Any] = {}
    for key, value in sd.items():
        m = _PARAMETRIZED.search(key)
        new = key[: m.start()] + (".weight_g" if m.group(1) == "0" else ".weight_v") if m else key
        out[new] = value
    return out


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def _indices(keys: Sequence[str], prefix: str) -> list[int]:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in keys if (m := pat.match(k))})


def infer_vocoder_config(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Rebuild the vocoder config from tensor shapes (``sd``: key → tensor, or key → shape list).

    Lets a config-less file (ComfyUI's all-in-one checkpoint) load. Strides, dilations and the mel
    band edges are not visible in shapes: strides are taken as ``kernel // 2`` and dilations as
    (1, 3, 5), as in every released ACE-Step vocoder; rate and band edges are the §2.3 values.
    """
    sd = convert_vocoder_state_dict(sd)
    keys = list(sd)
    shape = {k: _shape(v) for k, v in sd.items()}
    n_layers = len(_indices(keys, "backbone.channel_layers."))
    dims = [shape["backbone.channel_layers.0.0.weight"][0]]
    dims += [shape[f"backbone.channel_layers.{i}.1.weight"][0] for i in range(1, n_layers)]
    depths = [len(_indices(keys, f"backbone.stages.{i}.")) for i in range(n_layers)]
    pre = shape["head.conv_pre.weight_v"]
    n_ups = len(_indices(keys, "head.ups."))
    up_kernels = [shape[f"head.ups.{i}.weight_v"][-1] for i in range(n_ups)]
    n_res = len(_indices(keys, "head.resblocks.")) // n_ups
    n_dil = len(_indices(keys, "head.resblocks.0.convs1."))
    config = dict(DEFAULT_CONFIG)
    config.update(
        input_channels=shape["backbone.channel_layers.0.0.weight"][1],
        depths=depths,
        dims=dims,
        kernel_sizes=[shape["backbone.stages.0.0.dwconv.weight"][-1]],
        upsample_rates=[k // 2 for k in up_kernels],
        upsample_kernel_sizes=up_kernels,
        resblock_kernel_sizes=[shape[f"head.resblocks.{j}.convs1.0.weight_v"][-1] for j in range(n_res)],
        resblock_dilation_sizes=[[1, 3, 5][:n_dil] for _ in range(n_res)],
        num_mels=pre[1],
        upsample_initial_channel=pre[0],
        use_template=any(k.startswith("head.noise_convs.") for k in keys),
        pre_conv_kernel_size=pre[-1],
        post_conv_kernel_size=shape["head.conv_post.weight_v"][-1],
        hop_length=math.prod(k // 2 for k in up_kernels),
    )
    if "mel_transform.mel_scale.fb" in shape:
        n_freqs, n_mels = shape["mel_transform.mel_scale.fb"]
        config.update(n_mels=n_mels, n_fft=(n_freqs - 1) * 2)
    if "mel_transform.spectrogram.window" in shape:
        config["win_length"] = shape["mel_transform.spectrogram.window"][0]
    return config
