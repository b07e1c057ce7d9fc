"""First-use download of the default model: where it goes, its ComfyUI progress bar and Cancel, and
the error when it cannot happen (Hugging Face forced offline here: nothing is fetched)."""
from __future__ import annotations

import shutil
import sys

import pytest

import comfy.model_management as mm
import folder_paths


def _pack_module(name: str):
    return next(m for k, m in sys.modules.items() if k.endswith(f".nodes.{name}") and hasattr(m, "__file__"))


def test_download_progress_drives_comfyui_and_honours_cancel(fresh_runner):
    loaders = _pack_module("loaders")
    bar = loaders._download_progress_class()(total=4, disable=True)
    for _ in range(3):
        bar.update(1)
    assert [(v, t) for _n, v, t in fresh_runner.progress] == [(1, 4), (2, 4), (3, 4)]
    mm.interrupt_current_processing(True)
    with pytest.raises(mm.InterruptProcessingException):
        bar.update(1)
    mm.interrupt_current_processing(False)
    bar.close()


def test_missing_default_model_is_downloaded_into_models_acestep(node_classes, comfy_home, monkeypatch):
    import huggingface_hub.constants

    paths = _pack_module("paths")
    link = comfy_home / "models" / "acestep" / "ACE-Step-v1-3.5B"
    target = link.readlink()
    link.unlink()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    try:
        cls = node_classes["AceStepV1ModelLoader"]
        assert cls.validate_inputs(model_name="ACE-Step-v1-3.5B") is True  # offered even when absent
        target_dir = paths.download_target()
        assert target_dir.name == "ACE-Step-v1-3.5B"
        assert str(target_dir.parent) in folder_paths.get_folder_paths("acestep")
        with pytest.raises(ValueError, match="cannot download.*ACE-Step/ACE-Step-v1-3.5B.*copy its four folders"):
            cls.execute(model_name="ACE-Step-v1-3.5B", dtype="float32", offload="comfyui")
    finally:
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        link.symlink_to(target, target_is_directory=True)
