"""The DCAE's in-place blocks give bit-identical numbers to diffusers' own forwards; its sub-pixel
upsamplers the same function to float rounding, closer to float64 than diffusers' form."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from diffusers import AutoencoderDC
from diffusers.models.autoencoders import autoencoder_dc
from diffusers.models.normalization import RMSNorm

from acestep_core.models.dcae import DEFAULT_DCAE_CONFIG, build_autoencoder
from acestep_core.models.dcae_blocks import (
    InPlaceDCUpBlock2d,
    InPlaceResBlock,
    InPlaceRMSNorm,
    sub_pixel_kernels,
    use_in_place_blocks,
    use_sub_pixel_upsampling,
)
from golden_utils import _rel_error


def _stock(model: AutoencoderDC) -> AutoencoderDC:
    """``model``'s weights in the model diffusers builds from its config (diffusers' own forwards)."""
    stock = AutoencoderDC.from_config(model.config)
    stock.load_state_dict(model.state_dict(), strict=True)
    return stock.eval()


def _in_place_only(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with the bit-identical upsamplers instead of the sub-pixel ones."""
    return use_sub_pixel_upsampling(copy.deepcopy(model), False)


def _randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():  # norm weights near 1, biases and kernels small: a stable random net
            p.copy_(torch.randn(p.shape, generator=gen) * (0.1 if p.dim() == 1 else 0.05) + (p.dim() == 1))
    return model


@pytest.fixture(scope="module")
def tiny_dcae(tiny_ckpt):
    config = json.loads((tiny_ckpt / "music_dcae_f8c8" / "config.json").read_text())
    return _randomize(build_autoencoder(config))


def _counts(model: torch.nn.Module) -> dict[type, int]:
    counts: dict[type, int] = {}
    for module in model.modules():
        counts[type(module)] = counts.get(type(module), 0) + 1
    return counts


def test_build_autoencoder_uses_the_in_place_blocks(tiny_dcae):
    counts = _counts(tiny_dcae)
    assert counts.get(InPlaceResBlock, 0) > 0 and counts.get(InPlaceDCUpBlock2d, 0) > 0
    assert counts.get(InPlaceRMSNorm, 0) > 0
    assert all(m.sub_pixel for m in tiny_dcae.modules() if isinstance(m, InPlaceDCUpBlock2d))
    assert not {RMSNorm, autoencoder_dc.ResBlock, autoencoder_dc.DCUpBlock2d} & set(counts)
    stock = _counts(_stock(tiny_dcae))
    assert stock[autoencoder_dc.ResBlock] == counts[InPlaceResBlock]
    assert isinstance(next(m for m in tiny_dcae.modules() if type(m) is InPlaceResBlock), autoencoder_dc.ResBlock)
    assert list(tiny_dcae.state_dict()) == list(_stock(tiny_dcae).state_dict())


def test_in_place_blocks_hold_the_parameters_they_replace(tiny_dcae):
    stock = _stock(tiny_dcae)
    before = {name: p for name, p in stock.named_parameters()}
    assert use_in_place_blocks(stock) is stock
    assert {name: p for name, p in stock.named_parameters()} == before  # the same tensors, no copies
    assert set(_counts(stock)) == set(_counts(tiny_dcae))


@pytest.mark.parametrize("channels_last", [False, True])
def test_tiny_dcae_decode_and_encode_are_bit_identical(tiny_dcae, channels_last):
    stock, tiny_dcae = _stock(tiny_dcae), _in_place_only(tiny_dcae)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 8, 16, 24, generator=gen)
    mel = torch.randn(1, 2, 128, 96, generator=gen)
    if channels_last:
        z, mel = z.contiguous(memory_format=torch.channels_last), mel.contiguous(memory_format=torch.channels_last)
    z_before = z.clone()
    with torch.no_grad():
        ours, theirs = tiny_dcae.decoder(z), stock.decoder(z)
        assert torch.equal(z, z_before)
        assert ours.abs().mean() > 0 and torch.equal(ours, theirs)
        assert torch.equal(tiny_dcae.encoder(mel), stock.encoder(mel))


