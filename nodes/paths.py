"""Where the pack's files live: ComfyUI's `folder_paths`, never paths derived from `__file__`.

* `models/acestep/<name>/` — one upstream 4-folder checkpoint per subfolder (registered here);
* `models/checkpoints/*.safetensors` — ComfyUI's all-in-one file;
* `models/loras/` — LoRA files, or PEFT folders holding `pytorch_lora_weights.safetensors`;
* `input/*.json` — original ACE-Step `*_input_params.json` records to import.

Every listing function is safe to call from `define_schema` (it runs on each `/object_info`):
a missing or unreadable folder gives an empty list, never an exception.
"""
from __future__ import annotations

import os
from pathlib import Path

import folder_paths

from ..acestep_core import DEFAULT_MODEL_NAME, HF_REPO_ID, PART_FOLDERS

FOLDER_KEY = "acestep"
LORA_FILE = "pytorch_lora_weights.safetensors"
# billwuhao's ComfyUI_ACE-Step keeps the same upstream folders under models/TTS; offered, never written.
LEGACY_DIR = "TTS"


def register_model_folder() -> None:
    """Add `models/acestep` to folder_paths (appends; keeps whatever extra_model_paths.yaml set)."""
    default = os.path.join(folder_paths.models_dir, FOLDER_KEY)
    known = folder_paths.folder_names_and_paths.get(FOLDER_KEY, ([], set()))[0]
    if os.path.normpath(default) not in {os.path.normpath(p) for p in known}:
        folder_paths.add_model_folder_path(FOLDER_KEY, default)


def model_roots() -> list[Path]:
    """Folders searched for checkpoint folders, in folder_paths order."""
    try:
        return [Path(p) for p in folder_paths.get_folder_paths(FOLDER_KEY)]
    except Exception:  # key not registered yet (tests importing the module without the extension)
        return [Path(folder_paths.models_dir) / FOLDER_KEY]


def is_v1_folder(path: Path) -> bool:
    """The upstream layout: all four part folders present (ACE-Step 1.5 folders are ignored)."""
    try:
        return path.is_dir() and all((path / sub).is_dir() for sub in PART_FOLDERS.values())
    except OSError:
        return False


def _subdirs(root: Path) -> list[Path]:
    try:
        return sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name.lower())
    except OSError:
        return []


def list_model_folders() -> list[str]:
    """Names of valid v1 checkpoint folders, plus the default model (downloaded on first use)."""
    names: list[str] = []
    for root in model_roots():
        for sub in _subdirs(root):
            if is_v1_folder(sub) and sub.name not in names:
                names.append(sub.name)
    legacy = Path(folder_paths.models_dir) / LEGACY_DIR
    for sub in _subdirs(legacy):
        name = f"{LEGACY_DIR}/{sub.name}"
        if is_v1_folder(sub) and name not in names:
            names.append(name)
    if DEFAULT_MODEL_NAME not in names:
        names.insert(0, DEFAULT_MODEL_NAME)
    return names


def find_model_folder(name: str) -> Path | None:
    """The folder a combo value names, or None if it is not there (yet)."""
    if name.startswith(LEGACY_DIR + "/"):
        p = Path(folder_paths.models_dir) / name
        return p if is_v1_folder(p) else None
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        return None
    for root in model_roots():
        p = root / name
        if is_v1_folder(p):
            return p
    return None


def partial_model_folder(name: str) -> Path | None:
    """A folder of that name that exists but lacks parts (an interrupted download or another model)."""
    for root in model_roots():
        p = root / name
        if p.is_dir():
            return p
    return None


def download_target(name: str = DEFAULT_MODEL_NAME) -> Path:
    """Where the default model is downloaded: the registered `models/acestep` (else the first path)."""
    default = Path(folder_paths.models_dir) / FOLDER_KEY
    roots = model_roots()
    base = default if any(os.path.normpath(r) == os.path.normpath(default) for r in roots) else roots[0]
    return base / name


def can_download(name: str) -> bool:
    return name == DEFAULT_MODEL_NAME


def missing_model_message(name: str) -> str:
    roots = ", ".join(str(r) for r in model_roots())
    partial = partial_model_folder(name)
    detail = ""
    if partial is not None:
        missing = [s for s in PART_FOLDERS.values() if not (partial / s).is_dir()]
        detail = f" {partial} exists but lacks {', '.join(missing)} (an interrupted download, or not an ACE-Step v1 folder)."
    return (
        f"ACE-Step v1 model folder {name!r} not found.{detail} Put the upstream checkpoint folder "
        f"(with {', '.join(PART_FOLDERS.values())}) into one of: {roots}; or choose "
        f"{DEFAULT_MODEL_NAME!r} to download {HF_REPO_ID} there on first use."
    )


def list_checkpoints() -> list[str]:
    try:
        return [f for f in folder_paths.get_filename_list("checkpoints") if f.endswith(".safetensors")]
    except Exception:
        return []


def list_loras() -> list[str]:
    """LoRA files (`*.safetensors`) and PEFT folders (a folder holding pytorch_lora_weights.safetensors).

    Built from folder_paths' cached recursive file list, so a large loras folder costs nothing extra.
    """
    try:
        files = folder_paths.get_filename_list("loras")
    except Exception:
        return []
    names: list[str] = []
    for f in files:
        f = f.replace("\\", "/")
        if not f.endswith(".safetensors"):
            continue
        if f.endswith("/" + LORA_FILE):
            folder = f[: -len(LORA_FILE) - 1]
            if folder not in names:
                names.append(folder)
            continue
        names.append(f)
    return sorted(names, key=str.lower)


def find_lora(name: str) -> Path | None:
    """The file or PEFT folder a combo value names, inside one of the `loras` folders."""
    try:
        roots = folder_paths.get_folder_paths("loras")
    except Exception:
        return None
    for root in roots:
        base = Path(root)
        p = base / name
        if ".." in Path(name).parts:
            return None
        if p.is_file() or (p.is_dir() and (p / LORA_FILE).is_file()):
            return p
    return None


def list_param_files() -> list[str]:
    """`*.json` files at the top of ComfyUI's input folder (as LoadAudio lists its files)."""
    base = folder_paths.get_input_directory()
    try:
        return sorted((f for f in os.listdir(base) if f.lower().endswith(".json") and os.path.isfile(os.path.join(base, f))),
                      key=str.lower)
    except OSError:
        return []


def find_param_file(name: str) -> Path | None:
    base = Path(folder_paths.get_input_directory())
    if ".." in Path(name).parts:
        return None
    p = base / name
    return p if p.is_file() else None


def comfy_lyric_vocab() -> Path | None:
    """ComfyUI's own copy of the lyric vocabulary (identical to upstream's)."""
    import comfy

    for location in getattr(comfy, "__path__", []) or []:
        p = Path(location) / "text_encoders" / "ace_lyrics_tokenizer" / "vocab.json"
        if p.is_file():
            return p
    return None
