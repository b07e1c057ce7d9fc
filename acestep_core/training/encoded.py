"""Each song encoded once, before training: DCAE latents, UMT5 prompt states and lyric tokens.

The original re-encodes audio and text every step with the encoders kept in memory; the numbers
are the same each time (the encoders are frozen), so we compute them once per song and then drop
the encoders, leaving memory to the transformer. Everything is kept on the CPU in float32.
Difference: the original shuffles the comma-separated tags each time it reads a song; with the
states computed once, the tags are used in the order the file gives them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..audio.geometry import OUTPUT_SAMPLE_RATE
from ..conditioning import MAX_LYRIC_TOKENS
from .data import DataError, Song, read_training_audio

log = logging.getLogger(__name__)


@dataclass
class EncodedSong:
    """One song as the transformer sees it (no batch axis)."""

    name: str
    latents: torch.Tensor  # [8, 16, T]
    text_states: torch.Tensor  # [Lt, D]
    text_mask: torch.Tensor  # [Lt] int64
    lyric_ids: torch.Tensor  # [L] int64
    lyric_mask: torch.Tensor  # [L] int64


def lyric_ids(pipe, lyrics: str, name: str) -> list[int]:
    """Token ids as inference makes them (`pipe.encode_lyrics`), cut at 4096 as the original trainer cuts."""
    ids = pipe.lyric_tokenizer.encode(lyrics)
    if len(ids) > MAX_LYRIC_TOKENS:
        log.warning("%s: lyrics are %d tokens; the first %d are used (as the original trainer does)",
                    name, len(ids), MAX_LYRIC_TOKENS)
        ids = ids[:MAX_LYRIC_TOKENS]
    return ids


def encode_song(pipe, song: Song) -> EncodedSong:
    """Latents, prompt states and lyric tokens of one song, through the pipeline's own stages."""
    wave = read_training_audio(song.audio)
    latents = pipe.encode_audio((wave, OUTPUT_SAMPLE_RATE))[0].float().cpu()
    text = pipe.encode_prompt(song.prompt, erg=False).text
    ids = lyric_ids(pipe, song.lyrics, song.audio.name)
    if len(ids) <= 1:
        raise DataError(f"{song.audio.name}: its lyrics gave no tokens (no supported language found); check "
                        f"{song.name}_lyrics.txt, or write \"[instrumental]\".")
    return EncodedSong(song.name, latents, text.hidden_states[0].float().cpu(), text.attention_mask[0].long().cpu(),
                       torch.tensor(ids, dtype=torch.long), torch.ones(len(ids), dtype=torch.long))


def encode_songs(pipe, songs: list[Song], on_song: Callable[[int, int], None] | None = None,
                 on_problem: Callable[[DataError], None] | None = None) -> list[EncodedSong]:
    """Encode every song with `pipe`, then free its text encoder and codec (they are not needed again).

    A song that fails here (lyrics without any token) is passed to `on_problem` and left out, or,
    without `on_problem`, stops the run before training starts.
    """
    out = []
    with torch.no_grad():
        for i, song in enumerate(songs):
            try:
                out.append(encode_song(pipe, song))
            except DataError as e:
                if on_problem is None:
                    raise
                on_problem(e)
            if on_song is not None:
                on_song(i + 1, len(songs))
    pipe.unload("text", "dcae")
    return out
