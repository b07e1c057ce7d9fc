"""Lyric tokenisation for ACE-Step v1: per-line language detection, cleaning and BPE (spec §4).

Importing this package is cheap: the language model, pypinyin and cutlet load on first use.
"""
from __future__ import annotations

from .languages import LANGUAGE_TAG_IDS, LYRIC_LANGUAGES
from .packages import MissingLanguagePackage
from .tokenizer import LyricTokenizer
from .vocab import VOCAB_SHA256, locate_vocab

__all__ = [
    "LyricTokenizer",
    "locate_vocab",
    "LYRIC_LANGUAGES",
    "LANGUAGE_TAG_IDS",
    "MissingLanguagePackage",
    "VOCAB_SHA256",
]
