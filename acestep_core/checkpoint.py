"""Finding, validating and opening ACE-Step v1 checkpoints (safetensors only, never pickle).

Two layouts are understood:

* the upstream 4-folder layout of the Hugging Face repo ``ACE-Step/ACE-Step-v1-3.5B``
  (``ace_step_transformer/``, ``music_dcae_f8c8/``, ``music_vocoder/``, ``umt5-base/``), spec §2;
* ComfyUI's single all-in-one file (``ace_step_v1_3.5b.safetensors``) whose keys carry the
  prefixes ``model.diffusion_model.``, ``vae.dcae.``, ``vae.vocoder.`` and
  ``text_encoders.umt5base.transformer.``; it has no config files, so sizes are read off shapes.

This module only locates tensors and configs; `loading.py` builds the models from them.
"""
from __future__ import annotations

import json
import os
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch

HF_REPO_ID = "ACE-Step/ACE-Step-v1-3.5B"
DEFAULT_MODEL_NAME = "ACE-Step-v1-3.5B"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "acestep-v1" / "checkpoints"

PARTS = ("transformer", "dcae", "vocoder", "text_encoder")
PART_FOLDERS = {
    "transformer": "ace_step_transformer",
    "dcae": "music_dcae_f8c8",
    "vocoder": "music_vocoder",
    "text_encoder": "umt5-base",
}
PART_WEIGHT_FILES = {
    "transformer": "diffusion_pytorch_model.safetensors",
    "dcae": "diffusion_pytorch_model.safetensors",
    "vocoder": "diffusion_pytorch_model.safetensors",
    "text_encoder": "model.safetensors",
}
ALL_IN_ONE_PREFIXES = {
    "transformer": "model.diffusion_model.",
    "dcae": "vae.dcae.",
    "vocoder": "vae.vocoder.",
    "text_encoder": "text_encoders.umt5base.transformer.",
}
# Keys that real all-in-one files carry outside every part and that inference ignores.
ALL_IN_ONE_IGNORED_KEYS = ("text_encoders.umt5base.logit_scale", "text_encoders.spiece_model")
SPIECE_KEY = "text_encoders.spiece_model"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file, the problem and the fix."""


def _read_safetensors_header(path: Path) -> tuple[dict, int]:
    """The JSON header of a safetensors file and where its data starts, with the checks that catch
    truncated downloads."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise CheckpointError(f"{path}: file is empty or truncated ({size} bytes); re-download it.")
            (n,) = struct.unpack("<Q", raw)
            if n > size - 8 or n > 100_000_000:
                raise CheckpointError(f"{path}: not a safetensors file or truncated header; re-download it.")
            header = json.loads(f.read(n))
    except CheckpointError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read safetensors header ({e}); is it a .safetensors file?") from e
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise CheckpointError(
            f"{path}: file is truncated ({size} bytes, header promises {8 + n + end}); "
            "the download was probably interrupted: delete it and download again."
        )
    return header, 8 + n


_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


