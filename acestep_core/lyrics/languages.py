"""The 17 lyric languages the checkpoint was trained on, and the special token ids (spec §4.1).

Kept apart from the tokenizer because nodes and the CLI validate user choices against this list
without loading a vocabulary.
"""
from __future__ import annotations

# Language-tag token id per supported code, in upstream's SUPPORT_LANGUAGES order.
LANGUAGE_TAG_IDS: dict[str, int] = {
    "en": 259,
    "de": 260,
    "fr": 262,
    "es": 284,
    "it": 285,
    "pt": 286,
    "pl": 294,
    "tr": 295,
    "ru": 267,
    "cs": 293,
    "nl": 297,
    "ar": 5022,
    "zh": 5023,
    "ja": 5412,
    "hu": 5753,
    "ko": 6152,
    "hi": 6680,
}

LYRIC_LANGUAGES: tuple[str, ...] = tuple(LANGUAGE_TAG_IDS)

STOP_ID = 0  # [STOP]; also the lone masked id used for empty lyrics
UNK_ID = 1  # [UNK]: one per character missing from the vocabulary
SPACE_ID = 2  # [SPACE]: closes every line and stands for an empty one
START_ID = 261  # [START]: first id of every tokenised lyric

# Languages that go through the multilingual cleaner (number words, abbreviations, symbols).
MULTILINGUAL_CLEANED = frozenset(
    {"ar", "cs", "de", "en", "es", "fr", "hu", "it", "nl", "pl", "pt", "ru", "tr", "zh", "ko"}
)


def check_language(code: str) -> str:
    """Return ``code`` if it is one of the 17 lyric languages, else raise a ValueError listing them."""
    if code not in LANGUAGE_TAG_IDS:
        raise ValueError(
            f"unsupported lyric language {code!r}; choose one of: {', '.join(LYRIC_LANGUAGES)}"
        )
    return code
