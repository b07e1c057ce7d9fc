"""The all-in-one checkpoint loader: ComfyUI's single-file layout made from the tiny checkpoint gives
the same song as the folder; the real 3.5B key map (all keys and shapes, as a sparse file) loads."""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.append(str(Path(__file__).parent))
import acestep_all_in_one as aio  # noqa: E402
import acestep_node_graphs as graphs  # noqa: E402

from golden_utils import SHARED, assert_close_rel  # noqa: E402

MANIFEST = SHARED / "spec" / "keys" / "comfyui_all_in_one.json"


def _by_type(prompt: dict, class_type: str) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == class_type)


@pytest.fixture(scope="module")
def tiny_all_in_one(comfy_home, tiny_ckpt) -> str:
    name = "tiny_ace_step_v1_all_in_one.safetensors"
    aio.make_all_in_one(tiny_ckpt, comfy_home / "models" / "checkpoints" / name)
    return name


def test_tiny_all_in_one_gives_the_same_song_as_the_folder(runner, node_classes, tiny_all_in_one):
    cls = node_classes["AceStepV1CheckpointLoader"]
    assert tiny_all_in_one in cls.GET_NODE_INFO_V1()["input"]["required"]["ckpt_name"][1]["options"]
    assert cls.validate_inputs(ckpt_name=tiny_all_in_one) is True
    folder = graphs.text2music_graph(steps=3, output="PreviewAudio")
    single = copy.deepcopy(folder)
    single[_by_type(single, "AceStepV1ModelLoader")] = {
        "class_type": "AceStepV1CheckpointLoader",
        "inputs": {"ckpt_name": tiny_all_in_one, "dtype": "float32", "offload": "comfyui"}}
    decode = _by_type(folder, "AceStepV1LatentToAudio")
    tags = _by_type(folder, "AceStepV1TextEncode")
    a = runner.run(folder)
    b = runner.run(single)
    ta, tb = a.output(tags).cond.text, b.output(tags).cond.text
    assert torch.equal(ta.attention_mask, tb.attention_mask), "the all-in-one tokenizer gives other prompt tokens"
    assert_close_rel(tb.hidden_states, ta.hidden_states, 1e-6, "prompt states")
    assert_close_rel(b.output(decode)["waveform"], a.output(decode)["waveform"], 1e-5, "all-in-one vs folder audio")
    model = b.output(_by_type(single, "AceStepV1CheckpointLoader"))
    assert model.pipe.source.layout == "all_in_one"


def test_checkpoint_loader_refuses_other_files(node_classes, comfy_home):
    from safetensors.torch import save_file

    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, 2)},
              str(comfy_home / "models" / "checkpoints" / "sdxl_like.safetensors"))
    msg = node_classes["AceStepV1CheckpointLoader"].validate_inputs(ckpt_name="sdxl_like.safetensors")
    assert isinstance(msg, str) and "not an ACE-Step v1 all-in-one" in msg
    msg = node_classes["AceStepV1CheckpointLoader"].validate_inputs(ckpt_name="missing.safetensors")
    assert isinstance(msg, str) and "not found" in msg


def test_full_size_key_map_loads(node_classes, comfy_home, tiny_ckpt, tmp_path, core):
    """Every key/shape of ComfyUI's real ace_step_v1_3.5b.safetensors (zeros, sparse file): the loader
    accepts it and builds the full 3.5B networks (bfloat16, ~7.5 GB of RAM, no disk)."""
    if not MANIFEST.is_file():
        pytest.fail(f"key manifest missing: {MANIFEST}")
    name = "full_size_key_map.safetensors"
    path = comfy_home / "models" / "checkpoints" / name
    spiece = (Path(tiny_ckpt) / "umt5-base" / "spiece.model").read_bytes()
    aio.make_full_size_sparse(MANIFEST, path, spiece)
    try:
        assert os.stat(path).st_blocks * 512 < 64 * 2**20, "the sparse file took real disk space"
        cls = node_classes["AceStepV1CheckpointLoader"]
        assert cls.validate_inputs(ckpt_name=name) is True
        model = cls.execute(ckpt_name=name, dtype="bfloat16", offload="comfyui").args[0]
        tr = model.pipe.transformer
        n_params = sum(p.numel() for p in tr.parameters())
        assert n_params == 3_305_659_264 - _unused_params(core("models.transformer").is_unused_transformer_key), n_params
        assert tr.genre_embedder.in_features == 768 and tr.inner_dim == 2560 and len(tr.transformer_blocks) == 24
        assert model.pipe.text_encoder.model.config.d_model == 768
        assert next(tr.parameters()).dtype == torch.bfloat16
        del model, tr
    finally:
        path.unlink(missing_ok=True)
        import gc

        gc.collect()


def _unused_params(is_unused_transformer_key) -> int:
    """Parameters of the file's transformer that inference never builds (training-only heads)."""
    import json

    keys = json.loads(MANIFEST.read_text())["keys"]
    total = 0
    for k, shape in keys.items():
        if k.startswith("model.diffusion_model.") and is_unused_transformer_key(k[len("model.diffusion_model."):]):
            n = 1
            for s in shape:
                n *= int(s)
            total += n
    return total