@dataclass
class TensorFile:
    """One safetensors file seen through a key prefix: shapes from the header, tensors on demand."""

    path: Path
    prefix: str = ""
    header: dict = field(default_factory=dict)
    data_start: int = 0

    @classmethod
    def open(cls, path: Path, prefix: str = "") -> "TensorFile":
        header, data_start = _read_safetensors_header(Path(path))
        return cls(Path(path), prefix, header, data_start)

    def keys(self) -> list[str]:
        p = self.prefix
        return [k[len(p):] for k in self.header if k != "__metadata__" and k.startswith(p)]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        p = self.prefix
        return {k: tuple(self.header[p + k]["shape"]) for k in self.keys()}

    def meta_tensors(self) -> dict[str, torch.Tensor]:
        """Shape-only stand-ins, for config inference without reading any data."""
        p = self.prefix
        return {
            k: torch.empty(tuple(self.header[p + k]["shape"]), dtype=_DTYPES.get(self.header[p + k]["dtype"], torch.float32), device="meta")
            for k in self.keys()
        }

    def load(self, keys: Iterable[str], *, dtype: torch.dtype | None, device: torch.device | str = "cpu",
             rename: Callable[[str], str] | None = None) -> dict[str, torch.Tensor]:
        """Read the given keys one tensor at a time, cast floats to dtype.

        Plain reads into each tensor, not safetensors' memory map: the pages of a mapped file count
        in the process's RSS until it is closed, so loading the bf16 DiT file (6.6 GB) into float32
        (10.4 GB) peaked at both; read this way the peak is the loaded weights plus one tensor.
        The format is still safetensors, read from the validated header (little-endian hosts;
        others go through the safetensors library).
        """
        if sys.byteorder != "little":
            return self._load_with_safetensors(keys, dtype=dtype, device=device, rename=rename)
        keys = list(keys)
        out: dict[str, torch.Tensor] = {}
        staging: torch.Tensor | None = None  # one reused buffer for tensors that get cast
        try:
            with open(self.path, "rb", buffering=0) as f:
                for k in keys:
                    entry = self.header[self.prefix + k]
                    start, end = entry["data_offsets"]
                    stored = _DTYPES[entry["dtype"]]
                    shape = tuple(entry["shape"])
                    cast = dtype is not None and stored.is_floating_point and stored != dtype
                    if cast:
                        if staging is None or staging.numel() < end - start:
                            staging = torch.empty(max(end - start, 64 << 20), dtype=torch.uint8)
                        t = staging[: end - start].view(stored).view(shape)
                    else:
                        t = torch.empty(shape, dtype=stored)
                    if t.numel() * t.element_size() != end - start:
                        raise ValueError(f"{k}: {end - start} bytes for shape {list(shape)} {entry['dtype']}")
                    f.seek(self.data_start + start)
                    view = t.reshape(-1).view(torch.uint8).numpy()
                    if f.readinto(view) != view.nbytes:
                        raise ValueError(f"{k}: the file ends early")
                    if cast:
                        t = t.to(dtype)
                    out[rename(k) if rename else k] = t.to(device)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"{self.path}: cannot read tensors ({e}); the file may be corrupt.") from e
        return out

    def _load_with_safetensors(self, keys: Iterable[str], *, dtype: torch.dtype | None,
                               device: torch.device | str, rename: Callable[[str], str] | None) -> dict:
        from safetensors import safe_open

        out: dict[str, torch.Tensor] = {}
        try:
            with safe_open(str(self.path), framework="pt", device="cpu") as f:
                for k in keys:
                    t = f.get_tensor(self.prefix + k)
                    if dtype is not None and t.is_floating_point():
                        t = t.to(dtype)
                    out[rename(k) if rename else k] = t.to(device)
        except Exception as e:  # safetensors raises its own error types
            raise CheckpointError(f"{self.path}: cannot read tensors ({e}); the file may be corrupt.") from e
        return out


@dataclass
class PartSource:
    """Where one model part lives: its tensors and, for the folder layout, its config.json."""

    part: str
    tensors: TensorFile
    config: dict | None
    folder: Path | None  # the upstream folder (tokenizer files for UMT5), None for all-in-one

    @property
    def where(self) -> str:
        return str(self.folder or self.tensors.path)


@dataclass
class CheckpointSource:
    """A located checkpoint: one PartSource per part. Opening reads headers only, never weights."""

    root: Path
    layout: str  # "folder" | "all_in_one"
    parts: dict[str, PartSource]
    spiece_model: bytes | None = None

    def __getitem__(self, part: str) -> PartSource:
        return self.parts[part]


def _missing_parts(folder: Path) -> list[str]:
    return [sub for sub in PART_FOLDERS.values() if not (folder / sub).is_dir()]


def is_upstream_folder(folder: Path) -> bool:
    return Path(folder).is_dir() and not _missing_parts(Path(folder))


