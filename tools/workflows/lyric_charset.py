#!/usr/bin/env python3
"""Prints the single-character tokens of the lyric BPE vocabulary as a JS string literal.

    python tools/workflows/lyric_charset.py [VOCAB_JSON]

VOCAB_JSON defaults to ComfyUI's copy (`$COMFY_DIR/comfy/text_encoders/ace_lyrics_tokenizer/vocab.json`,
the same file the original ships). The frontend's lyrics editor (`js/lib/lyric_charset.js`) uses the
set to warn about characters that the tokenizer turns into [UNK]; `tests/js/lyrics.test.mjs` checks
that the copy in the JS matches the vocabulary when ComfyUI is installed.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def vocab_chars(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    special = {t["content"] for t in data.get("added_tokens", [])}
    chars = {tok for tok in data["model"]["vocab"] if len(tok) == 1 and tok not in special}
    return "".join(sorted(chars))


def main() -> int:
    default = Path(os.environ.get("COMFY_DIR", "/tmp/comfyui")) / "comfy/text_encoders/ace_lyrics_tokenizer/vocab.json"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    print(json.dumps(vocab_chars(path), ensure_ascii=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
