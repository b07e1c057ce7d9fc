"""Build ComfyUI-style all-in-one ACE-Step v1 checkpoints for the loader tests.

* `make_all_in_one(folder, out)`: the tiny upstream folder repackaged with ComfyUI's key layout
  (`model.diffusion_model.`, `vae.dcae.`, `vae.vocoder.` with weight-norm tensors under their
  parametrization names, `text_encoders.umt5base.transformer.`, the SentencePiece model as a uint8
  tensor, `text_encoders.umt5base.logit_scale`).
* `make_full_size_sparse(out, spiece)`: a file with every key and shape of the real 3.5B
  all-in-one (spec/keys/comfyui_all_in_one.json), all zeros, written as a sparse file (the header
  plus a hole), so the loader can be run on the real key map without 7.7 GB of disk.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

PREFIX = {
    "transformer": "model.diffusion_model.",
    "dcae": "vae.dcae.",
    "vocoder": "vae.vocoder.",
    "umt5": "text_encoders.umt5base.transformer.",
}


def _vocoder_key(k: str) -> str:
    if k.endswith(".weight_g"):
        return k[: -len("weight_g")] + "parametrizations.weight.original0"
    if k.endswith(".weight_v"):
        return k[: -len("weight_v")] + "parametrizations.weight.original1"
    return k


def make_all_in_one(folder: Path, out: Path) -> Path:
    folder = Path(folder)
    sd: dict[str, torch.Tensor] = {}
    for k, v in load_file(str(folder / "ace_step_transformer" / "diffusion_pytorch_model.safetensors")).items():
        sd[PREFIX["transformer"] + k] = v
    for k, v in load_file(str(folder / "music_dcae_f8c8" / "diffusion_pytorch_model.safetensors")).items():
        sd[PREFIX["dcae"] + k] = v
    for k, v in load_file(str(folder / "music_vocoder" / "diffusion_pytorch_model.safetensors")).items():
        sd[PREFIX["vocoder"] + _vocoder_key(k)] = v
    for k, v in load_file(str(folder / "umt5-base" / "model.safetensors")).items():
        sd[PREFIX["umt5"] + k] = v
    spiece = (folder / "umt5-base" / "spiece.model").read_bytes()
    sd["text_encoders.spiece_model"] = torch.frombuffer(bytearray(spiece), dtype=torch.uint8).clone()
    sd["text_encoders.umt5base.logit_scale"] = torch.tensor(4.6052)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out))
    return Path(out)


_SIZES = {"BF16": 2, "F32": 4, "U8": 1}


def make_full_size_sparse(manifest: Path, out: Path, spiece: bytes, dtype: str = "BF16") -> Path:
    """Every tensor of the real all-in-one, zeros, as a sparse safetensors file."""
    keys = json.loads(Path(manifest).read_text())["keys"]
    header: dict = {}
    offset = 0
    blobs: list[tuple[int, bytes]] = []
    for name, shape in keys.items():
        if name == "text_encoders.spiece_model":
            header[name] = {"dtype": "U8", "shape": [len(spiece)], "data_offsets": [offset, offset + len(spiece)]}
            blobs.append((offset, spiece))
            offset += len(spiece)
            continue
        dt = "F32" if name.endswith("logit_scale") else dtype
        n = _SIZES[dt]
        for s in shape:
            n *= int(s)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(out, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        base = f.tell()
        for off, data in blobs:
            f.seek(base + off)
            f.write(data)
        f.truncate(base + offset)
    return Path(out)