def open_folder(folder: Path) -> CheckpointSource:
    """Open the upstream 4-folder layout, checking every part and its files exist."""
    folder = Path(folder)
    missing = _missing_parts(folder)
    if missing:
        raise CheckpointError(
            f"{folder}: not a complete ACE-Step v1 checkpoint, missing folder(s) {', '.join(missing)}. "
            f"Expected {', '.join(PART_FOLDERS.values())} (download {HF_REPO_ID} again or point to the right folder)."
        )
    parts = {}
    for part, sub in PART_FOLDERS.items():
        d = folder / sub
        weights = d / PART_WEIGHT_FILES[part]
        if not weights.is_file():
            found = sorted(p.name for p in d.glob("*.safetensors"))
            if len(found) == 1:
                weights = d / found[0]
            else:
                raise CheckpointError(
                    f"{d}: missing weights file {PART_WEIGHT_FILES[part]} (only safetensors are loaded; "
                    "a .bin/.pt file would need unpickling and is refused)."
                )
        cfg_path = d / "config.json"
        if not cfg_path.is_file():
            raise CheckpointError(f"{d}: missing config.json.")
        try:
            cfg = json.loads(cfg_path.read_text())
        except ValueError as e:
            raise CheckpointError(f"{cfg_path}: invalid JSON ({e}).") from e
        parts[part] = PartSource(part, TensorFile.open(weights), cfg, d)
    return CheckpointSource(folder, "folder", parts)


def open_all_in_one(path: Path) -> CheckpointSource:
    """Open ComfyUI's all-in-one file; every part must be present under its prefix."""
    path = Path(path)
    tf = TensorFile.open(path)
    keys = [k for k in tf.header if k != "__metadata__"]
    parts = {}
    for part, prefix in ALL_IN_ONE_PREFIXES.items():
        if not any(k.startswith(prefix) for k in keys):
            raise CheckpointError(
                f"{path}: no '{prefix}*' tensors, so this is not an ACE-Step v1 all-in-one checkpoint "
                f"(the {part} is missing). Use ComfyUI's ace_step_v1_3.5b.safetensors or the upstream folder layout."
            )
        parts[part] = PartSource(part, TensorFile.open(path, prefix), None, None)
    known = tuple(ALL_IN_ONE_PREFIXES.values()) + ALL_IN_ONE_IGNORED_KEYS
    stray = [k for k in keys if not k.startswith(known)]
    if stray:
        raise CheckpointError(f"{path}: unexpected tensors outside the known parts, e.g. {stray[:3]}.")
    spiece = None
    if SPIECE_KEY in tf.header:
        spiece = bytes(tf.load([SPIECE_KEY], dtype=None)[SPIECE_KEY].to(torch.uint8).numpy().tobytes())
    return CheckpointSource(path, "all_in_one", parts, spiece)


def open_checkpoint(path: str | Path) -> CheckpointSource:
    """Open a local checkpoint of either layout."""
    p = Path(path).expanduser()
    if p.is_file():
        if p.suffix != ".safetensors":
            raise CheckpointError(f"{p}: only .safetensors checkpoints are loaded (pickle files are refused).")
        return open_all_in_one(p)
    if p.is_dir():
        return open_folder(p)
    raise CheckpointError(f"{p}: no such checkpoint file or folder.")


class ModelUnavailable(CheckpointError):
    """The model is neither local nor downloadable; says why and every way to provide it.

    `reason` is one short clause, `local_copy` the folder where a copied upstream layout is found
    without any option; the CLI rewrites the ways in its own option names.
    """

    def __init__(self, repo_id: str, reason: str, local_copy: Path):
        self.repo_id, self.reason, self.local_copy = repo_id, reason, Path(local_copy)
        super().__init__(
            f"cannot download the model {repo_id} ({reason}). Provide it another way: pass the path of a local "
            f"checkpoint (the upstream folder from https://huggingface.co/{repo_id}, or ComfyUI's "
            f"ace_step_v1_3.5b.safetensors), or copy the upstream folder's four folders "
            f"({', '.join(PART_FOLDERS.values())}) into {self.local_copy}, where it is found without downloading.")


