"""Chinese number and punctuation normaliser for zh lyric lines (spec Appendix D, §15).

Upstream runs the cn_tn "TextNorm" with every option off: numbers become Chinese readings chosen by
context (dates, money, phone numbers, fractions, percentages, quantities, digit strings), then every
punctuation mark becomes ",". Each rule replaces its matches one by one with ``str.replace(…, 1)``
on the whole text, exactly like upstream, because that first-occurrence replacement is observable.
"""
from __future__ import annotations

import re
import string
from typing import Callable

from .zh_numbers import cardinal, digit_string

_CURRENCY_UNITS = "((亿|千万|百万|万|千|百)|(亿|千万|百万|万|千|百|)元|(亿|千万|百万|万|千|百|)块|角|毛|分)"
_QUANTIFIERS = (
    "(匹|张|座|回|场|尾|条|个|首|阙|阵|网|炮|顶|丘|棵|只|支|袭|辆|挑|担|颗|壳|窠|曲|墙|群|腔|"
    "砣|座|客|贯|扎|捆|刀|令|打|手|罗|坡|山|岭|江|溪|钟|队|单|双|对|出|口|头|脚|板|跳|枝|件|贴|"
    "针|线|管|名|位|身|堂|课|本|页|家|户|层|丝|毫|厘|分|钱|两|斤|担|铢|石|钧|锱|忽|(千|毫|微)克|"
    "毫|厘|分|寸|尺|丈|里|寻|常|铺|程|(千|分|厘|毫|微)米|撮|勺|合|升|斗|石|盘|碗|碟|叠|桶|笼|盆|"
    "盒|杯|钟|斛|锅|簋|篮|盘|桶|罐|瓶|壶|卮|盏|箩|箱|煲|啖|袋|钵|年|月|日|季|刻|时|周|天|秒|分|旬|"
    "纪|岁|世|更|夜|春|夏|秋|冬|代|伏|辈|丸|泡|粒|颗|幢|堆|条|根|支|道|面|片|张|颗|块)"
)

_CN_PUNCTUATION = (
    "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃《》「」『』【】〔〕〖〗〘〙〚〛"
    "〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏·〈〉-"
)
_TO_COMMA = {ord(c): "," for c in _CN_PUNCTUATION + string.punctuation}

_DATE = re.compile(r"\D+((([089]\d|(19|20)\d{2})年)?(\d{1,2}月(\d{1,2}[日号])?)?)")
_MONEY = re.compile(r"\D+((\d+(\.\d+)?)[多余几]?" + _CURRENCY_UNITS + r"(\d" + _CURRENCY_UNITS + r"?)?)")
_MOBILE = re.compile(r"\D((\+?86 ?)?1([38]\d|5[0-35-9]|7[678]|9[89])\d{8})\D")
_FIXED_LINE = re.compile(r"\D((0(10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})\D")
_FRACTION = re.compile(r"(\d+/\d+)")
_PERCENT = re.compile(r"(\d+(\.\d+)?%)")
_QUANTITY = re.compile(r"(\d+(\.\d+)?)[多余几]?" + _QUANTIFIERS)
_DIGIT_STRING = re.compile(r"(\d{4,32})")
_NUMBER = re.compile(r"(\d+(\.\d+)?)")
_LATIN_TWO_LATIN = re.compile(r"(([a-zA-Z]+)二([a-zA-Z]+))")


def _date(text: str) -> str:
    """Year digit by digit + 年, month and day as cardinals (``2024年8月24日``)."""
    try:
        year, rest = text.strip().split("年", 1)
        year = digit_string(year) + "年"
    except ValueError:
        year, rest = "", text
    if not rest:
        return year
    try:
        month, day = rest.strip().split("月", 1)
        month = cardinal(month) + "月"
    except ValueError:
        month, day = "", text
    if day:
        day = cardinal(day[:-1]) + day[-1]
    return year + month + day


def _money(text: str) -> str:
    """Every number inside an amount (``2块5``) read as a cardinal; all occurrences replaced."""
    for number, _ in _NUMBER.findall(text):
        text = text.replace(number, cardinal(number))
    return text


def _phone(text: str, fixed: bool) -> str:
    """Digit by digit, parts split on '-' (fixed line) or whitespace after a stripped '+'."""
    parts = text.split("-") if fixed else text.strip("+").split()
    return "".join(digit_string(p) for p in parts)


def _fraction(text: str) -> str:
    numerator, denominator = text.split("/")
    return cardinal(denominator) + "分之" + cardinal(numerator)


def _percent(text: str) -> str:
    return "百分之" + cardinal(text.strip().strip("%"))


def _latin_two(match: tuple[str, ...]) -> str:
    return match[1] + "2" + match[2]


def _replace_each(text: str, pattern: re.Pattern, convert: Callable[[str], str], group: bool = True) -> str:
    """Find every match first, then replace the first occurrence of each, in order."""
    for found in pattern.findall(text):
        old = found[0] if group else found
        text = text.replace(old, convert(old), 1)
    return text


def normalize_numbers(text: str) -> str:
    """Rewrite the numbers in a (lower-cased) zh line as Chinese readings (spec Appendix D.1)."""
    text = "^" + text + "$"
    text = _replace_each(text, _DATE, _date)
    text = _replace_each(text, _MONEY, _money)
    text = _replace_each(text, _MOBILE, lambda t: _phone(t, fixed=False))
    text = _replace_each(text, _FIXED_LINE, lambda t: _phone(t, fixed=True))
    text = _replace_each(text, _FRACTION, _fraction, group=False)
    text = text.replace("％", "%")
    text = _replace_each(text, _PERCENT, _percent)
    text = _replace_each(text, _QUANTITY, cardinal)
    text = _replace_each(text, _DIGIT_STRING, digit_string, group=False)
    text = _replace_each(text, _NUMBER, cardinal)
    for found in _LATIN_TWO_LATIN.findall(text):
        text = text.replace(found[0], _latin_two(found), 1)
    return text.lstrip("^").rstrip("$")


def normalize_punctuation(text: str) -> str:
    """Every Chinese or ASCII punctuation mark becomes ',' (spec Appendix D.2)."""
    return text.translate(_TO_COMMA)


def normalize_zh(text: str) -> str:
    """The whole zh number step of the multilingual cleaner: numbers, then punctuation."""
    return normalize_punctuation(normalize_numbers(text))


__all__ = ["normalize_zh", "normalize_numbers", "normalize_punctuation"]
