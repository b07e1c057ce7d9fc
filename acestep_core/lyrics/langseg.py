"""Per-line language segmentation: LangSegment 0.3.5 as ACE-Step configures it (spec Appendix B).

The detected lyric language is whichever language collects the most characters here, so every
quirk of the original counts: placeholders, merge rules, the zh/ja tie-breaking, the "waits" queue.
This module reimplements the algorithm from the spec; the langid classifier is injected so the
rules can be tested without the model. Each call starts from a clean state: upstream reuses one
instance that caches the previous line, which only returns the same counts again (the lone
exception, a line whose parsing *raised* being repeated, is not reproduced).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from . import ssml

# py3langid's 97 labels, in the order of acestep/language_segmentation/language_filters.py.
FILTERS: tuple[str, ...] = tuple(
    "af am an ar as az be bg bn br bs ca cs cy da de dz el en eo es et eu fa fi fo fr ga gl gu he hi "
    "hr ht hu hy id is it ja jv ka kk km kn ko ku ky la lb lo lt lv mg mk ml mn mr ms mt nb ne nl nn "
    "no oc or pa pl ps pt qu ro ru rw se si sk sl sq sr sv sw ta te th tl tr ug uk ur vi vo wa xh zh "
    "zu".split()
)
FILTER_STRING = "-".join(FILTERS)  # "language in filters" upstream is a substring test on this
PRIORITY_THRESHOLD = 0.89

# classify(text) -> (label, probability rounded to 3 decimals)
Classifier = Callable[[str], tuple[str, float]]

_FR = "àáâãäåæçèéêëìíîïðñòóôõöùúûüýþÿ"
_VI = "đơưăáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựôâêơưỷỹ"

_PLACEHOLDER = re.compile(r"(⑥\$*\d+[\d]{6,}⑥)")
_NUMBER_PLACEHOLDER = re.compile(r"(⑥\d{6,}⑥)")
_PUNCT_RUN = re.compile(r"([^\w\s]+)")
_SENTENCE = re.compile(r"(.*?[。.?？!！]+[\n]{,1})")
_LINE = re.compile(r".*\n*")
_BRACKETED = re.compile(r"([\n]*[【《（(“‘])([^【《（(“‘’”)）》】]{3,})([’”)）》】][\W\s]*[\n]{,1})")


def _script_run(chars: str) -> re.Pattern:
    """A run of one script, with opening quotes before and punctuation/space after each word."""
    return re.compile(r'(([【《（(“‘"\']*[' + chars + r"]+[\W\s]*)+)")


@dataclass
class Word:
    """One segmented piece; ``symbol`` is None, True (a <lang> tag) or an SSML tag name."""

    lang: str
    text: str
    score: float
    symbol: Any = None


def clean(text: str) -> str:
    """The text langid sees: punctuation runs to one space, repeated characters to one."""
    text = re.sub(r"(.*?)([^\w]+)", r"\1 ", text)
    return re.sub(r"(.)\1+", r"\1", text).strip()


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def _all_cjk(text: str) -> bool:
    """True for the empty string too, which is why bare digits and punctuation count as zh."""
    return all("\u4e00" <= c <= "\u9fff" for c in re.sub(r"\s", "", text))


def _has_kana(text: str) -> bool:
    return re.search(r"[\u3040-\u309F\u30A0-\u30FF]+", text) is not None


def _punct_only(text: str) -> bool:
    return len(_PUNCT_RUN.sub("", re.sub(r"\n+", "", text)).strip()) == 0


def _digits_only(text: str) -> tuple[str, bool]:
    """(text without punctuation, whether nothing but digits remain)."""
    if text == "\n":
        return text, False
    kept = re.sub(r"([^\w\s]+)", "", re.sub(r"\n+", "", text)).strip()
    return kept, len(re.sub(r"(\d+)", "", kept)) == 0


def _space_capitals(text: str) -> str:
    """English pieces get a space before inner capitals ("iPhone" → "i Phone") and one after."""
    return re.sub(r"(?<!\b)([A-Z])", r" \1", text).strip("-") + " "


def _last_char(text: str) -> str | None:
    text = re.sub(r"\s+", "", text)
    return text[-1] if text else None


class _Segmentation:
    """The mutable state of one call: words of the current line, pending zh/ja guesses, counts."""

    def __init__(self, classify: Classifier) -> None:
        self.classify = classify
        self.counts: dict[str, int] = {}
        self.waits: list[Word] = []
        self.cache: dict[str, tuple[Callable, Any]] = {}
        self.eos = False
        # tag, pattern, handler — in the order upstream substitutes them
        self.rules: list[tuple[str, re.Pattern, Callable]] = [
            ("$1", re.compile(r"(<([a-zA-Z|-]*)>(.*?)<\/*[a-zA-Z|-]*>)"), self._symbol),
            ("$6", _script_run("\uac00-\ud7a3"), self._script("ko")),
            ("$8", _script_run("\u0e00-\u0e7f"), self._script("th")),
            ("$7", _script_run("А-Яа-яЁё"), self._script("ru")),
            ("00", re.compile(r"(\W*\d+\W+\d*\W*\d*)"), self._number),
            ("$5", _script_run("a-zA-Z" + _FR + _VI), self._latin),
            ("$3", re.compile(r'(["\'])(.*?)(\1)'), self._quotes),
            ("$4", _BRACKETED, self._quotes),
        ]

    # ---- driver -------------------------------------------------------------------------------
    def run(self, text: str) -> list[Word]:
        words: list[Word] = []
        for line in _LINE.findall(_PLACEHOLDER.sub("", text)):
            if not line.strip():
                continue
            self.eos = False
            self.cache = {}
            for tag, pattern, handler in self.rules:
                line = self._protect(tag, pattern, handler, line)
            words += self._walk([], line, root=True)
        return words

    def _protect(self, tag: str, pattern: re.Pattern, handler: Callable, text: str) -> str:
        """Replace each match by a numbered placeholder, unless one match is the whole text."""
        matches = pattern.findall(text)
        if len(matches) == 1 and "".join(matches[0]) == text:
            return text
        for i, match in enumerate(matches):
            key = f"⑥{tag}{i:06d}⑥"
            text = pattern.sub(lambda _m, k=key: k, text, count=1)
            self.cache[key] = (handler, match)
        return text

    def _walk(self, words: list[Word], text: str, root: bool) -> list[Word]:
        segments = _PLACEHOLDER.split(text)
        for index, segment in enumerate(segments):
            if root:
                self.eos = index >= len(segments) - 1
            if _PLACEHOLDER.match(segment):
                handler, match = self.cache[segment]
                handler(words, match)
            else:
                self._plain(words, segment)
        return words

    # ---- handlers ----------------------------------------------------------------------------
    def _script(self, lang: str) -> Callable:
        def handle(words: list[Word], match: tuple) -> None:
            self._add(words, lang, match[0], 1.0)

        return handle

    def _number(self, words: list[Word], match: str) -> None:
        self._add(words, words[0].lang if words else "zh", match, 0.0)

    def _latin(self, words: list[Word], match: tuple) -> None:
        for piece in _SENTENCE.split(match[0]):
            if not piece.strip():
                continue
            cleaned = clean(piece)
            lang, score = self.classify(cleaned)
            if lang not in FILTER_STRING:
                lang, score = self._majority(cleaned)
            if lang is None or score <= 0.0:
                continue
            if lang not in FILTER_STRING:
                if score >= 0.95:
                    continue
                lang = FILTER_STRING[:2] if score <= 0.15 and FILTER_STRING[:2] == "fr" else "en"
            self._add(words, lang, piece, score)

    def _majority(self, text: str) -> tuple[str | None, float]:
        """Most common label of the camel-case-split words longer than 3 characters."""
        if not text.strip():
            return None, 0.0
        parts = re.sub(r"(?<!^)(?=[A-Z])", " ", text).split(" ")
        labels = [self.classify(p)[0] for p in parts if len(p.strip()) > 3]
        if not labels:
            return None, 0.0
        return Counter(labels).most_common(1)[0][0], 1.0

    def _quotes(self, words: list[Word], match: tuple) -> None:
        text = "".join(match)
        if _PLACEHOLDER.findall(text):
            self._walk(words, text, root=False)
            return
        cleaned = clean(match[1])
        if len(cleaned) <= 5:
            self._plain(words, text)
        else:
            lang, score = self.classify(cleaned)
            self._add(words, lang, text, score)

    def _symbol(self, words: list[Word], match: tuple) -> None:
        """``<xx>text</xx>``: a forced language, or an SSML reading counted as zh."""
        tag, text = match[1], match[2]
        if tag in FILTER_STRING:
            self._add(words, tag, text, 1.0, True)
            return
        readers = {"telephone": ssml.telephone, "number": ssml.number,
                   "currency": ssml.currency, "date": ssml.date}
        lang = tag
        if tag in readers:
            lang, text = "zh", readers[tag](text)
        self._add(words, lang, text, 1.0, tag)

    # ---- plain text --------------------------------------------------------------------------
    def _plain(self, words: list[Word], segment: str) -> None:
        """Split at punctuation, glue short pieces forward, classify, apply the zh/ja rules."""
        segment_ends_line = self.eos
        pieces = _PUNCT_RUN.split(segment)
        for index in range(len(pieces)):
            text = pieces[index]
            if len(text) == 0:
                continue
            last = index >= len(pieces) - 1
            nxt = "" if last else pieces[index + 1]
            if not last and (_punct_only(text) or _punct_only(nxt)):
                pieces[index + 1] = text + nxt
                continue
            cleaned = clean(re.sub(r"\d+", "", _NUMBER_PLACEHOLDER.sub("", text)))
            if not last and len(cleaned) <= 2:
                pieces[index + 1] = text + nxt
                continue
            lang, score = self.classify(cleaned)
            prev = words[-1].lang if words else None
            if lang != "zh" and _all_cjk(cleaned):
                lang, score = "zh", 1
            if len(cleaned) <= 5 and _has_cjk(cleaned):
                lang = self._short_cjk(words, text, cleaned, lang, score, prev, last and segment_ends_line)
            text = _NUMBER_PLACEHOLDER.sub(self._restore_number, text)
            self._add(words, lang, text, score)

    def _short_cjk(self, words: list[Word], text: str, cleaned: str, lang: str, score: float,
                   prev: str | None, at_line_end: bool) -> str:
        """Short Chinese-looking text: low confidence means ja (it precedes zh in the filters)."""
        if score < PRIORITY_THRESHOLD:
            ja, zh = FILTER_STRING.find("ja"), FILTER_STRING.find("zh")
            if ja != -1 and ja < zh:
                lang = "ja"
            elif zh != -1 and zh < ja:
                lang = "zh"
        if _has_kana(cleaned):
            return "ja"
        if len(cleaned) > 2 and score > 0.90:
            return lang
        if at_line_end:
            return "zh" if len(cleaned) <= 1 else lang
        unknown = "zh|ja" if lang == "zh" or (len(cleaned) <= 2 and prev == "zh") else "ja|zh"
        related = (prev in unknown or unknown in prev) if prev else False
        if _last_char(text) in "。.":  # None (no character) raises, as upstream
            return prev if related and words else lang
        return f"{unknown}|…"

    def _restore_number(self, match: re.Match) -> str:
        value = match.group(0)
        if value in self.cache:
            value = self.cache[value][1]
        return value

    # ---- bookkeeping -------------------------------------------------------------------------
    def _add(self, words: list[Word], lang: str | None, text: str | None, score: float,
             symbol: Any = None) -> None:
        """Resolve a pending "zh|ja" guess against this piece, then save or queue the piece."""
        if text != "\n" and (text is None or len(text.strip()) == 0):
            return
        lang = (lang or "").lower()
        if lang == "en":
            text = _space_capitals(text)
        from_wait = bool(self.waits)
        pre = self.waits.pop() if from_wait else (words[-1] if words else None)
        if pre is not None and "|" in pre.lang:
            if lang in pre.lang:
                pre.lang = lang = lang.split("|")[0]
            else:
                pre.lang = pre.lang.split("|")[0]
            if from_wait:
                pre = self._save(words, pre.lang, pre.text, pre.score, pre.symbol)
        pre_lang = pre.lang if pre is not None else None
        if "|" in lang and pre_lang and pre_lang not in lang and "…" not in lang:
            lang = lang.split("|")[0]
        if "|" in lang:
            self.waits.append(Word(lang, text, score, symbol))
        else:
            self._save(words, lang, text, score, symbol)

    def _save(self, words: list[Word], lang: str, text: str, score: float, symbol: Any) -> Word:
        """Merge into the previous word when the language matches; absorb a number-only word."""
        kept, is_number = _digits_only(text)
        prev = words[-1] if words else None
        if symbol is not None:
            pass
        elif prev is not None and prev.symbol is None:
            if len(kept) == 0 or is_number:
                lang = prev.lang
            if prev.lang == lang:
                self._count(prev.lang, text)
                prev.text += text
                return prev
            if _digits_only(prev.text)[1]:
                text = prev.text + text
                words.pop()
        elif is_number and FILTER_STRING[:2] in "ja-zh-en-ko-fr-vi":
            lang = FILTER_STRING[:2]
        word = Word(lang, text, score, symbol)
        first = FILTERS[0]
        if "?" in lang or lang in FILTERS or lang in first or first == "*" or first in "alls-mixs-autos":
            words.append(word)
            self._count(word.lang, word.text)
        return word

    def _count(self, lang: str, text: str) -> None:
        """Characters per language; Chinese characters count double."""
        if "|" not in lang:
            self.counts[lang] = self.counts.get(lang, 0) + (2 * len(text) if lang == "zh" else len(text))


class LangSegmenter:
    """Character counts per language for a line of text, largest first."""

    def __init__(self, classify: Classifier) -> None:
        self.classify = classify

    def segment(self, text: str) -> tuple[list[Word], list[tuple[str, int]]]:
        """The words found and the per-language counts (``[("zh", 0)]`` when nothing was kept)."""
        if text is None or not text.strip():
            return [], [("zh", 0)]
        state = _Segmentation(self.classify)
        words = state.run(text)
        if not state.counts:
            return words, [("zh", 0)]
        return words, sorted(state.counts.items(), key=lambda kv: kv[1], reverse=True)

    def counts(self, text: str) -> list[tuple[str, int]]:
        return self.segment(text)[1]
