"""Lyric tokenizer: golden parity with upstream, the spec's test vectors, and the public API."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from acestep_core.lyrics import LYRIC_LANGUAGES, LyricTokenizer, MissingLanguagePackage


@pytest.fixture(scope="module")
def tok(lyric_vocab) -> LyricTokenizer:
    return LyricTokenizer(lyric_vocab, strict=True)


def _golden_cases(golden_dir) -> dict:
    return json.loads((golden_dir / "components" / "lyric_tokenizer.json").read_text())["cases"]


GOLDEN_NAMES = [
    "en_structure", "zh", "ja", "ko", "es_numbers", "fr_numbers", "de_it_pt", "ru_pl_tr_nl_cs",
    "ar_hu_hi", "empty_lines", "unknown_chars", "structure_variants", "mixed_multilingual",
    "pipeline_default", "single_word",
]


def test_golden_lists_every_case(golden_dir):
    assert sorted(_golden_cases(golden_dir)) == sorted(GOLDEN_NAMES)


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_token_ids(tok, golden_dir, name):
    case = _golden_cases(golden_dir)[name]
    assert tok.encode(case["lyrics"]) == case["token_ids"]


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_detected_language_per_line(tok, golden_dir, name):
    case = _golden_cases(golden_dir)[name]
    report = tok.analyze(case["lyrics"])
    assert [r["line"] for r in report] == [g["line"] for g in case["lines"]]
    assert [r["detected"] for r in report] == [g["detected_lang"] for g in case["lines"]]
    for g in case["lines"]:
        if g["detected_lang"] is not None:
            assert tok.detect_language(g["line"]) == g["detected_lang"]


# spec §4.6: line, detected, used, cleaned text, ids (without [START] and the closing [SPACE])
TABLE_4_6 = [
    ("[verse]", "zh", "en", "[verse]", [259, 6683]),
    ("[Verse 1]", "zh", "en", "[verse one]", [259, 1, 35, 173, 18, 2, 28, 111, 1]),
    ("[pre-chorus]", "sk", "en", "[pre-chorus]", [259, 6691]),
    ("Neon lights they flicker bright", "en", "en", "neon lights they flicker bright",
     [259, 111, 47, 2, 75, 20, 583, 32, 2, 141, 2, 468, 91, 2820, 2, 243, 343, 583]),
    ("I've got 99 problems & $5", "en", "en", "i've got ninety-nine problems and five dollars",
     [259, 22, 4, 76, 2, 20, 474, 2, 5088, 18, 210, 8, 5088, 18, 2, 187, 251, 225, 32, 2, 53, 2, 840,
      76, 2, 134, 84, 59, 32]),
    ("我走过深夜的街道", "zh", "zh", "wo3zou3guo4shen1ye4de5jie1dao4",
     [5023, 4893, 39, 4632, 4819, 120, 18, 4574, 4676, 17, 4650, 4799, 4665]),
    ("第1次 见到你 100%", "zh", "zh", "di4yi1ci4 jian4dao4ni3 bai3fen1zhi1yi4bai3",
     [5023, 4592, 4586, 4826, 2, 23, 1164, 4604, 4665, 27, 4554, 2, 15, 4658, 132, 4574, 4637, 4620,
      15, 4658]),
    ("再见", "ja", "ja", "sai?", [5412, 32, 752, 13]),
    ("雨の日に音楽を聴くのが好きです", "ja", "ja", "ame no hi ni ongaku wo kiku no ga suki desu",
     [5412, 5355, 2, 95, 2, 1173, 2, 832, 2, 222, 5244, 2, 366, 2, 24, 5108, 2, 95, 2, 1166, 2, 5261,
      2, 372, 34]),
    ("비 오는 날에 음악을 듣는 것을 즐깁니다", "ko", "ko",
     "bi oneun nal-e eum-ag-eul deudneun geos-eul jeulgibnida",
     [6152, 799, 2, 28, 660, 27, 2, 5904, 8, 18, 2, 5819, 8, 143, 8, 5803, 2, 126, 5439, 660, 27, 2,
      112, 439, 8, 5803, 2, 1053, 25, 665, 15, 832, 322]),
    ("Мне нравится слушать музыку", "ru", "ru", "мне нравится слушать музыку",
     [267, 3645, 2, 3387, 3416, 3376, 3426, 3438, 2, 3650, 3546, 3439, 2, 3491, 3604, 3496]),
    ("Ich liebe dich 3 mal", "de", "de", "ich liebe dich drei mal",
     [260, 91, 21, 2, 369, 67, 2, 17, 91, 21, 2, 481, 315, 2, 422]),
    ("la la la", "es", "es", "la la la", [284, 494, 2, 494, 2, 494]),
    ("123", "zh", "zh", "yi1bai3er4shi2san1", [5023, 4586, 15, 4658, 4725, 4598, 150, 4574]),
    ("(ooh) 我", "zh", "zh", ",ooh, wo3", [5023, 7, 2751, 21, 7, 2, 4893]),
]


@pytest.mark.parametrize("line,detected,used,cleaned,ids", TABLE_4_6, ids=[r[0] for r in TABLE_4_6])
def test_spec_table_4_6(tok, line, detected, used, cleaned, ids):
    assert tok.detect_language(line) == detected
    (report,) = tok.analyze(line)
    assert (report["detected"], report["used"], report["dropped"]) == (detected, used, False)
    assert tok.clean(line, used) == cleaned
    assert report["ids"] == ids + [2]
    assert tok.encode(line) == [261] + ids + [2]


def test_spec_whole_lyric_example(tok):
    lyrics = "[verse]\nHello world\n\n[chorus]\nLa la"
    expected = [261, 259, 6683, 2, 259, 62, 84, 28, 2, 179, 79, 2, 2, 259, 6684, 2, 284, 494, 2, 494, 2]
    assert tok.encode(lyrics) == expected
    ids, mask = tok.encode_with_mask(lyrics)
    assert (ids, mask) == (expected, [1] * len(expected))


def test_cleaner_drops_double_quotes_and_expands_abbreviations(tok):
    # outputs of upstream's multilingual_cleaners (d612523)
    assert tok.clean('He said "Hi" twice', "en") == "he said hi twice"
    assert tok.clean("Mr. Smith & Dr. Who paid $20 @ 5pm", "en") == (
        "mister smith and doctor who paid twenty dollars at fivepm"
    )


def test_analyze_ids_concatenate_to_encode(tok):
    lyrics = "[Verse 1]\n  Hello darkness  \n\n再见\nสวัสดี\n[chorus]"
    report = tok.analyze(lyrics)
    assert [261] + [i for r in report for i in r["ids"]] == tok.encode(lyrics)
    assert [r["line"] for r in report] == [s.strip() for s in lyrics.split("\n")]
    assert report[2]["ids"] == [2] and report[2]["used"] is None
    assert report[4]["used"] == "en" and report[4]["detected"] == "th"
    assert report[0]["used"] == "en" and "structure" in report[0]["reason"]


def test_empty_lyrics_are_one_masked_stop(tok):
    assert tok.encode_with_mask("") == ([0], [0])
    # upstream tokenize_lyrics itself would still emit [START] and one empty line
    assert tok.encode("") == [261, 2]
    ids, mask = tok.encode_with_mask(" ")
    assert ids == [261, 2] and mask == [1, 1]


def test_thai_becomes_unknown_tokens(tok):
    assert tok.detect_language("ฉันชอบฟังเพลง") == "th"
    assert tok.encode("ฉันชอบฟังเพลง") == [261, 259] + [1] * 13 + [2]


def test_language_override(tok):
    # the detected path (es) and a forced es give the same ids; forcing en changes the tag and words
    assert tok.encode("la la la", language="es") == tok.encode("la la la")
    forced = tok.encode("[verse]\nla la la", language="zh")
    assert forced[:4] == [261, 259, 6683, 2]  # structure lines stay English
    assert forced[4] == 5023
    report = tok.analyze("la la la\n[chorus]", language="de")
    assert [r["used"] for r in report] == ["de", "en"]
    assert report[0]["detected"] == "es" and report[0]["ids"][0] == 260


def test_language_override_rejects_unknown_code(tok):
    with pytest.raises(ValueError) as err:
        tok.encode("hello", language="sk")
    for code in LYRIC_LANGUAGES:
        assert code in str(err.value)
    assert len(LYRIC_LANGUAGES) == 17


def test_strict_missing_package_raises(lyric_vocab, monkeypatch):
    monkeypatch.setitem(sys.modules, "cutlet", None)  # makes `import cutlet` fail
    strict = LyricTokenizer(lyric_vocab, strict=True)
    with pytest.raises(MissingLanguagePackage) as err:
        strict.encode("[verse]\n東京の夜空に星が光る")
    message = str(err.value)
    assert "cutlet" in message and "pip install" in message and "'ja'" in message
    assert err.value.package == "cutlet"


def test_lenient_missing_package_drops_line(lyric_vocab, monkeypatch):
    monkeypatch.setitem(sys.modules, "pypinyin", None)
    lenient = LyricTokenizer(lyric_vocab, strict=False)
    lyrics = "[verse]\n我爱你中国\nhello"
    assert lenient.encode(lyrics) == [261, 259, 6683, 2, 259, 62, 84, 28, 2]
    report = lenient.analyze(lyrics)
    assert report[1]["dropped"] and report[1]["ids"] == [] and "pypinyin" in report[1]["reason"]
    with pytest.raises(MissingLanguagePackage, match="pypinyin"):
        LyricTokenizer(lyric_vocab, strict=True).encode(lyrics)


def test_import_is_lazy():
    code = (
        "import sys, acestep_core.lyrics as L; "
        "print(sorted(m for m in ('cutlet', 'fugashi', 'pypinyin', 'py3langid', 'num2words', "
        "'hangul_romanize') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
