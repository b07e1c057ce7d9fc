"""Chinese readings of digit strings, as the cn_tn normaliser reads them (spec Appendix D).

Separate from the rule set in ``zh_normalizer`` because the reading rules (unit recursion, 零, 两,
the dropped leading 一 of 十x) are where token ids are won or lost.
"""
from __future__ import annotations

DIGITS = "零一二三四五六七八九"
LIANG = "两"
POINT = "点"

# "mid" numbering: 十 百 千 万, then 亿 and every larger unit ×10⁴.
_UNITS: dict[int, str] = {1: "十", 2: "百", 3: "千", 4: "万"}
_UNITS.update({8 + 4 * i: u for i, u in enumerate("亿兆京垓秭穰沟涧正载")})
_POWERS = sorted(_UNITS)

# A reading is built as symbols first, because the 两 rule looks at the neighbours of each 二.
# kinds: "d" digit (value), "u" unit (power), "p" decimal point, "l" the 两 form of two.
Symbol = tuple[str, int]


def _grouped(value: str) -> list[Symbol]:
    """Read an integer string with units, recursing on the high and low parts."""
    stripped = value.lstrip("0")
    if not stripped:
        return []
    if len(stripped) == 1:
        digit = ("d", int(stripped))
        return [("d", 0), digit] if len(value) != len(stripped) else [digit]
    power = max(p for p in _POWERS if p < len(stripped))
    return _grouped(value[:-power]) + [("u", power)] + _grouped(stripped[-power:])


def _apply_liang(symbols: list[Symbol]) -> None:
    """二 before a unit other than 十, at the start or after a unit other than 十, reads 两."""
    for i, (kind, value) in enumerate(symbols):
        if kind != "d" or value != 2:
            continue
        nxt = symbols[i + 1] if i + 1 < len(symbols) else None
        prev = symbols[i - 1] if i > 0 else None
        if nxt is None or nxt[0] != "u" or nxt[1] == 1:
            continue
        if prev is None or (prev[0] == "u" and prev[1] != 1):
            symbols[i] = ("l", 2)


def _render(symbol: Symbol) -> str:
    kind, value = symbol
    if kind == "d":
        return DIGITS[value]
    if kind == "u":
        return _UNITS[value]
    return LIANG if kind == "l" else POINT


def num2chn(number: str, alt_two: bool = True, use_units: bool = True) -> str:
    """Read ``number`` (digits, at most one '.') in Chinese; ``use_units=False`` reads digit by digit."""
    parts = number.split(".")
    if len(parts) > 2:
        raise ValueError(f"invalid number with more than one dot: {number!r}")
    int_part, dec_part = parts[0], parts[1] if len(parts) == 2 else ""
    if use_units and len(int_part) > 1:
        symbols = _grouped(int_part)
    else:
        symbols = [("d", int(c)) for c in int_part]
    decimals = [("d", int(c)) for c in dec_part]
    if dec_part:
        symbols += [("p", 0)] + decimals
    if alt_two:
        _apply_liang(symbols)
    text = "".join(_render(s) for s in symbols)
    if text.startswith(POINT):
        return DIGITS[0] + text
    if len(text) >= 2 and text[0] == DIGITS[1] and text[1] == _UNITS[1]:
        return text[1:]
    return text


def cardinal(number: str) -> str:
    """A quantity: units, 两 allowed (``12`` → 十二, ``200`` → 两百)."""
    return num2chn(number)


def digit_string(number: str) -> str:
    """An identifier or year: one character per digit (``2000`` → 二零零零)."""
    return num2chn(number, alt_two=False, use_units=False)
