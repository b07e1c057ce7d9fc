"""The per-line language pick of ACE-Step's ``get_lang`` (spec §4.2) on top of the segmenter.

Owns the py3langid model, loaded on first use and kept for the detector's lifetime (loading the
pickled model takes a noticeable fraction of a second).
"""
from __future__ import annotations

from typing import Any

from .langseg import LangSegmenter
from .packages import MissingLanguagePackage, require


class LanguageDetector:
    """Raw langid-based language code of one lyric line, exactly as upstream picks it."""

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self._identifier: Any = None
        self._segmenter = LangSegmenter(self.classify)

    def _model(self) -> Any:
        if self._identifier is None:
            langid = require("py3langid.langid")
            self._identifier = langid.LanguageIdentifier.from_pickled_model(
                langid.MODEL_FILE, norm_probs=True
            )
        return self._identifier

    def classify(self, text: str) -> tuple[str, float]:
        """langid label and normalised probability rounded to 3 places, as LangSegment uses them."""
        label, prob = self._model().classify(text)
        return label, round(float(prob), 3)

    def counts(self, line: str) -> list[tuple[str, int]]:
        """Characters per language for ``line``, largest first."""
        return self._segmenter.counts(line)

    def detect(self, line: str) -> str:
        """The most counted language, or the runner-up when English wins; "en" on any error.

        The result may be a code the lyric model does not support (e.g. "cy"); the caller falls
        back to English. A missing py3langid is raised in strict mode instead of read as "en".
        """
        try:
            counts = self.counts(line)
            lang = counts[0][0]
            if len(counts) > 1 and lang == "en":
                lang = counts[1][0]
            return lang
        except MissingLanguagePackage:
            if self.strict:
                raise
            return "en"
        except Exception:
            return "en"
