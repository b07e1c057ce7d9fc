"""Readings for LangSegment's SSML-style tags ``<number>``, ``<telephone>``, ``<currency>``, ``<date>``.

A lyric line can contain such a tag; the segmenter then counts the *converted* text as Chinese, so
its length can decide the detected language (spec Appendix B, symbol handler). These readings are
LangSegment's own (GPT-SoVITS lineage), which differ from the cn_tn ones in ``zh_numbers``: no 两,
trailing decimal zeros dropped, the high part of a number keeps its leading zeros.
"""
from __future__ import annotations

import re

_DIGITS = {str(i): c for i, c in enumerate("零一二三四五六七八九")}
_UNITS = {1: "十", 2: "百", 3: "千", 4: "万", 8: "亿"}
_RUN = re.compile(r"(\d+)")


def _grouped(value: str) -> list[str]:
    stripped = value.lstrip("0")
    if not stripped:
        return []
    if len(stripped) == 1:
        return [_DIGITS["0"], _DIGITS[stripped]] if len(stripped) < len(value) else [_DIGITS[stripped]]
    power = max(p for p in _UNITS if p < len(stripped))
    return _grouped(value[:-power]) + [_UNITS[power]] + _grouped(value[-power:])


def _cardinal(value: str) -> str:
    if not value:
        return ""
    value = value.lstrip("0")
    if not value:
        return _DIGITS["0"]
    chars = _grouped(value)
    if len(chars) >= 2 and chars[0] == _DIGITS["1"] and chars[1] == _UNITS[1]:
        chars = chars[1:]
    return "".join(chars)


def num2str(value: str) -> str:
    """Cardinal reading with an optional decimal part (``3.20`` → 三点二)."""
    parts = value.split(".")
    if len(parts) > 2:
        raise ValueError(f"more than one point in {value!r}")
    integer, decimal = parts[0], parts[1] if len(parts) == 2 else ""
    text = _cardinal(integer)
    decimal = decimal.rstrip("0")
    if decimal:
        text = (text or _DIGITS["0"]) + "点" + "".join(_DIGITS[d] for d in decimal)
    return text


def _map_runs(text: str, read) -> str:
    return "".join(read(p) if _RUN.match(p) else p for p in _RUN.split(text)).replace(".", "点")


def number(text: str) -> str:
    """Digit by digit; digits other than ASCII 0-9 vanish."""
    return _map_runs(text, lambda run: "".join(_DIGITS.get(d, "") for d in run))


def telephone(text: str) -> str:
    return number(text.replace("+86", "")).replace("一", "幺")


def currency(text: str) -> str:
    return _map_runs(text, num2str)


def _non_zero(value: str, suffix: str, read) -> str:
    value = read(value)
    return f"{value}{suffix}" if value not in (None, "", "0") else ""


def date(text: str) -> str:
    """``2024/8/24 10:30``-style dates and times, read as 年月日 and 点分秒."""
    if text is None or text.strip() == "":
        return ""
    text = re.sub(r"日", "", re.sub(r"[\/\._|年|月]", "-", text))
    fields = text.split(" ")
    if len(fields) == 1 and ":" in fields[0]:
        time_text, fields = fields[0], []
    else:
        time_text = fields[1] if len(fields) >= 2 else ""
    ymd = ""
    if fields:
        year = month = day = ""
        parts = fields[0].split("-")
        if len(parts) == 3:
            year, month, day = parts
        elif len(parts) == 2:
            if len(parts[0]) == 4:
                year, month = parts
            else:
                month, day = parts
        elif len(parts[0]) > 0:
            if len(parts[0]) == 4:
                year = parts[0]
            else:
                day = parts[0]
        ymd = _non_zero(year, "年", number) + _non_zero(month, "月", currency)
        ymd = re.sub(r"([年|月|日])+", r"\1", ymd + _non_zero(day, "日", currency))
    times = re.sub(r"[\/\.\-：_]", ":", time_text).split(":")
    hours = minutes = seconds = ""
    if len(times) == 3:
        hours, minutes, seconds = times
    elif len(times) == 2:
        hours, minutes = times
    elif len(times[0]) > 0:
        hours = f"{times[0]}点"
    if len(times) > 1:
        hours = _non_zero(hours, "点", currency)
        minutes = _non_zero(minutes, "分", currency)
        seconds = _non_zero(seconds, "秒", currency)
    return ymd + re.sub(r"([点|分|秒])+", r"\1", hours + minutes + seconds)
