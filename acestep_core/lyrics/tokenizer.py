"""Lyrics → token ids, line by line, exactly as ACE-Step's ``tokenize_lyrics`` (spec §4.1).

Layout: ``[START]``, then per line either ``[SPACE]`` (empty line) or the BPE ids of
``"[lang]" + cleaned text`` followed by ``[SPACE]``. Lines starting with ``[...]`` (structure tags)
always take the English path. Upstream drops a line whose encoding raises; here that only happens
for real processing errors, or for missing packages when ``strict=False``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .cleaners import basic_clean, multilingual_clean
from .detect import LanguageDetector
from .languages import LANGUAGE_TAG_IDS, MULTILINGUAL_CLEANED, SPACE_ID, START_ID, STOP_ID, check_language
from .packages import MissingLanguagePackage
from .transliterate import Romaji, hangul, pinyin
from .vocab import locate_vocab

STRUCTURE_LINE = re.compile(r"\[.*?\]")  # matched at the start of the stripped line only


class LyricTokenizer:
    """The lyric tokenizer of the ACE-Step v1 pipeline: detection, cleaning, BPE.

    ``strict=True`` raises :class:`MissingLanguagePackage` when a line needs a package that is not
    installed (e.g. cutlet for Japanese); ``strict=False`` drops such lines silently, like upstream.
    """

    def __init__(self, vocab_path: str | Path | None = None, strict: bool = True) -> None:
        from tokenizers import Tokenizer

        path = Path(vocab_path) if vocab_path is not None else locate_vocab()
        self.vocab_path = path
        self.strict = strict
        self._bpe = Tokenizer.from_file(str(path))
        self._detector = LanguageDetector(strict=strict)
        self._romaji = Romaji()

    # ---- single line -----------------------------------------------------------------------------
    def detect_language(self, line: str) -> str:
        """Upstream ``get_lang``: the raw detected code (possibly unsupported), "en" on error."""
        return self._detector.detect(line)

    def clean(self, text: str, lang: str) -> str:
        """The text the BPE sees for ``lang``, before the language tag and [SPACE] substitution."""
        lang = lang.split("-")[0]
        if lang in MULTILINGUAL_CLEANED:
            text = multilingual_clean(text, lang)
            if lang == "zh":
                text = pinyin(text)
            elif lang == "ko":
                text = hangul(text)
            return text
        if lang == "ja":
            return self._romaji(text)
        if lang == "hi":
            return basic_clean(text)
        raise NotImplementedError(f"Language '{lang}' is not supported.")

    def encode_line(self, text: str, lang: str) -> list[int]:
        """BPE ids of one line in ``lang``: language tag first, no closing [SPACE]."""
        lang = lang.split("-")[0]
        cleaned = self.clean(text, lang)
        tag = "zh-cn" if lang == "zh" else lang
        return self._bpe.encode(f"[{tag}]{cleaned}".replace(" ", "[SPACE]")).ids

    # ---- whole lyrics ----------------------------------------------------------------------------
    def analyze(self, lyrics: str, language: str | None = None) -> list[dict[str, Any]]:
        """Per line: text, detected and used language, the ids it adds, whether it was dropped, why.

        ``language`` forces every non-structure line to that lyric language. The ``ids`` of all
        lines, after ``[START]``, concatenate to :meth:`encode`'s result.
        """
        return self._lines(lyrics, language, detect=True)

    def encode(self, lyrics: str, language: str | None = None) -> list[int]:
        """Token ids of ``lyrics`` (upstream ``tokenize_lyrics``; starts with [START] = 261)."""
        ids = [START_ID]
        for report in self._lines(lyrics, language, detect=language is None):
            ids += report["ids"]
        return ids

    def encode_with_mask(self, lyrics: str, language: str | None = None) -> tuple[list[int], list[int]]:
        """(ids, mask) as the pipeline builds them; empty lyrics become one masked [STOP]."""
        if len(lyrics) == 0:
            return [STOP_ID], [0]
        ids = self.encode(lyrics, language)
        return ids, [1] * len(ids)

    def _lines(self, lyrics: str, language: str | None, detect: bool) -> list[dict[str, Any]]:
        if language is not None:
            check_language(language)
        return [self._line(raw.strip(), language, detect) for raw in lyrics.split("\n")]

    def _line(self, line: str, language: str | None, detect: bool) -> dict[str, Any]:
        report: dict[str, Any] = {
            "line": line, "detected": None, "used": None, "ids": [SPACE_ID], "dropped": False, "reason": None,
        }
        if not line:
            report["reason"] = "empty line"
            return report
        detected = self.detect_language(line) if detect else None
        used, reason = language or detected, None
        if language is not None:
            reason = f"language forced to {language!r}"
        elif detected not in LANGUAGE_TAG_IDS:
            used, reason = "en", f"detected {detected!r} is not a lyric language; using English"
        if STRUCTURE_LINE.match(line):
            used, reason = "en", "structure tag: English path"
        report.update(detected=detected, used=used, reason=reason)
        try:
            report["ids"] = self.encode_line(line, used) + [SPACE_ID]
        except MissingLanguagePackage as err:
            if self.strict:
                raise
            report.update(ids=[], dropped=True, reason=f"line dropped: {err}")
        except Exception as err:  # upstream drops the line on any encoding error
            report.update(ids=[], dropped=True, reason=f"line dropped: {type(err).__name__}: {err}")
        return report
