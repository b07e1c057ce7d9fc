"""Chinese number/punctuation normaliser (spec Appendix D, examples of §15)."""
from __future__ import annotations

import pytest

from acestep_core.lyrics.zh_normalizer import normalize_numbers, normalize_punctuation, normalize_zh
from acestep_core.lyrics.zh_numbers import cardinal, digit_string

SECTION_15 = [
    ("在12.5秒内", "在十二点五秒内"),
    ("2000年", "二零零零年"),
    ("2024年8月24日", "二零二四年八月二十四日"),
    ("3个人", "三个人"),
    ("100%", "百分之一百"),
    ("1/2", "二分之一"),
    ("13812345678", "一三八一二三四五六七八"),
    ("10", "十"),
    ("12", "十二"),
    ("20", "二十"),
    ("200", "两百"),
    ("2000", "二零零零"),
    ("1005", "一零零五"),
    ("第1次", "第一次"),
    ("2块钱", "二块钱"),
    ("P2P", "P2P"),
    ("你好，世界！", "你好,世界,"),
    ("a-b c_d", "a,b c,d"),
]


@pytest.mark.parametrize("text,expected", SECTION_15, ids=[t for t, _ in SECTION_15])
def test_section_15_examples(text, expected):
    assert normalize_zh(text) == expected


# printed by upstream's num2chn (d612523)
@pytest.mark.parametrize(
    "number,reading",
    [
        ("100123456", "一亿零一十二万三千四百五十六"),
        ("20002", "两万零二"),
        ("22", "二十二"),
        ("2.5", "二点五"),
        ("0.25", "零点二五"),
        ("10010", "一万零一十"),
        ("222222222", "两亿两千两百二十二万两千两百二十二"),
    ],
)
def test_cardinal_readings(number, reading):
    assert cardinal(number) == reading


def test_digit_string_never_uses_liang_or_units():
    assert digit_string("2220") == "二二二零"


def test_more_than_one_dot_raises():
    with pytest.raises(ValueError):
        cardinal("1.2.3")


def test_replacement_hits_first_occurrence_like_upstream():
    # The quantity rule finds "1个" but replaces the first "1" of the text, the one inside "12";
    # the leftovers then read as plain numbers. Upstream prints 一二和一个; a match-position
    # replacement would give 十二和一个.
    assert normalize_numbers("12和1个") == "一二和一个"
    assert normalize_numbers("1和12个") == "一和十二个"
    # replacing only the first occurrence leaves "12" whole for the later cardinal rule
    assert normalize_numbers("1个和12") == "一个和十二"


def test_punctuation_only_step():
    assert normalize_punctuation("（ooh）“我”…") == ",ooh,,我,,"
