"""Finding the lyric BPE vocabulary (``vocab.json``) without ever shipping it in this repository.

Order: an explicit path, ``$ACESTEP_LYRIC_VOCAB``, a ComfyUI install (which ships an identical
copy), the user cache, then a download of upstream's file into the cache. Every file found is
checked against upstream's SHA-256, since a different vocabulary silently changes every token.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

VOCAB_SHA256 = "c2a66ea48c478c0bb9acb5497144b926acdeaa37128faa799508d40f2b9cc558"
VOCAB_URL = (
    "https://raw.githubusercontent.com/ace-step/ACE-Step/d612523f50e252c0e138e68ae75b06223f96e934/"
    "acestep/models/lyrics_utils/vocab.json"
)
ENV_VAR = "ACESTEP_LYRIC_VOCAB"
COMFY_RELATIVE = Path("comfy") / "text_encoders" / "ace_lyrics_tokenizer" / "vocab.json"
_PACK_FILE = Path(__file__)  # where this pack lives; inside ComfyUI that is under custom_nodes/


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The pack's cache folder (models under checkpoints/, the lyric vocabulary as vocab.json):
    `cache_dir`, or ~/.cache/acestep-v1."""
    return Path(cache_dir).expanduser() if cache_dir else Path.home() / ".cache" / "acestep-v1"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_vocab(path: Path) -> Path:
    """Return ``path`` if its SHA-256 is upstream's, else raise ValueError saying what to do."""
    digest = _sha256(path.read_bytes())
    if digest != VOCAB_SHA256:
        raise ValueError(
            f"lyric vocabulary {path} has SHA-256 {digest}, expected {VOCAB_SHA256} "
            f"(ACE-Step's acestep/models/lyrics_utils/vocab.json); replace or delete that file"
        )
    return path


def _comfy_roots(comfy_root: str | Path | None) -> list[Path]:
    """ComfyUI folders to look in, without importing ComfyUI's ``folder_paths``."""
    roots: list[Path] = []
    if comfy_root is not None:
        roots.append(Path(comfy_root))
    for var in ("COMFYUI_PATH", "COMFYUI_ROOT", "COMFY_ROOT"):
        if os.environ.get(var):
            roots.append(Path(os.environ[var]))
    comfy = sys.modules.get("comfy")  # already imported when running inside ComfyUI
    for location in getattr(comfy, "__path__", None) or []:
        roots.append(Path(location).parent)
    for parent in _PACK_FILE.resolve().parents:  # <ComfyUI>/custom_nodes/<this pack>/acestep_core/lyrics/
        if parent.name == "custom_nodes":
            roots.append(parent.parent)
            break
    return roots


def _download(target: Path) -> Path:
    with urllib.request.urlopen(VOCAB_URL, timeout=60) as response:
        data = response.read()
    if _sha256(data) != VOCAB_SHA256:
        raise ValueError(f"downloaded lyric vocabulary from {VOCAB_URL} has the wrong SHA-256")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".vocab-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class VocabNotFound(FileNotFoundError):
    """No vocab.json anywhere and none downloadable: says why and every way to provide it.

    `reason` is one short clause and `cache_file` where a copy is found without any option; the
    CLI rewrites the ways in its own option names.
    """

    def __init__(self, cache_file: Path, reason: str):
        self.cache_file, self.reason = Path(cache_file), reason
        super().__init__(
            f"ACE-Step lyric vocabulary (vocab.json) not found: {reason}. Provide it in one of three ways: "
            f"(1) pass its path explicitly (lyric_vocab=... / --lyric-vocab); "
            f"(2) set the environment variable {ENV_VAR} to its path; "
            f"(3) place it at {cache_file}. "
            f"It is ACE-Step's acestep/models/lyrics_utils/vocab.json ({VOCAB_URL}); ComfyUI ships the "
            f"same file as {COMFY_RELATIVE.as_posix()}."
        )


def _download_failure(err: Exception) -> str:
    """One short clause: the network error's gist, not a paragraph."""
    gist = getattr(err, "reason", None) or err
    return f"downloading it from raw.githubusercontent.com failed ({' '.join(str(gist).split())[:120]})"


def locate_vocab(
    explicit: str | Path | None = None,
    comfy_root: str | Path | None = None,
    download: bool = True,
    cache_dir: str | Path | None = None,
) -> Path:
    """Path of a verified ``vocab.json``; downloads it into the cache as a last resort."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"lyric vocabulary not found at the given path {path}")
        return verify_vocab(path)
    if os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"${ENV_VAR} points to {path}, which does not exist")
        return verify_vocab(path)
    for root in _comfy_roots(comfy_root):
        if (root / COMFY_RELATIVE).is_file():
            return verify_vocab(root / COMFY_RELATIVE)
    cache_file = cache_root(cache_dir) / "vocab.json"
    if cache_file.is_file():
        return verify_vocab(cache_file)
    if not download:
        raise VocabNotFound(cache_file, "no local copy and downloading is disabled")
    try:
        return _download(cache_file)
    except ValueError:
        raise
    except Exception as err:
        raise VocabNotFound(cache_file, _download_failure(err)) from err
