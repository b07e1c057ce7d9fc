"""Locating and verifying the lyric vocabulary without shipping it."""
from __future__ import annotations

import sys
import urllib.error
import urllib.request

import pytest

from acestep_core.lyrics import VOCAB_SHA256, locate_vocab
from acestep_core.lyrics import vocab as vocab_mod


@pytest.fixture()
def isolated(monkeypatch, tmp_path):
    """No env vars, no ComfyUI, an empty cache dir, and no network."""
    for var in ("ACESTEP_LYRIC_VOCAB", "COMFYUI_PATH", "COMFYUI_ROOT", "COMFY_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delitem(sys.modules, "comfy", raising=False)
    monkeypatch.setattr(vocab_mod, "_PACK_FILE", tmp_path / "pack" / "acestep_core" / "lyrics" / "vocab.py")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tmp_path


def test_explicit_path(lyric_vocab, isolated):
    assert locate_vocab(lyric_vocab) == lyric_vocab
    assert locate_vocab(str(lyric_vocab)) == lyric_vocab


def test_explicit_missing_path_is_an_error(isolated):
    with pytest.raises(FileNotFoundError):
        locate_vocab(isolated / "nope.json", cache_dir=isolated)


def test_bad_checksum(isolated):
    fake = isolated / "vocab.json"
    fake.write_text("{}")
    with pytest.raises(ValueError, match=VOCAB_SHA256):
        locate_vocab(fake)


def test_env_var(lyric_vocab, isolated, monkeypatch):
    monkeypatch.setenv("ACESTEP_LYRIC_VOCAB", str(lyric_vocab))
    assert locate_vocab(cache_dir=isolated) == lyric_vocab


def test_comfy_install(lyric_vocab, isolated):
    target = isolated / "ComfyUI" / vocab_mod.COMFY_RELATIVE
    target.parent.mkdir(parents=True)
    target.write_bytes(lyric_vocab.read_bytes())
    assert locate_vocab(comfy_root=isolated / "ComfyUI", cache_dir=isolated / "cache") == target


def test_comfy_found_from_custom_nodes(lyric_vocab, isolated, monkeypatch):
    root = isolated / "ComfyUI"
    (root / vocab_mod.COMFY_RELATIVE).parent.mkdir(parents=True)
    (root / vocab_mod.COMFY_RELATIVE).write_bytes(lyric_vocab.read_bytes())
    pack_file = root / "custom_nodes" / "acestep-v1" / "acestep_core" / "lyrics" / "vocab.py"
    monkeypatch.setattr(vocab_mod, "_PACK_FILE", pack_file)
    assert locate_vocab(cache_dir=isolated / "cache") == root / vocab_mod.COMFY_RELATIVE


def test_comfy_copy_with_wrong_checksum(isolated):
    target = isolated / "ComfyUI" / vocab_mod.COMFY_RELATIVE
    target.parent.mkdir(parents=True)
    target.write_text("{}")
    with pytest.raises(ValueError, match="SHA-256"):
        locate_vocab(comfy_root=isolated / "ComfyUI", cache_dir=isolated / "cache")


def test_cache_dir(lyric_vocab, isolated):
    (isolated / "vocab.json").write_bytes(lyric_vocab.read_bytes())
    assert locate_vocab(cache_dir=isolated) == isolated / "vocab.json"


def test_no_network_message_lists_the_three_ways(isolated):
    with pytest.raises(FileNotFoundError) as err:
        locate_vocab(cache_dir=isolated / "cache")
    message = str(err.value)
    assert "ACESTEP_LYRIC_VOCAB" in message
    assert "explicitly" in message
    assert str(isolated / "cache" / "vocab.json") in message
    assert "network unreachable" in message
    assert not (isolated / "cache" / "vocab.json").exists()


def test_download_disabled(isolated):
    with pytest.raises(FileNotFoundError, match="disabled"):
        locate_vocab(cache_dir=isolated, download=False)


class _Response:
    def __init__(self, data: bytes):
        self.data = data

    def read(self) -> bytes:
        return self.data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_into_cache(lyric_vocab, isolated, monkeypatch):
    seen = []

    def fake_urlopen(url, timeout=None):
        seen.append(url)
        return _Response(lyric_vocab.read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    path = locate_vocab(cache_dir=isolated / "c")
    assert path == isolated / "c" / "vocab.json"
    assert path.read_bytes() == lyric_vocab.read_bytes()
    assert seen == [vocab_mod.VOCAB_URL]
    assert [p.name for p in (isolated / "c").iterdir()] == ["vocab.json"]  # no temp file left


def test_download_with_wrong_content_is_rejected(isolated, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: _Response(b"oops"))
    with pytest.raises(ValueError, match="SHA-256"):
        locate_vocab(cache_dir=isolated / "c")
    assert not (isolated / "c" / "vocab.json").exists()