def checkpoint_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where downloads go: the argument, else $ACESTEP_CACHE_DIR, else ~/.cache/acestep-v1/checkpoints."""
    return Path(cache_dir or os.environ.get("ACESTEP_CACHE_DIR") or DEFAULT_CACHE_DIR).expanduser()


def local_copy_dir(repo_id: str = HF_REPO_ID, cache_dir: str | Path | None = None) -> Path:
    """The folder a hand-copied checkpoint is looked for in before downloading: CACHE/<repo name>."""
    return checkpoint_cache_dir(cache_dir) / repo_id.rsplit("/", 1)[-1]


def find_local_copy(repo_id: str = HF_REPO_ID, cache_dir: str | Path | None = None) -> Path | None:
    """A complete upstream folder copied by hand into the cache (CACHE/<repo name>, or the four folders
    straight into CACHE, as older messages advised), so that no network is needed."""
    for folder in (local_copy_dir(repo_id, cache_dir), checkpoint_cache_dir(cache_dir)):
        if is_upstream_folder(folder):
            return folder
    return None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _download_failure(error: Exception, cache: Path) -> str:
    """One readable clause for why snapshot_download failed (its own messages run to paragraphs)."""
    name = type(error).__name__
    if _offline():
        return "HF_HUB_OFFLINE is set, so nothing is downloaded, and no downloaded copy is in " + str(cache)
    if name == "LocalEntryNotFoundError":
        return f"the Hugging Face Hub cannot be reached (no network?) and no downloaded copy is in {cache}"
    if name in ("RepositoryNotFoundError", "GatedRepoError"):
        return "no such public repository on the Hugging Face Hub (check the name, or log in for a gated one)"
    text = " ".join(str(error).split())
    if len(text) > 160:
        text = text[:160].rsplit(" ", 1)[0] + " …"
    return f"{name}: {text}" if text else name


def download_checkpoint(repo_id: str = HF_REPO_ID, *, local_dir: str | Path | None = None,
                        cache_dir: str | Path | None = None, revision: str | None = None) -> Path:
    """Download the upstream layout with huggingface_hub (progress bars, resumable); returns the folder.

    Only the four folders inference needs are fetched. Raises ModelUnavailable with the manual
    alternatives when the network is closed.
    """
    from huggingface_hub import snapshot_download

    patterns = [f"{sub}/*" for sub in PART_FOLDERS.values()]
    kwargs: dict = {"repo_id": repo_id, "allow_patterns": patterns, "revision": revision}
    cache = checkpoint_cache_dir(cache_dir)
    if local_dir is not None:
        kwargs["local_dir"] = str(local_dir)
    else:
        kwargs["cache_dir"] = str(cache)
    try:
        folder = Path(snapshot_download(**kwargs))
    except Exception as e:  # network, auth, disk: all end the same way for the user
        raise ModelUnavailable(repo_id, _download_failure(e, Path(local_dir or cache)),
                               local_copy_dir(repo_id, cache_dir)) from e
    return folder


def resolve_checkpoint(path_or_repo_id: str | Path | None = None, *, download: bool = True,
                       cache_dir: str | Path | None = None) -> CheckpointSource:
    """A local path opens directly; a Hugging Face repo id is looked for as a hand-copied folder in the
    cache (`local_copy_dir`), then downloaded (or found in the download cache)."""
    target = str(path_or_repo_id or HF_REPO_ID)
    p = Path(target).expanduser()
    if p.exists():
        return open_checkpoint(p)
    looks_like_repo_id = target.count("/") == 1 and not target.startswith((".", "/", "~")) and " " not in target
    if not looks_like_repo_id:
        raise CheckpointError(f"{target}: no such checkpoint file or folder.")
    copied = find_local_copy(target, cache_dir)
    if copied is not None:
        return open_folder(copied)
    if not download:
        raise CheckpointError(f"{target}: no such checkpoint file or folder, and downloading is off; pass a local "
                              f"checkpoint or copy the upstream folder into {local_copy_dir(target, cache_dir)}.")
    return open_folder(download_checkpoint(target, cache_dir=cache_dir))
