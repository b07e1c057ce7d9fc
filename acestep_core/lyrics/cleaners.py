"""Text cleaners that run before BPE: the multilingual cleaner and the basic one (spec §4.3).

Each step that upstream wraps in ``try/except`` keeps its input text on failure; that is preserved
here because a failing num2words call (e.g. an unsupported ordinal) changes the tokens, not the line
count. Missing packages are not such a failure: they are raised before any step runs.
"""
from __future__ import annotations

import re
from typing import Callable

from . import cleaner_tables as T
from .packages import require
from .zh_normalizer import normalize_zh


def _num2words_lang(lang: str) -> str:
    """num2words names Czech "cz"."""
    return "cz" if lang == "cs" else lang


def _currency(match: re.Match, lang: str, currency: str, num2words: Callable) -> str:
    amount = float(re.sub(r"[^\d.]", "", match.group(0).replace(",", ".")))
    text = num2words(amount, to="currency", currency=currency, lang=_num2words_lang(lang))
    if amount.is_integer():
        cut = text.rfind(T.CURRENCY_AND[lang])
        if cut != -1:
            text = text[:cut]
    return text


def expand_numbers(text: str, lang: str) -> str:
    """Numbers to words: the Chinese normaliser for zh, num2words for the others."""
    if lang == "zh":
        return normalize_zh(text)
    num2words = require("num2words", lang).num2words
    words = _num2words_lang(lang)
    if lang in ("en", "ru"):
        text = T.COMMA_GROUPED_NUMBER.sub(lambda m: m.group(0).replace(",", ""), text)
    else:
        text = T.DOT_GROUPED_NUMBER.sub(lambda m: m.group(0).replace(".", ""), text)
    try:
        for currency, pattern in T.CURRENCIES:
            text = pattern.sub(lambda m: _currency(m, lang, currency, num2words), text)
    except Exception:  # upstream: a failed currency keeps what was converted before it
        pass
    if lang != "tr":
        text = T.DECIMAL_NUMBER.sub(
            lambda m: num2words(float(m.group(1).replace(",", ".")), lang=words), text
        )
    text = T.ORDINALS[lang].sub(lambda m: num2words(int(m.group(1)), ordinal=True, lang=words), text)
    return T.INTEGER.sub(lambda m: num2words(int(m.group(0)), lang=words), text)


def expand_abbreviations(text: str, lang: str) -> str:
    for pattern, word in T.ABBREVIATIONS[lang]:
        text = pattern.sub(word, text)
    return text


def expand_symbols(text: str, lang: str) -> str:
    for pattern, word in T.SYMBOLS[lang]:
        text = pattern.sub(word, text)
        text = text.replace("  ", " ")
    return text.strip()


def collapse_whitespace(text: str) -> str:
    return T.WHITESPACE.sub(" ", text)


def multilingual_clean(text: str, lang: str) -> str:
    """Quotes, case, numbers, abbreviations, symbols, whitespace — upstream's multilingual cleaner."""
    if lang != "zh":
        require("num2words", lang)  # fail loudly here, not inside the swallowing try below
    text = text.replace('"', "")
    if lang == "tr":
        text = text.replace("İ", "i").replace("Ö", "ö").replace("Ü", "ü")
    text = text.lower()
    for step in (expand_numbers, expand_abbreviations, expand_symbols):
        try:
            text = step(text, lang)
        except Exception:  # upstream keeps the text from before the failed step
            pass
    return collapse_whitespace(text)


def basic_clean(text: str) -> str:
    """Lower case and single spaces only (the hi path)."""
    return collapse_whitespace(text.lower())
