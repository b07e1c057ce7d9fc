"""AceStepTransformer on the tiny checkpoint against the upstream golden fixtures, plus the
properties the pipeline relies on (prepared cross K/V, ERG hook points, empty lyrics, RoPE layout)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from golden_utils import assert_close_rel, component_tol, load_golden
from acestep_core.models.lyric_encoder import RelPositionAttention, RelPositionTable
from acestep_core.models.rope import RotaryTables, apply_rope, rope_tables
from acestep_core.models.transformer import AceStepTransformer, is_unused_transformer_key

ERG_LYRIC = [f"lyric_encoder.encoders.{j}.self_attn.linear_q" for j in (4, 5)]
ERG_DIFFUSION = [f"transformer_blocks.{i}.{a}.to_q" for i in range(15, 20) for a in ("attn", "cross_attn")]


@pytest.fixture(scope="module")
def tiny_cfg(tiny_ckpt) -> dict:
    return json.loads((tiny_ckpt / "ace_step_transformer" / "config.json").read_text())


@pytest.fixture(scope="module")
def model(tiny_ckpt, tiny_cfg) -> AceStepTransformer:
    from safetensors.torch import load_file

    m = AceStepTransformer.from_config(tiny_cfg, dtype=torch.float32)
    sd = load_file(str(tiny_ckpt / "ace_step_transformer" / "diffusion_pytorch_model.safetensors"))
    sd = {k: v.float() for k, v in sd.items() if not is_unused_transformer_key(k)}
    m.load_state_dict(sd, strict=True)
    return m.eval()


@pytest.fixture
def routed(model, tiny_cfg, cpu_gemm_route) -> AceStepTransformer:
    """``model``'s weights in a model built with the route's layer set."""
    m = AceStepTransformer.from_config(tiny_cfg, device="meta", operations=cpu_gemm_route)
    m.load_state_dict(model.state_dict(), strict=True, assign=True)
    return m.eval()


@pytest.fixture(scope="module")
def gold(golden_dir):
    return load_golden(golden_dir, "transformer")[0]


@pytest.fixture(scope="module")
def lyric_gold(golden_dir):
    return load_golden(golden_dir, "lyric_encoder")[0]


def _encode(model, g, text=None, speaker=None, lyric=None):
    return model.encode(g["text_hidden_states"] if text is None else text, g["text_attention_mask"],
                        g["speaker_embeds"] if speaker is None else speaker,
                        g["lyric_token_idx"] if lyric is None else lyric, g["lyric_mask"])


def _check(golden_index, name, ours, ref, component="transformer"):
    tol = component_tol(golden_index, component, name)
    rel = assert_close_rel(ours, ref, tol, name)
    print(f"{component}/{name}: rel {rel:.3e} (tol {tol:.1e})")


@torch.no_grad()
def test_encode(model, gold, golden_index):
    ctx, mask = _encode(model, gold)
    _check(golden_index, "encoder_hidden_states", ctx, gold["encoder_hidden_states"])
    assert mask.dtype == torch.float32
    assert torch.equal(mask, gold["encoder_hidden_mask"])


@torch.no_grad()
def test_encode_random_speaker(model, gold, golden_index):
    ctx, _ = _encode(model, gold, speaker=gold["speaker_embeds_random"])
    _check(golden_index, "encoder_hidden_states_random_speaker", ctx, gold["encoder_hidden_states_random_speaker"])


@torch.no_grad()
def test_encode_null(model, gold, golden_index):
    ctx, _ = _encode(model, gold, text=torch.zeros_like(gold["text_hidden_states"]),
                     lyric=torch.zeros_like(gold["lyric_token_idx"]))
    _check(golden_index, "encoder_hidden_states_null", ctx, gold["encoder_hidden_states_null"])


@pytest.mark.parametrize("t, name", [(12.0, "decode_t12"), (734.5, "decode_t734_5"), (999.0, "decode_t999")])
@torch.no_grad()
def test_decode(routed, gold, golden_index, t, name):
    v = routed.decode(gold["latents"], gold["attention_mask"], gold["encoder_hidden_states"],
                     gold["encoder_hidden_mask"], torch.tensor([t]), output_length=21)
    _check(golden_index, name, v, gold[name])


@torch.no_grad()
def test_forward(routed, gold, golden_index):
    # upstream's forward: encode, then decode over the latent's own length
    v = routed.decode(gold["latents"], gold["attention_mask"], *_encode(routed, gold), torch.tensor([500.0]),
                      output_length=gold["latents"].shape[-1])
    _check(golden_index, "forward_t500", v, gold["forward_t500"])


@torch.no_grad()
def test_batch_decode(routed, gold, golden_index):
    ctx = torch.cat([gold["encoder_hidden_states"], gold["encoder_hidden_states_null"]])
    mask = torch.cat([gold["encoder_hidden_mask"], gold["encoder_hidden_mask"]])
    v = routed.decode(gold["batch_latents"], torch.ones(2, 21), ctx, mask, gold["batch_timesteps"], output_length=21)
    _check(golden_index, "batch_decode", v, gold["batch_decode"])


@pytest.mark.parametrize("prefix, name", [("", "output"), ("batch_", "batch_output")])
@torch.no_grad()
def test_lyric_encoder(routed, lyric_gold, golden_index, prefix, name):
    out = routed.lyric_encoder_forward(lyric_gold[f"{prefix}lyric_token_idx"], lyric_gold[f"{prefix}lyric_mask"])
    _check(golden_index, name, out, lyric_gold[name], component="lyric_encoder")


@torch.no_grad()
def test_prepared_context_is_identical(model, gold):
    """Projecting cross K/V once per generation gives bit-identical steps (mask reused too)."""
    ctx, mask = gold["encoder_hidden_states"], gold["encoder_hidden_mask"]
    att = gold["attention_mask"]
    prepared = model.prepare_context(ctx, mask)
    for t in (999.0, 12.0):
        plain = model.decode(gold["latents"], att, ctx, mask, torch.tensor([t]))
        fast = model.decode(gold["latents"], att, timestep=torch.tensor([t]), context=prepared)
        assert torch.equal(plain, fast)
    assert prepared._bias_src is att  # built once, then reused for the second step


@torch.no_grad()
def test_scalar_timestep_and_output_length(model, gold):
    ref = model.decode(gold["batch_latents"], torch.ones(2, 21), gold["encoder_hidden_states"].expand(2, -1, -1),
                       gold["encoder_hidden_mask"].expand(2, -1), torch.tensor([300.0, 300.0]))
    out = model.decode(gold["batch_latents"], torch.ones(2, 21), gold["encoder_hidden_states"].expand(2, -1, -1),
                       gold["encoder_hidden_mask"].expand(2, -1), 300.0, output_length=25)
    assert out.shape == (2, 8, 16, 25)
    assert torch.equal(out[..., :21], ref) and not out[..., 21:].any()


def _hooks(model, names, tau, calls):
    def hook(_module, _inputs, output):
        calls.append(1)
        output.mul_(tau)

    modules = dict(model.named_modules())
    return [modules[n].register_forward_hook(hook) for n in names]


def _with_hooks(model, names, tau, fn):
    calls: list[int] = []
    handles = _hooks(model, names, tau, calls)
    try:
        return fn(), len(calls)
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def test_erg_hook_points(model, gold):
    modules = dict(model.named_modules())
    assert all(isinstance(modules[n], torch.nn.Linear) for n in ERG_LYRIC + ERG_DIFFUSION)

    base_ctx, _ = _encode(model, gold)
    ctx, n = _with_hooks(model, ERG_LYRIC, 0.01, lambda: _encode(model, gold)[0])
    assert n == 2 and (ctx - base_ctx).abs().max() > 1e-3
    ctx1, _ = _with_hooks(model, ERG_LYRIC, 1.0, lambda: _encode(model, gold)[0])
    assert torch.equal(ctx1, base_ctx)

    def dec():
        return model.decode(gold["latents"], gold["attention_mask"], gold["encoder_hidden_states"],
                            gold["encoder_hidden_mask"], torch.tensor([500.0]))

    base = dec()
    out, n = _with_hooks(model, ERG_DIFFUSION, 0.01, dec)
    assert n == len(ERG_DIFFUSION) and (out - base).abs().max() > 1e-3
    same, _ = _with_hooks(model, ERG_DIFFUSION, 1.0, dec)
    assert torch.equal(same, base)
    # On the linear self-attention the scale cancels (ReLU is homogeneous, output normalised): tiny effect.
    self_only, n = _with_hooks(model, ERG_DIFFUSION[0::2], 0.01, dec)
    assert n == 5 and (self_only - base).abs().max() < 1e-4


@torch.no_grad()
def test_empty_lyrics_give_zero_attention_not_nan(model, gold):
    att = RelPositionAttention(4, 32)
    x = torch.randn(2, 3, 32)
    pos = RelPositionTable(32).get(3, torch.float32, "cpu")
    keep = torch.tensor([[[False, False, False]], [[True, True, False]]])
    out = att(x, pos, keep)
    assert torch.isfinite(out).all()
    assert torch.equal(out[0], att.linear_out.bias.expand(3, -1))  # all weights zero → bias only
    ctx, mask = model.encode(gold["text_hidden_states"], gold["text_attention_mask"], gold["speaker_embeds"],
                             torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 1, dtype=torch.long))
    assert torch.isfinite(ctx).all() and mask[0, -1] == 0


def test_rope_tables_and_interleaved_pairing():
    dim, theta = 16, 1e6
    cos, sin = rope_tables(40, dim, theta)
    inv = [1.0 / theta ** (2 * j / dim) for j in range(dim // 2)]
    p = 37
    for d in range(dim):  # rotate-half frequency layout: column d uses inv_freq[d mod dim/2]
        assert math.isclose(cos[p, d].item(), math.cos(p * inv[d % (dim // 2)]), rel_tol=0, abs_tol=2e-6)
    x = torch.zeros(1, 1, 40, dim)
    x[..., 0] = 1.0  # e_0: out[0] = cos[p,0], out[1] = +sin[p,1] (pair (0,1), different frequencies)
    x[..., 3] = 1.0  # e_3: out[2] = -sin[p,2], out[3] = cos[p,3]
    out = apply_rope(x, cos, sin)[0, 0, p]
    expect = torch.zeros(dim)
    expect[0], expect[1], expect[2], expect[3] = cos[p, 0], sin[p, 1], -sin[p, 2], cos[p, 3]
    assert torch.equal(out, expect)


def test_rotary_cache_is_lazy_and_exact():
    tables = RotaryTables(16, 1e6, 32768)
    cos, sin = tables.get(21, torch.float32, "cpu")
    full_cos, full_sin = rope_tables(32768, 16, 1e6)
    assert cos.shape == (21, 16) and tables._master[torch.device("cpu")][0].shape[0] < 32768
    assert torch.equal(cos, full_cos[:21]) and torch.equal(sin, full_sin[:21])
    c2, _ = tables.get(5000, torch.bfloat16, "cpu")
    assert c2.dtype == torch.bfloat16 and torch.equal(c2, full_cos[:5000].to(torch.bfloat16))
    assert tables.get(21, torch.float32, "cpu")[0].data_ptr() == tables.get(21, torch.float32, "cpu")[0].data_ptr()


def test_no_rotary_state_and_no_training_modules(model):
    keys = model.state_dict().keys()
    assert not any("rotary" in k or k.startswith("projectors.") or "add_" in k for k in keys)


@torch.no_grad()
def test_bfloat16_runs_close(model, tiny_cfg, gold):
    """The same weights in bf16 (the pipeline default) follow the fp32 result loosely."""
    m16 = AceStepTransformer.from_config(tiny_cfg, dtype=torch.bfloat16)
    m16.load_state_dict(model.state_dict())
    ctx, mask = m16.encode(gold["text_hidden_states"].bfloat16(), gold["text_attention_mask"],
                           gold["speaker_embeds"].bfloat16(), gold["lyric_token_idx"], gold["lyric_mask"])
    v = m16.decode(gold["latents"].bfloat16(), gold["attention_mask"], ctx, mask, torch.tensor([500.0]))
    assert v.dtype == torch.bfloat16
    ref = model.decode(gold["latents"], gold["attention_mask"], gold["encoder_hidden_states"],
                       gold["encoder_hidden_mask"], torch.tensor([500.0]))
    err = (v.float() - ref).abs().max() / ref.pow(2).mean().sqrt()
    assert err < 0.1, err


@torch.no_grad()
def test_meta_build_with_assign_load(model, tiny_cfg, gold):
    """Loaders can skip random init: build on meta, then assign the checkpoint tensors."""
    lazy = AceStepTransformer.from_config(tiny_cfg, device="meta")
    lazy.load_state_dict(model.state_dict(), strict=True, assign=True)
    args = (gold["latents"], gold["attention_mask"], gold["encoder_hidden_states"], gold["encoder_hidden_mask"],
            torch.tensor([734.5]))
    assert torch.equal(lazy.eval().decode(*args), model.decode(*args))


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 5e-6), (torch.bfloat16, 2e-2)])
def test_feed_forward_equals_upstreams_three_conv1d_calls(dtype, tol):
    # GLUMBConv runs token-major (GEMMs + a channels-last depthwise conv); upstream calls its three
    # Conv1d modules on [B, C, T]. Same weights, same arithmetic up to the order of the sums.
    from acestep_core.models.transformer import GLUMBConv

    torch.manual_seed(0)
    ff = GLUMBConv(64, 160).to(dtype)
    with torch.no_grad():
        for p in ff.parameters():
            p.copy_(torch.randn_like(p) * 0.1)
        x = torch.randn(2, 37, 64).to(dtype)
        h = ff.depth_conv.conv(torch.nn.functional.silu(ff.inverted_conv.conv(x.transpose(1, 2))))
        h, gate = torch.chunk(h, 2, dim=1)
        ref = ff.point_conv.conv(h * torch.nn.functional.silu(gate)).transpose(1, 2)
        ours = ff(x)
    assert ours.shape == ref.shape == (2, 37, 64)
    err = (ours.float() - ref.float()).abs().max() / ref.float().pow(2).mean().sqrt()
    assert err <= tol, err
