"""MusicDCAE.decode's `on_layer` hook: called before every layer of every pass, in every mode, so a
caller can stop a decode within a layer; it changes no output and leaves no hook behind."""
from __future__ import annotations

import json

import pytest
import torch
from golden_utils import load_golden
from torch import nn

from acestep_core.models.dcae import MusicDCAE, build_autoencoder
from acestep_core.models.layer_hooks import before_each_layer
from acestep_core.models.vocoder import MusicVocoder, convert_vocoder_state_dict

MODES = ["plain", "chunked", "overlapped"]


class Stop(Exception):
    """What a caller's hook raises to abort (ComfyUI raises its InterruptProcessingException)."""


@pytest.fixture(scope="module")
def codec(tiny_ckpt) -> MusicDCAE:
    """The tiny checkpoint's codec in float32, loaded strictly."""
    from safetensors.torch import load_file

    def part(name: str) -> tuple[dict, dict]:
        config = json.loads((tiny_ckpt / name / "config.json").read_text())
        return config, load_file(str(tiny_ckpt / name / "diffusion_pytorch_model.safetensors"))

    dcae_config, dcae_sd = part("music_dcae_f8c8")
    vocoder_config, vocoder_sd = part("music_vocoder")
    dcae = build_autoencoder(dcae_config)
    dcae.load_state_dict(dcae_sd, strict=True)
    vocoder = MusicVocoder.from_config(vocoder_config)
    vocoder.load_state_dict(convert_vocoder_state_dict(vocoder_sd), strict=True)
    return MusicDCAE(dcae, vocoder).float()


@pytest.fixture(scope="module")
def latents(golden_dir) -> torch.Tensor:
    tensors, _ = load_golden(golden_dir, "dcae")
    return tensors["latents_44k"]


def _trace(codec: MusicDCAE, latents: torch.Tensor, mode: str, stop_at: int | None = None,
           events: list[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """(the hook calls in order: "L" per layer, "C" per progress tick; the wave); raises Stop at layer call `stop_at`."""
    events = [] if events is None else events

    def on_layer() -> None:
        if stop_at is not None and events.count("L") == stop_at:
            raise Stop
        events.append("L")

    wave = codec.decode(latents, 44100, mode=mode, on_chunk=lambda done, total: events.append("C"),
                        on_layer=on_layer)
    return events, wave


def _passes(events: list[str]) -> list[int]:
    """Layer calls per pass (the runs between progress ticks)."""
    return [len(run) for run in "".join(events).split("C")[:-1]]


def _layers(module: nn.Module) -> int:
    """Modules holding weights of their own: convolutions, linears, norms (each runs once per pass)."""
    return sum(next(m.parameters(recurse=False), None) is not None for m in module.modules())


def _no_hooks_left(codec: MusicDCAE) -> bool:
    return all(not m._forward_pre_hooks for m in codec.modules())


def test_plain_decode_calls_the_hook_before_every_layer_of_each_pass(codec, latents):
    passes = _passes(_trace(codec, latents, "plain")[0])
    assert len(passes) == 3  # DCAE decoder, vocoder channel 0, channel 1 (the 9 of a 60 s song)
    # at least one call per weight layer: 66 (DCAE) and 276 (vocoder) in the released model
    assert passes[0] >= _layers(codec.dcae.decoder) >= 20
    assert passes[1] == passes[2] >= _layers(codec.vocoder) >= 100
    assert _no_hooks_left(codec)


@pytest.mark.parametrize("mode", MODES)
def test_the_hook_changes_no_output(codec, latents, mode):
    plain = codec.decode(latents, 48000, mode=mode)
    hooked = codec.decode(latents, 48000, mode=mode, on_layer=lambda: None)
    assert torch.equal(hooked, plain)


@pytest.mark.parametrize("mode", MODES)
def test_raising_in_the_hook_stops_the_decode_within_a_pass(codec, latents, mode):
    events, reference = _trace(codec, latents, mode)
    passes = _passes(events)
    assert min(passes) >= 10
    for index in (0, 1):  # half-way through the first (DCAE) pass, then through the second
        stop_at = sum(passes[:index]) + passes[index] // 2
        stopped: list[str] = []
        with pytest.raises(Stop):
            _trace(codec, latents, mode, stop_at=stop_at, events=stopped)
        assert stopped.count("C") == index  # no tick of the interrupted pass: it stopped inside it
        assert _no_hooks_left(codec)
        assert all(conv.fft_block is None and conv.spectrum is None
                   for conv, _ in codec.vocoder._fft_convs())  # the FFT spectra were freed too
    # the model is as before: the next decode gives the same samples
    assert torch.equal(codec.decode(latents, 44100, mode=mode), reference)


def test_before_each_layer_removes_its_hooks_and_passes_none_through():
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Sequential(nn.Linear(2, 1)))
    calls: list[int] = []
    with before_each_layer(lambda: calls.append(1), net, net[2]):  # shared submodules hooked once
        net(torch.zeros(1, 2))
    assert len(calls) == 5  # the Sequential, Linear, ReLU, the inner Sequential, its Linear
    assert all(not m._forward_pre_hooks for m in net.modules())
    with before_each_layer(None, net):
        assert all(not m._forward_pre_hooks for m in net.modules())
