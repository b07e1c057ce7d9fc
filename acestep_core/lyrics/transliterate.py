"""Latin transliteration of zh, ko and ja lines, the form the BPE vocabulary was trained on (§4.3).

The packages are imported on first use so that ``import acestep_core`` stays cheap and a missing
one only matters for lyrics that need it.
"""
from __future__ import annotations

import importlib.util
from typing import Any

from .packages import MissingLanguagePackage, require

JA_PIP = "pip install cutlet==0.5.2 fugashi==1.5.2 unidic-lite==1.0.8"


def pinyin(text: str) -> str:
    """Tone-numbered pinyin (TONE3, neutral tone 5), first reading of each item, joined with ''."""
    pypinyin = require("pypinyin", "zh")
    items = pypinyin.pinyin(
        text, style=pypinyin.Style.TONE3, heteronym=False, neutral_tone_with_five=True
    )
    return "".join(item[0] for item in items)


def hangul(text: str) -> str:
    """Revised-romanisation-like "academic" transliteration of Hangul syllables."""
    core = require("hangul_romanize", "ko")
    rule = require("hangul_romanize.rule", "ko")
    return core.Transliter(rule.academic).translit(text)


class Romaji:
    """cutlet with its defaults (Hepburn, foreign spellings, '?' for the unknown), lower-cased.

    One instance per tokenizer, as upstream caches its ``Cutlet`` (building the MeCab tagger is slow).
    """

    def __init__(self) -> None:
        self._cutlet: Any = None

    def _load(self) -> Any:
        cutlet = require("cutlet", "ja", JA_PIP)
        if not any(importlib.util.find_spec(d) for d in ("unidic_lite", "unidic")):
            raise MissingLanguagePackage("unidic_lite", "ja", JA_PIP)
        return cutlet.Cutlet()

    def __call__(self, text: str) -> str:
        if self._cutlet is None:
            self._cutlet = self._load()
        return self._cutlet.romaji(text).lower()
