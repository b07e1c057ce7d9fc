"""Registration and schema: ids, categories, tooltips, defaults equal to the original's, light import."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import os
from pathlib import Path

import pytest

EXPECTED_IDS = {
    "AceStepV1ModelLoader", "AceStepV1CheckpointLoader", "AceStepV1LoraLoader",
    "AceStepV1TextEncode", "AceStepV1LyricsEncode", "AceStepV1EditTarget",
    "AceStepV1EmptyLatent", "AceStepV1AudioToLatent", "AceStepV1LatentToAudio",
    "AceStepV1SeededNoise", "AceStepV1VariationNoise",
    "AceStepV1RepaintRegion", "AceStepV1ExtendRegion",
    "AceStepV1SamplerOptions", "AceStepV1Sampler", "AceStepV1FlowEditSampler",
    "AceStepV1ImportParams",
    "AceStepV1LoraDataset", "AceStepV1TrainLora",
}
TRAINING_IDS = {"AceStepV1LoraDataset", "AceStepV1TrainLora"}  # in the audio/ACE-Step/training subcategory

# The original library's __call__ defaults (spec §11.1); UI defaults where __call__ has none that works.
EXPECTED_DEFAULTS = {
    ("AceStepV1Sampler", "steps"): 60,
    ("AceStepV1Sampler", "guidance_scale"): 15.0,
    ("AceStepV1Sampler", "audio2audio_strength"): 0.0,  # audio2audio_enable=False
    ("AceStepV1FlowEditSampler", "steps"): 60,
    ("AceStepV1FlowEditSampler", "guidance_scale"): 15.0,
    ("AceStepV1FlowEditSampler", "n_min"): 0.0,
    ("AceStepV1FlowEditSampler", "n_max"): 1.0,
    ("AceStepV1FlowEditSampler", "n_avg"): 1,
    ("AceStepV1EmptyLatent", "seconds"): 60.0,
    ("AceStepV1EmptyLatent", "batch_size"): 1,
    ("AceStepV1VariationNoise", "variance"): 0.5,
    ("AceStepV1LoraLoader", "strength"): 1.0,
    ("AceStepV1RepaintRegion", "start_seconds"): 0.0,
    ("AceStepV1RepaintRegion", "end_seconds"): 30.0,
    ("AceStepV1ExtendRegion", "left_seconds"): 0.0,
    ("AceStepV1ExtendRegion", "right_seconds"): 30.0,
    ("AceStepV1LatentToAudio", "sample_rate"): "48000",
    ("AceStepV1LatentToAudio", "mode"): "plain",
    ("AceStepV1LyricsEncode", "language"): "auto",
}
OPTION_FIELDS = {  # SamplerOptions input -> SamplerSettings field
    "scheduler": "scheduler_type", "cfg_type": "cfg_type", "omega_scale": "omega_scale",
    "guidance_interval": "guidance_interval", "guidance_interval_decay": "guidance_interval_decay",
    "min_guidance_scale": "min_guidance_scale", "guidance_scale_text": "guidance_scale_text",
    "guidance_scale_lyric": "guidance_scale_lyric", "use_erg_tag": "use_erg_tag", "use_erg_lyric": "use_erg_lyric",
    "use_erg_diffusion": "use_erg_diffusion",
}


def _inputs(cls) -> dict:
    info = cls.GET_NODE_INFO_V1()
    out = {}
    for section in ("required", "optional"):
        for name, spec in info["input"].get(section, {}).items():
            out[name] = spec[1] if len(spec) > 1 else {}
    return out


def test_every_node_registers_under_its_permanent_id(our_nodes):
    assert set(our_nodes) == EXPECTED_IDS


def test_no_id_shadows_a_comfyui_node(our_nodes, builtin_names):
    assert builtin_names, "the built-in node list was not recorded"
    assert not (set(our_nodes) & builtin_names)


def test_schema_metadata(our_nodes):
    for node_id, cls in our_nodes.items():
        info = cls.GET_NODE_INFO_V1()
        assert info["name"] == node_id
        expected = "audio/ACE-Step/training" if node_id in TRAINING_IDS else "audio/ACE-Step"
        assert info["category"] == expected, node_id
        assert info["display_name"] and info["display_name"].startswith("ACE-Step v1"), node_id
        assert info["description"], node_id
        json.dumps(info)  # what /object_info serves


def test_every_input_and_output_has_a_tooltip(our_nodes):
    missing = []
    for node_id, cls in our_nodes.items():
        for name, opts in _inputs(cls).items():
            if not opts.get("tooltip"):
                missing.append(f"{node_id}.{name}")
        info = cls.GET_NODE_INFO_V1()
        for i, tip in enumerate(info["output_tooltips"]):
            if not tip:
                missing.append(f"{node_id} output {i}")
    assert not missing, missing


def test_defaults_equal_the_originals(our_nodes):
    for (node_id, name), expected in EXPECTED_DEFAULTS.items():
        assert _inputs(our_nodes[node_id])[name].get("default") == expected, (node_id, name)


def test_sampler_option_defaults_follow_the_library(our_nodes, core):
    inputs = _inputs(our_nodes["AceStepV1SamplerOptions"])
    lib = core().SamplerSettings().to_dict()
    for name, field_name in OPTION_FIELDS.items():
        assert inputs[name]["default"] == lib[field_name], name
    assert inputs["oss_steps"]["default"] == ""
    sampler = _inputs(our_nodes["AceStepV1Sampler"])
    assert sampler["steps"]["default"] == lib["infer_step"]
    assert sampler["guidance_scale"]["default"] == lib["guidance_scale"]


def test_seeds_are_inputs_with_control_after_generate(our_nodes):
    assert _inputs(our_nodes["AceStepV1SeededNoise"])["seed"]["control_after_generate"] is True
    assert _inputs(our_nodes["AceStepV1VariationNoise"])["retake_seed"]["control_after_generate"] is True


def test_model_list_offers_the_downloadable_default(our_nodes):
    opts = _inputs(our_nodes["AceStepV1ModelLoader"])["model_name"]["options"]
    assert "ACE-Step-v1-3.5B" in opts


def test_import_is_light_and_does_no_work(tmp_path):
    """In a fresh process: the pack imports fast, loads no model, creates no folder, imports no diffusers."""
    COMFY_DIR = Path(os.environ.get("COMFY_DIR", "/tmp/comfyui"))
    REPO = Path(__file__).resolve().parents[2]
    code = textwrap.dedent(f"""
        import sys, time, os, asyncio
        sys.path.insert(0, {str(COMFY_DIR)!r})
        from comfy.cli_args import args
        args.cpu = True
        import folder_paths
        folder_paths.models_dir = {str(tmp_path / "models")!r}
        import nodes
        before = set(sys.modules)
        t = time.time()
        ok = asyncio.run(nodes.load_custom_node({str(REPO)!r}))
        took = time.time() - t
        new = set(sys.modules) - before
        print({{"ok": ok, "took": took, "diffusers": any(m.startswith("diffusers") for m in new),
               "models_dir_created": os.path.exists({str(tmp_path / "models")!r})}})
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - our own dict literal
    assert res["ok"], out.stderr[-3000:]
    assert res["took"] < 5.0, res
    assert not res["diffusers"], "importing the pack imported diffusers (heavy work at import)"
    assert not res["models_dir_created"], "importing the pack wrote to the models folder"


@pytest.mark.parametrize("node_id", sorted(EXPECTED_IDS))
def test_schema_is_stable_across_calls(our_nodes, node_id):
    """define_schema runs on every /object_info: it must not fail or change between calls."""
    cls = our_nodes[node_id]
    a = json.dumps(cls.GET_NODE_INFO_V1(), sort_keys=True, default=str)
    b = json.dumps(cls.GET_NODE_INFO_V1(), sort_keys=True, default=str)
    assert a == b


def test_the_pack_uses_its_own_acestep_core(pack, our_nodes):
    """Loaded the way ComfyUI loads it, the pack imports the library inside its folder (relatively) and
    never a top-level `acestep_core` (users have none installed; another version could be)."""
    import importlib.util

    assert "acestep_core" not in sys.modules, sys.modules["acestep_core"].__file__
    assert importlib.util.find_spec("acestep_core") is None, "acestep_core is importable in ComfyUI's Python"
    own = sys.modules[f"{pack.__name__}.acestep_core"]
    assert Path(own.__file__).resolve().parent == Path(pack.__file__).resolve().parent / "acestep_core"
    module = sys.modules[our_nodes["AceStepV1Sampler"].__module__]
    assert module.__name__.startswith(pack.__name__ + ".nodes")
