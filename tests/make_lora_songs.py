"""Three short synthetic songs in the layout LoRA training reads (NAME.wav + NAME_prompt.txt +
NAME_lyrics.txt), for running workflows/train_lora.json in the ComfyUI checks.

    python tests/make_lora_songs.py OUT_FOLDER
"""
import pathlib
import sys

import numpy as np
import soundfile as sf

SONGS = (
    ("song_a", 220.0, 2, "pop, piano, female vocals, 120 bpm", "[verse]\nHello little city\n[chorus]\nLa la la"),
    ("song_b", 330.0, 3, "rock, electric guitar, male vocals, 140 bpm", "[verse]\nRunning down the road\n[chorus]\nOh oh oh"),
    ("song_c", 262.0, 4, "lo-fi, mellow piano, 80 bpm", "[instrumental]"),
)


def main(out: pathlib.Path, seconds: float = 3.0, rate: int = 44100) -> None:
    out.mkdir(parents=True)
    t = np.arange(int(seconds * rate)) / rate
    for name, freq, beats, tags, lyrics in SONGS:
        pulse = 0.5 + 0.5 * np.sin(2 * np.pi * beats * t) ** 2  # a tone and its fifth, pulsing `beats` times a second
        wave = 0.25 * pulse * (np.sin(2 * np.pi * freq * t) + 0.5 * np.sin(3 * np.pi * freq * t))
        sf.write(out / f"{name}.wav", np.stack([wave, np.roll(wave, 64)], 1).astype("float32"), rate)
        (out / f"{name}_prompt.txt").write_text(tags + "\n", encoding="utf-8")
        (out / f"{name}_lyrics.txt").write_text(lyrics + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