def test_full_size_decoder_is_bit_identical():
    # the released widths (1024 → 128 channels, EfficientViT blocks), on a short latent
    model = _randomize(build_autoencoder(DEFAULT_DCAE_CONFIG), seed=2)
    z = torch.randn(1, 8, 16, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours, theirs = _in_place_only(model).decoder(z), _stock(model).decoder(z)
    assert ours.shape == (1, 2, 128, 48) and torch.equal(ours, theirs)


def _up_block(in_ch: int, out_ch: int, seed: int = 4, **kwargs) -> autoencoder_dc.DCUpBlock2d:
    return _randomize(autoencoder_dc.DCUpBlock2d(in_ch, out_ch, interpolate=True, **kwargs), seed=seed)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("in_ch, out_ch", [(16, 8), (8, 8), (4, 8)])  # repeats 2 (the music DCAE's), 4, 8
def test_up_block_shortcut_view_equals_repeat_and_pixel_shuffle(in_ch, out_ch, channels_last):
    block = _up_block(in_ch, out_ch)
    x = torch.randn(2, in_ch, 5, 7, generator=torch.Generator().manual_seed(5))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        theirs = block(x)
        ours = InPlaceDCUpBlock2d.of(block, sub_pixel=False)(x)
    assert ours.shape == (2, out_ch, 10, 14) and torch.equal(ours, theirs)


def test_sub_pixel_kernels_sum_the_taps_that_read_one_input_pixel():
    w = torch.arange(9.0).reshape(1, 1, 3, 3)  # rows (0 1 2), (3 4 5), (6 7 8)
    k = sub_pixel_kernels(w).reshape(2, 2, 2, 2)  # [i, j, a, b]
    assert k[0, 0].tolist() == [[0, 1 + 2], [3 + 6, 4 + 5 + 7 + 8]]
    assert k[1, 1].tolist() == [[0 + 1 + 3 + 4, 2 + 5], [6 + 7, 8]]
    assert k[0, 1].tolist() == [[0 + 1, 2], [3 + 4 + 6 + 7, 5 + 8]]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("in_ch, out_ch, height, width", [(16, 8, 5, 7), (32, 16, 1, 9), (8, 4, 6, 1)])
def test_sub_pixel_up_block_is_diffusers_function_closer_to_float64(in_ch, out_ch, height, width, channels_last):
    block = _up_block(in_ch, out_ch)
    x = torch.randn(2, in_ch, height, width, generator=torch.Generator().manual_seed(5))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        exact = copy.deepcopy(block).double()(x.double())
        theirs = block(x)
        ours = InPlaceDCUpBlock2d.of(block)(x)
    assert ours.shape == theirs.shape == (2, out_ch, 2 * height, 2 * width)
    assert ours.is_contiguous(memory_format=torch.channels_last) == theirs.is_contiguous(
        memory_format=torch.channels_last)
    ours_err, theirs_err = _rel_error(ours, exact), _rel_error(theirs, exact)
    assert ours_err < 1e-6 and ours_err <= 1.5 * theirs_err + 1e-8, (ours_err, theirs_err)


def test_sub_pixel_up_block_in_bfloat16_is_as_close_as_diffusers():
    block = _up_block(64, 32, seed=8)
    x = torch.randn(1, 64, 6, 20, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        exact = copy.deepcopy(block).double()(x.double())
        block.bfloat16()
        theirs = block(x.bfloat16())
        ours = InPlaceDCUpBlock2d.of(block)(x.bfloat16())
    assert ours.dtype == torch.bfloat16
    assert _rel_error(ours, exact) < 1.5 * _rel_error(theirs, exact) + 1e-3


@pytest.mark.parametrize("kwargs", [dict(interpolation_mode="bilinear"), dict(shortcut=False)])
def test_sub_pixel_up_block_leaves_other_configurations_to_diffusers(kwargs):
    block = _up_block(16, 8, seed=10, **kwargs)
    x = torch.randn(1, 16, 4, 6, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        theirs = block(x)
        assert torch.equal(InPlaceDCUpBlock2d.of(block)(x), theirs)


def test_full_size_decoder_with_sub_pixel_upsamplers_matches_diffusers():
    model = _randomize(build_autoencoder(DEFAULT_DCAE_CONFIG), seed=2)
    z = torch.randn(1, 8, 16, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours, theirs = model.decoder(z), _stock(model).decoder(z)
        exact = _stock(model).double().decoder(z.double())
    assert not torch.equal(ours, theirs)  # the sub-pixel form really ran
    assert _rel_error(ours, exact) <= 1.5 * _rel_error(theirs, exact) + 1e-7


def test_use_sub_pixel_upsampling_switches_both_ways(tiny_dcae):
    model = _in_place_only(tiny_dcae)
    blocks = [b for b in model.modules() if isinstance(b, autoencoder_dc.DCUpBlock2d)]
    flags = lambda m: {b.sub_pixel for b in blocks}  # noqa: E731
    assert blocks and {type(b) for b in blocks} == {InPlaceDCUpBlock2d} and flags(model) == {False}
    assert flags(use_sub_pixel_upsampling(model)) == {True}
    assert flags(use_sub_pixel_upsampling(model, False)) == {False}
    assert [b for b in model.modules() if isinstance(b, autoencoder_dc.DCUpBlock2d)] == blocks  # the same modules


@pytest.mark.parametrize("affine, bias", [(True, False), (True, True), (False, False)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rms_norm_in_place_equals_diffusers(affine, bias, dtype):
    norm = RMSNorm(24, eps=1e-5, elementwise_affine=affine, bias=bias)
    if affine:
        _randomize(norm, seed=6)
    x = torch.randn(3, 5, 24, generator=torch.Generator().manual_seed(7)).to(dtype)
    before = x.clone()
    with torch.no_grad():
        theirs = norm(x)
        in_place = InPlaceRMSNorm.of(norm)
        assert type(in_place) is InPlaceRMSNorm and in_place.weight is norm.weight
        ours = in_place(x)
    assert ours.dtype == theirs.dtype and torch.equal(ours, theirs)
    assert torch.equal(x, before)  # the input is left as it was
