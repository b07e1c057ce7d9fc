"""Helpers shared by the test suites: where the golden fixtures live and how they are compared.

The golden folder lives in ``../shared/golden`` beside the repository (read-only in CI); set
``ACESTEP_SHARED`` to point elsewhere.
"""
from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ACESTEP_SHARED", REPO.parent / "shared")).resolve()
GOLDEN = SHARED / "golden"
COMFY_ARCHIVE = SHARED / "comfyui" / "ComfyUI-a125cd84.tar.gz"
VOCAB_MEMBER = "ComfyUI/comfy/text_encoders/ace_lyrics_tokenizer/vocab.json"


def extract_vocab() -> Path:
    """The lyric vocabulary as ComfyUI ships it, read out of the source archive (never committed)."""
    target = Path(tempfile.gettempdir()) / "acestep-test-vocab.json"
    if not target.is_file():
        with tarfile.open(COMFY_ARCHIVE) as tar:
            data = tar.extractfile(VOCAB_MEMBER).read()
        tmp = target.with_name(f".{target.name}.{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return target


def materialize_tiny_ckpt() -> Path:
    """A loadable copy of the tiny golden checkpoint (the golden folder's own script makes it)."""
    import sys

    sys.path.insert(0, str(GOLDEN))
    try:
        from materialize_tiny_ckpt import materialize
    finally:
        sys.path.remove(str(GOLDEN))
    return Path(materialize())


def load_golden(golden_dir: Path, name: str):
    """Tensors and JSON sidecar of one component fixture."""
    from safetensors.torch import load_file

    st = golden_dir / "components" / f"{name}.safetensors"
    js = golden_dir / "components" / f"{name}.json"
    tensors = load_file(str(st)) if st.exists() else {}
    meta = json.loads(js.read_text()) if js.exists() else {}
    return tensors, meta


def component_tol(index: dict, component: str, tensor: str) -> float:
    """The per-tensor relative tolerance index.json states for a component tensor ("exact" → 0)."""
    entry = index["components"][component]
    tol = entry.get("per_tensor_tol", {}).get(tensor, entry.get("suggested_rel_tol", 1e-5))
    return 0.0 if tol == "exact" else float(tol)


def assert_close_rel(ours, ref, tol: float, name: str = "tensor") -> float:
    """max|ours - ref| <= tol * rms(ref), the golden README's rule. Returns the relative error."""
    import torch

    ours = torch.as_tensor(ours).detach().float().cpu()
    ref = torch.as_tensor(ref).detach().float().cpu()
    assert tuple(ours.shape) == tuple(ref.shape), f"{name}: shape {tuple(ours.shape)} != {tuple(ref.shape)}"
    rms = ref.pow(2).mean().sqrt().item() or 1.0
    rel = (ours - ref).abs().max().item() / rms
    assert rel <= tol, f"{name}: relative error {rel:.3e} > tol {tol:.1e}"
    return rel
