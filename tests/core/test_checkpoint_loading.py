"""Checkpoint loading: both layouts, dtypes, the allow-list, and every way a checkpoint can be broken."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from acestep_core import AceStepPipeline
from acestep_core.checkpoint import CheckpointError, download_checkpoint, open_checkpoint, resolve_checkpoint
from acestep_core.loading import load_music_dcae, load_text_encoder, load_transformer, resolve_dtype
from golden_utils import make_all_in_one

SHORT = dict(prompt="pop, rock", lyrics="[verse]\nHello world", audio_duration=1.0, infer_step=3,
             manual_seeds=[1], retake_seeds=[2])


@pytest.fixture(scope="module")
def all_in_one(tiny_ckpt) -> Path:
    return make_all_in_one(tiny_ckpt, Path(tempfile.gettempdir()) / "acestep-tiny-all-in-one.safetensors")


def _copy_ckpt(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=False)
    return dst


def test_folder_and_all_in_one_give_identical_models(tiny_ckpt, all_in_one):
    folder, single = open_checkpoint(tiny_ckpt), open_checkpoint(all_in_one)
    assert folder.layout == "folder" and single.layout == "all_in_one"
    a = load_transformer(folder["transformer"], dtype=torch.float32).state_dict()
    b = load_transformer(single["transformer"], dtype=torch.float32).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    da = load_music_dcae(folder, dtype=torch.float32).state_dict()
    db = load_music_dcae(single, dtype=torch.float32).state_dict()
    assert da.keys() == db.keys() and all(torch.equal(da[k], db[k]) for k in da)
    ta, tb = load_text_encoder(folder, dtype=torch.float32), load_text_encoder(single, dtype=torch.float32)
    prompt = "流行, rock ★ 3.14 UPPER"
    for batch in ([prompt], ["pop, rock, female vocals, 120 bpm", "lofi"], ["a b c d " * 200], [""]):
        ka, kb = ta.tokenize(batch), tb.tokenize(batch)
        assert torch.equal(ka["input_ids"], kb["input_ids"]) and torch.equal(ka["attention_mask"], kb["attention_mask"])
    assert torch.equal(ta.encode(prompt).hidden_states, tb.encode(prompt).hidden_states)


def test_all_in_one_generates_the_same_song(tiny_ckpt, all_in_one, lyric_vocab, tmp_path):
    outs = []
    for src in (tiny_ckpt, all_in_one):
        pipe = AceStepPipeline.from_pretrained(src, lyric_vocab=lyric_vocab)
        outs.append(pipe(**SHORT, save_path=str(tmp_path)))
    assert torch.equal(outs[0].latents, outs[1].latents)
    assert torch.equal(outs[0].waveforms, outs[1].waveforms)


def test_training_only_weights_are_not_loaded_and_change_nothing(tiny_ckpt):
    src = open_checkpoint(tiny_ckpt)["transformer"]
    file_keys = set(src.tensors.keys())
    model = load_transformer(src, dtype=torch.float32)
    loaded = set(model.state_dict())
    skipped = file_keys - loaded
    assert skipped and all(k.startswith("projectors.") or ".add_" in k or "to_add_out" in k for k in skipped)
    # Perturbing every skipped tensor in the file leaves the model's output unchanged.
    x = torch.randn(1, 8, 16, 12, generator=torch.Generator().manual_seed(0))
    txt = torch.randn(1, 5, 32, generator=torch.Generator().manual_seed(1))
    args = (torch.ones(1, 12), txt, torch.ones(1, 5, dtype=torch.long), torch.zeros(1, 512),
            torch.tensor([[261, 259, 6683, 2]]), torch.ones(1, 4, dtype=torch.long))
    def velocity(dit):  # the sampler's path: encode the condition, decode at t = 500
        return dit.decode(x, args[0], *dit.encode(*args[1:]), timestep=torch.tensor([500.0]))

    ref = velocity(model)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = _copy_ckpt(tiny_ckpt, Path(tmp) / "ck")
        f = ckpt / "ace_step_transformer" / "diffusion_pytorch_model.safetensors"
        sd = load_file(str(f))
        for k in skipped:
            sd[k] = torch.full_like(sd[k], 123.0)
        f.unlink()
        save_file(sd, str(f))
        other = load_transformer(open_checkpoint(ckpt)["transformer"], dtype=torch.float32)
        assert torch.equal(velocity(other), ref)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", torch.bfloat16])
def test_half_precision_loading(tiny_ckpt, dtype):
    model = load_transformer(open_checkpoint(tiny_ckpt)["transformer"], dtype=resolve_dtype(dtype))
    assert {p.dtype for p in model.parameters()} == {resolve_dtype(dtype)}


def test_resolve_dtype_rejects_unknown():
    with pytest.raises(ValueError, match="not supported"):
        resolve_dtype("int8")


def test_missing_part_folder(tiny_ckpt, tmp_path):
    ckpt = _copy_ckpt(tiny_ckpt, tmp_path / "ck")
    shutil.rmtree(ckpt / "music_vocoder")
    with pytest.raises(CheckpointError, match="missing folder.*music_vocoder"):
        open_checkpoint(ckpt)


def test_missing_weights_file_and_pickles_refused(tiny_ckpt, tmp_path):
    ckpt = _copy_ckpt(tiny_ckpt, tmp_path / "ck")
    w = ckpt / "music_dcae_f8c8" / "diffusion_pytorch_model.safetensors"
    w.rename(w.with_suffix(".bin"))
    with pytest.raises(CheckpointError, match="missing weights file.*refused"):
        open_checkpoint(ckpt)
    with pytest.raises(CheckpointError, match="only .safetensors"):
        open_checkpoint(w.with_suffix(".bin"))


def test_truncated_file(tiny_ckpt, tmp_path):
    ckpt = _copy_ckpt(tiny_ckpt, tmp_path / "ck")
    w = ckpt / "music_vocoder" / "diffusion_pytorch_model.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        open_checkpoint(ckpt)
    w.write_bytes(b"\x00\x01")
    with pytest.raises(CheckpointError, match="empty or truncated"):
        open_checkpoint(ckpt)


def _rewrite(path: Path, edit) -> None:
    sd = load_file(str(path))
    edit(sd)
    path.unlink()
    save_file(sd, str(path))


def test_missing_and_misshaped_tensors_are_named(tiny_ckpt, tmp_path):
    ckpt = _copy_ckpt(tiny_ckpt, tmp_path / "ck")
    w = ckpt / "ace_step_transformer" / "diffusion_pytorch_model.safetensors"

    def damage(sd):
        del sd["transformer_blocks.3.attn.to_k.weight"]
        sd["final_layer.linear.bias"] = torch.zeros(7)

    _rewrite(w, damage)
    with pytest.raises(CheckpointError) as err:
        load_transformer(open_checkpoint(ckpt)["transformer"], dtype=torch.float32)
    msg = str(err.value)
    assert "transformer_blocks.3.attn.to_k.weight" in msg and "final_layer.linear.bias" in msg
    assert str(w.parent) in msg


def test_unknown_tensors_are_errors_but_allow_listed_ones_are_not(tiny_ckpt, tmp_path):
    ckpt = _copy_ckpt(tiny_ckpt, tmp_path / "ck")
    umt5 = ckpt / "umt5-base" / "model.safetensors"
    # A full encoder-decoder UMT5 file: decoder / lm_head tensors are on the allow-list.
    _rewrite(umt5, lambda sd: sd.update({"lm_head.weight": torch.zeros(3, 3),
                                         "decoder.block.0.layer.0.SelfAttention.q.weight": torch.zeros(2, 2)}))
    load_text_encoder(open_checkpoint(ckpt), dtype=torch.float32)
    voc = ckpt / "music_vocoder" / "diffusion_pytorch_model.safetensors"
    _rewrite(voc, lambda sd: sd.update({"something.else": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="unknown tensor.*something.else"):
        load_music_dcae(open_checkpoint(ckpt), dtype=torch.float32)


def test_vocoder_without_mel_buffers_recomputes_them(tiny_ckpt, tmp_path):
    ckpt = _copy_ckpt(tiny_ckpt, tmp_path / "ck")
    voc = ckpt / "music_vocoder" / "diffusion_pytorch_model.safetensors"
    ref = load_file(str(voc))
    _rewrite(voc, lambda sd: [sd.pop(k) for k in ("mel_transform.spectrogram.window", "mel_transform.mel_scale.fb")])
    dcae = load_music_dcae(open_checkpoint(ckpt), dtype=torch.float32)
    fb = dcae.vocoder.mel_transform.mel_scale.fb
    assert (fb - ref["mel_transform.mel_scale.fb"]).abs().max() < 1e-6


def test_all_in_one_missing_part(all_in_one, tmp_path):
    sd = load_file(str(all_in_one))
    broken = tmp_path / "broken.safetensors"
    save_file({k: v for k, v in sd.items() if not k.startswith("vae.vocoder.")}, str(broken))
    with pytest.raises(CheckpointError, match="vae.vocoder"):
        open_checkpoint(broken)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        open_checkpoint(tmp_path / "nothing")
    bad = tmp_path / "x.safetensors"
    bad.write_text("hello, not a checkpoint at all")
    with pytest.raises(CheckpointError):
        open_checkpoint(bad)


def test_download_failure_says_what_to_do(monkeypatch, tmp_path):
    import huggingface_hub

    def offline(**kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CheckpointError) as err:
        download_checkpoint(cache_dir=tmp_path)
    msg = str(err.value)
    assert "cannot download the model ACE-Step/ACE-Step-v1-3.5B" in msg and "--checkpoint" not in msg
    assert "ace_step_transformer" in msg and str(tmp_path) in msg
    with pytest.raises(CheckpointError, match="cannot download"):
        resolve_checkpoint("someone/some-model", cache_dir=tmp_path)


def test_download_fetches_only_inference_folders(monkeypatch, tiny_ckpt, tmp_path):
    import huggingface_hub

    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        return str(tiny_ckpt)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    src = resolve_checkpoint("ACE-Step/ACE-Step-v1-3.5B", cache_dir=tmp_path)
    assert src.layout == "folder"
    assert sorted(seen["allow_patterns"]) == sorted(
        ["ace_step_transformer/*", "music_dcae_f8c8/*", "music_vocoder/*", "umt5-base/*"])
    assert seen["cache_dir"] == str(tmp_path)


def test_config_json_must_be_valid(tiny_ckpt, tmp_path):
    ckpt = _copy_ckpt(tiny_ckpt, tmp_path / "ck")
    cfg = ckpt / "music_dcae_f8c8" / "config.json"
    cfg.unlink()
    cfg.write_text("{not json")
    with pytest.raises(CheckpointError, match="invalid JSON"):
        open_checkpoint(ckpt)
    cfg.write_text(json.dumps({"in_channels": 2}))


def test_offline_download_failure_is_one_clean_clause(tmp_path, monkeypatch):
    """Issue #22: no truncated library text ("... on )"), the reason in words, the copy folder named."""
    from acestep_core.checkpoint import ModelUnavailable

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as err:
        resolve_checkpoint("ACE-Step/ACE-Step-v1-3.5B", cache_dir=tmp_path)
    assert err.value.reason.startswith("HF_HUB_OFFLINE is set") and str(tmp_path) in err.value.reason
    assert err.value.local_copy == tmp_path / "ACE-Step-v1-3.5B"
    assert "LocalEntryNotFoundError" not in str(err.value)


def test_a_hand_copied_folder_in_the_cache_is_used_without_network(tiny_ckpt, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _copy_ckpt(tiny_ckpt, tmp_path / "ACE-Step-v1-3.5B")
    assert resolve_checkpoint("ACE-Step/ACE-Step-v1-3.5B", cache_dir=tmp_path).root == tmp_path / "ACE-Step-v1-3.5B"
