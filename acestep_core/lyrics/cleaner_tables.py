"""Per-language data of the multilingual lyric cleaner (spec Appendix C).

Pure data, so the tables can be checked line by line against the spec without reading logic.
"""
from __future__ import annotations

import re

# Abbreviation → expansion, applied in order. All need a trailing '.', except ru (word boundary).
_ABBREVIATIONS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"),
        ("jr", "junior"), ("maj", "major"), ("gen", "general"), ("drs", "doctors"),
        ("rev", "reverend"), ("lt", "lieutenant"), ("hon", "honorable"), ("sgt", "sergeant"),
        ("capt", "captain"), ("esq", "esquire"), ("ltd", "limited"), ("col", "colonel"),
        ("ft", "fort"),
    ],
    "es": [
        ("sra", "señora"), ("sr", "señor"), ("dr", "doctor"), ("dra", "doctora"), ("st", "santo"),
        ("co", "compañía"), ("jr", "junior"), ("ltd", "limitada"),
    ],
    "fr": [
        ("mme", "madame"), ("mr", "monsieur"), ("dr", "docteur"), ("st", "saint"),
        ("co", "compagnie"), ("jr", "junior"), ("ltd", "limitée"),
    ],
    "de": [("fr", "frau"), ("dr", "doktor"), ("st", "sankt"), ("co", "firma"), ("jr", "junior")],
    "pt": [
        ("sra", "senhora"), ("sr", "senhor"), ("dr", "doutor"), ("dra", "doutora"), ("st", "santo"),
        ("co", "companhia"), ("jr", "júnior"), ("ltd", "limitada"),
    ],
    "it": [
        ("sig", "signore"), ("dr", "dottore"), ("st", "santo"), ("co", "compagnia"),
        ("jr", "junior"), ("ltd", "limitata"),
    ],
    "pl": [("p", "pani"), ("m", "pan"), ("dr", "doktor"), ("sw", "święty"), ("jr", "junior")],
    "ar": [],
    "zh": [],
    "cs": [("dr", "doktor"), ("ing", "inženýr"), ("p", "pan")],
    "ru": [("г-жа", "госпожа"), ("г-н", "господин"), ("д-р", "доктор")],
    "nl": [("dhr", "de heer"), ("mevr", "mevrouw"), ("dr", "dokter"), ("jhr", "jonkheer")],
    "tr": [("b", "bay"), ("byk", "büyük"), ("dr", "doktor")],
    "hu": [("dr", "doktor"), ("b", "bácsi"), ("nőv", "nővér")],
    "ko": [],
}

ABBREVIATIONS: dict[str, list[tuple[re.Pattern, str]]] = {
    lang: [
        (re.compile(r"\b%s%s" % (abbr, r"\b" if lang == "ru" else r"\."), re.IGNORECASE), word)
        for abbr, word in pairs
    ]
    for lang, pairs in _ABBREVIATIONS.items()
}

# Words for & @ % # $ £ ° (in this order); each replaces the symbol with spaces around it.
SYMBOL_ORDER = ("&", "@", "%", "#", "$", "£", "°")
_SYMBOL_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("and", "at", "percent", "hash", "dollar", "pound", "degree"),
    "es": ("y", "arroba", "por ciento", "numeral", "dolar", "libra", "grados"),
    "fr": ("et", "arobase", "pour cent", "dièse", "dollar", "livre", "degrés"),
    "de": ("und", "at", "prozent", "raute", "dollar", "pfund", "grad"),
    "pt": ("e", "arroba", "por cento", "cardinal", "dólar", "libra", "graus"),
    "it": ("e", "chiocciola", "per cento", "cancelletto", "dollaro", "sterlina", "gradi"),
    "pl": ("i", "małpa", "procent", "krzyżyk", "dolar", "funt", "stopnie"),
    "ar": ("و", "على", "في المئة", "رقم", "دولار", "جنيه", "درجة"),
    "zh": ("和", "在", "百分之", "号", "美元", "英镑", "度"),
    "cs": ("a", "na", "procento", "křížek", "dolar", "libra", "stupně"),
    "ru": ("и", "собака", "процентов", "номер", "доллар", "фунт", "градус"),
    "nl": ("en", "bij", "procent", "hekje", "dollar", "pond", "graden"),
    "tr": ("ve", "at", "yüzde", "diyez", "dolar", "sterlin", "derece"),
    "hu": ("és", "kukac", "százalék", "kettőskereszt", "dollár", "font", "fok"),
    "ko": ("그리고", "에", "퍼센트", "번호", "달러", "파운드", "도"),
}

