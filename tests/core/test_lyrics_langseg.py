"""Language segmentation (spec Appendix B): worked examples with the real model, rules with a fake one."""
from __future__ import annotations

import pytest

from acestep_core.lyrics.detect import LanguageDetector
from acestep_core.lyrics.langseg import FILTER_STRING, FILTERS, LangSegmenter, clean


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(strict=True)


def test_filter_list_is_langid_label_set(detector):
    assert len(FILTERS) == 97
    assert FILTERS == tuple(detector._model().nb_classes)
    assert FILTER_STRING.find("ja") == 117 and FILTER_STRING.find("zh") == 285


def test_empty_string_classifies_as_english(detector):
    label, score = detector.classify("")
    assert label == "en" and 0.16 < score < 0.17


@pytest.mark.parametrize(
    "line,counts",
    [
        ("你好", [("zh", 4)]),
        ("[verse]", [("en", 8), ("zh", 2)]),
        ("2 Become 1", [("en", 11), ("zh", 4)]),
        ("1, 2, 3, go!", [("zh", 18), ("en", 4)]),
        # printed by upstream (d612523): SSML tags are read in Chinese before counting
        ("<date>2024/8/24 10:30</date> ok", [("zh", 32), ("en", 3)]),
        ("<number>123</number> hi", [("zh", 6), ("en", 3)]),
        ("<telephone>+8613812345678</telephone>", [("zh", 22)]),
        ("<ja>東京</ja>abc", [("en", 4), ("ja", 2)]),
        ("1st time, 2nd time", [("da", 11), ("en", 8), ("zh", 2)]),
    ],
)
def test_appendix_b_counts(detector, line, counts):
    assert detector.counts(line) == counts


@pytest.mark.parametrize(
    "line,lang",
    [
        ("你好", "zh"), ("[verse]", "zh"), ("2 Become 1", "zh"), ("1, 2, 3, go!", "zh"),
        ("99 luftballons", "de"), ("'Cause I love you", "de"), ('"Hello" she said', "it"),
        ("iPhone love", "es"), ("Hello 2 you", "en"), ("I'm 21", "en"), ("Verse 2", "en"),
        ("(Yeah) I know", "en"), ("再见", "ja"), ("晚安", "ja"), ("雨天", "ja"), ("la la la", "es"),
        ("[pre-chorus]", "sk"), ("123", "zh"), ("...", "zh"), ("$20.15", "zh"),
    ],
)
def test_appendix_b_and_4_2_picks(detector, line, lang):
    assert detector.detect(line) == lang


def test_two_become_one_is_cleaned_as_chinese(lyric_vocab):
    from acestep_core.lyrics import LyricTokenizer

    tok = LyricTokenizer(lyric_vocab)
    assert tok.detect_language("2 Become 1") == "zh"
    assert tok.clean("2 Become 1", "zh") == "er4 become yi1"


def test_clean_collapses_punctuation_and_repeats():
    assert clean("Hello,  world!!") == "Helo world"
    assert clean("[verse]") == "verse"
    assert clean("...") == ""


# ---- rules checked with a scripted classifier, independent of the langid model ----------------

def _fixed(table: dict[str, tuple[str, float]], default=("en", 0.5)):
    calls: list[str] = []

    def classify(text: str) -> tuple[str, float]:
        calls.append(text)
        return table.get(text, default)

    classify.calls = calls  # type: ignore[attr-defined]
    return classify


def test_short_chinese_with_low_confidence_becomes_japanese():
    seg = LangSegmenter(_fixed({"雨天": ("zh", 0.5)}))
    assert seg.counts("雨天") == [("ja", 2)]
    confident = LangSegmenter(_fixed({"雨天": ("zh", 0.95)}))
    assert confident.counts("雨天") == [("zh", 4)]


def test_single_character_at_line_end_switches_back_to_chinese():
    seg = LangSegmenter(_fixed({"雨": ("zh", 0.5)}))
    assert seg.counts("雨") == [("zh", 2)]


def test_kana_forces_japanese_even_when_confident():
    seg = LangSegmenter(_fixed({"雨の": ("zh", 0.99)}))
    assert seg.counts("雨の") == [("ja", 2)]


def test_latin_run_uses_classifier_label_and_english_spacing():
    seg = LangSegmenter(_fixed({"iPhone": ("xx", 0.5), "iPhone love": ("en", 0.9)}))
    # "en" text gets a space before inner capitals and one at the end: "i Phone love "
    assert seg.counts("iPhone love") == [("en", 13)]
    other = LangSegmenter(_fixed({"iPhone love": ("es", 0.9)}))
    assert other.counts("iPhone love") == [("es", 11)]


def test_digits_join_the_first_word_language():
    seg = LangSegmenter(_fixed({"abc": ("de", 0.9)}))
    words, counts = seg.segment("abc 12, 3")
    assert counts == [("de", len("abc 12, 3"))]
    assert [w.lang for w in words] == ["de"]


def test_korean_and_cyrillic_runs_are_fixed_languages():
    classify = _fixed({})
    seg = LangSegmenter(classify)
    assert seg.counts("사랑 Привет") == [("ru", 6), ("ko", 3)]
    assert classify.calls == []  # script runs never reach the classifier


def test_blank_line_counts_as_chinese_zero():
    assert LangSegmenter(_fixed({})).counts("   ") == [("zh", 0)]


_LONG = "我们今天去公园吧"
# "下雨天" is all-CJK, so only a low-scored *zh* label lets the short-text rules see it as ja
_SHORT_ZH_JA = {_LONG: ("zh", 0.99), "下雨天": ("zh", 0.5)}


def test_short_cjk_ending_with_full_stop_follows_a_related_previous_word():
    seg = LangSegmenter(_fixed(_SHORT_ZH_JA))
    line = f"{_LONG}，下雨天。{_LONG}"
    assert seg.counts(line) == [("zh", 2 * len(line))]
    # without the zh word before it, the same piece stays ja
    assert LangSegmenter(_fixed(_SHORT_ZH_JA)).counts(f"下雨天。{_LONG}") == [("zh", 16), ("ja", 4)]


def test_pending_zh_ja_guess_is_resolved_by_the_next_piece():
    # "下雨天，" is queued as "ja|zh|…"; the following zh piece settles it as zh
    seg = LangSegmenter(_fixed(_SHORT_ZH_JA))
    line = f"{_LONG}，下雨天，{_LONG}"
    words, counts = seg.segment(line)
    assert counts == [("zh", 2 * len(line))]
    assert [w.lang for w in words] == ["zh"]


def test_short_cjk_at_line_end_keeps_japanese_unless_one_character():
    seg = LangSegmenter(_fixed(_SHORT_ZH_JA))
    assert seg.counts(f"{_LONG}，下雨天，") == [("zh", 2 * len(_LONG + "，")), ("ja", len("下雨天，"))]
