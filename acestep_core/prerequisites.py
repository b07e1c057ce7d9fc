"""The files a CLI run needs (the model, and the lyric vocabulary when there are lyrics), found or
fetched before any work starts; what is missing is said in one message with every way to provide it.

Each way listed here is exercised by tests/core/test_cli.py, offline.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .checkpoint import PART_FOLDERS, CheckpointSource, ModelUnavailable, resolve_checkpoint
from .lyrics.vocab import COMFY_RELATIVE, ENV_VAR, VOCAB_URL, VocabNotFound, cache_root, locate_vocab


class MissingFiles(ValueError):
    """Several things may be missing at once; the message lists them all."""


@dataclass
class Found:
    checkpoint: CheckpointSource
    vocab: Path | None


def checkpoint_cache(cache_dir: str | None) -> Path | None:
    """None keeps the library's default (~/.cache/acestep-v1/checkpoints or $ACESTEP_CACHE_DIR)."""
    return cache_root(cache_dir) / "checkpoints" if cache_dir else None


def find_prerequisites(checkpoint: str | None, vocab: str | None, cache_dir: str | None,
                       needs_vocab: bool) -> Found:
    """The checkpoint (opened: headers only) and the vocabulary, or MissingFiles saying all that is missing."""
    problems: list[str] = []
    source = None
    try:
        source = resolve_checkpoint(checkpoint, cache_dir=checkpoint_cache(cache_dir))
    except ModelUnavailable as e:
        problems.append(_model_ways(e))
    vocab_path = None
    if needs_vocab:
        try:
            vocab_path = locate_vocab(vocab, cache_dir=cache_root(cache_dir))
        except VocabNotFound as e:
            problems.append(_vocab_ways(e))
    if problems:
        head = "this is missing" if len(problems) == 1 else f"these {len(problems)} things are missing"
        raise MissingFiles(f"{head}; provide each in one of the ways listed, then run the same command again.\n"
                           + "\n".join(problems))
    return Found(source, vocab_path)


def _model_ways(e: ModelUnavailable) -> str:
    copy_to = e.local_copy
    return (f"  * the model {e.repo_id}: it cannot be downloaded ({e.reason}). Either\n"
            f"    - pass --checkpoint /path/to/{copy_to.name} (the upstream folder, with "
            f"{', '.join(PART_FOLDERS.values())}), or\n"
            f"    - pass --checkpoint /path/to/ace_step_v1_3.5b.safetensors (ComfyUI's all-in-one file), or\n"
            f"    - copy those four folders into {copy_to}/ (found there with no option), or\n"
            f"    - with network access, run the command once: it downloads them (~8 GB) from "
            f"https://huggingface.co/{e.repo_id}")


def _vocab_ways(e: VocabNotFound) -> str:
    return (f"  * the lyric vocabulary vocab.json: {e.reason}. It is ComfyUI's {COMFY_RELATIVE.as_posix()} or "
            f"ACE-Step's {VOCAB_URL}. Either\n"
            f"    - pass --lyric-vocab /path/to/vocab.json, or\n"
            f"    - set the environment variable {ENV_VAR}=/path/to/vocab.json, or\n"
            f"    - copy it to {e.cache_file} (found there with no option), or\n"
            f"    - with network access, run the command once: it downloads it (0.4 MB) there, or\n"
            f"    - leave out the lyrics (an instrumental needs no vocabulary)")


__all__ = ["Found", "MissingFiles", "find_prerequisites", "checkpoint_cache"]