SYMBOLS: dict[str, list[tuple[re.Pattern, str]]] = {
    lang: [
        (re.compile(re.escape(sym), re.IGNORECASE), f" {word} ")
        for sym, word in zip(SYMBOL_ORDER, words)
    ]
    for lang, words in _SYMBOL_WORDS.items()
}

# Ordinal suffixes; group 1 is the number. No zh (Appendix D handles it), hi or ja entry.
ORDINALS: dict[str, re.Pattern] = {
    "en": re.compile(r"([0-9]+)(st|nd|rd|th)"),
    "es": re.compile(r"([0-9]+)(º|ª|er|o|a|os|as)"),
    "fr": re.compile(r"([0-9]+)(º|ª|er|re|e|ème)"),
    "de": re.compile(r"([0-9]+)(st|nd|rd|th|º|ª|\.(?=\s|$))"),
    "pt": re.compile(r"([0-9]+)(º|ª|o|a|os|as)"),
    "it": re.compile(r"([0-9]+)(º|°|ª|o|a|i|e)"),
    "pl": re.compile(r"([0-9]+)(º|ª|st|nd|rd|th)"),
    "ar": re.compile(r"([0-9]+)(ون|ين|ث|ر|ى)"),
    "cs": re.compile(r"([0-9]+)\.(?=\s|$)"),
    "ru": re.compile(r"([0-9]+)(-й|-я|-е|-ое|-ье|-го)"),
    "nl": re.compile(r"([0-9]+)(de|ste|e)"),
    "tr": re.compile(r"([0-9]+)(\.|inci|nci|uncu|üncü|\.)"),
    "hu": re.compile(r"([0-9]+)(\.|adik|edik|odik|edik|ödik|ödike|ik)"),
    "ko": re.compile(r"([0-9]+)(번째|번|차|째)"),
}

# Currency amounts, tried in this order: GBP, USD, EUR.
CURRENCIES: tuple[tuple[str, re.Pattern], ...] = (
    ("GBP", re.compile(r"((£[0-9\.\,]*[0-9]+)|([0-9\.\,]*[0-9]+£))")),
    ("USD", re.compile(r"((\$[0-9\.\,]*[0-9]+)|([0-9\.\,]*[0-9]+\$))")),
    ("EUR", re.compile(r"(([0-9\.\,]*[0-9]+€)|((€[0-9\.\,]*[0-9]+)))")),
)

# The "and" joining units and cents in num2words' currency text; cut off for whole amounts.
CURRENCY_AND: dict[str, str] = {
    "en": ", ", "es": " con ", "fr": " et ", "de": " und ", "pt": " e ", "it": " e ", "pl": ", ",
    "cs": ", ", "ru": ", ", "nl": ", ", "ar": ", ", "tr": ", ", "hu": ", ", "ko": ", ",
}

COMMA_GROUPED_NUMBER = re.compile(r"\b\d{1,3}(,\d{3})*(\.\d+)?\b")
DOT_GROUPED_NUMBER = re.compile(r"\b\d{1,3}(.\d{3})*(\,\d+)?\b")  # unescaped '.', as upstream
DECIMAL_NUMBER = re.compile(r"([0-9]+[.,][0-9]+)")
INTEGER = re.compile(r"[0-9]+")
WHITESPACE = re.compile(r"\s+")
