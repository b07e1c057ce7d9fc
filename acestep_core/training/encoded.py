"""Each song encoded once, before training: DCAE latents, UMT5 prompt states and lyric tokens.

The original re-encodes audio and text every step with the encoders kept in memory; the numbers
are the same each time (the encoders are frozen), so we compute them once per song and then drop
the encoders, leaving memory to the transformer. Everything is kept on the CPU in float32.

Tags: the original splits the tag text at ", ", shuffles the tags at every read and cuts the
joined text at 256 characters. With the states computed once, each song is encoded in `tag_orders`
seeded shuffles of its tags, used in turn: each read of the song (every epoch, every repeat) takes
the next order (1 = the tags as written, unshuffled).
"""
from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..audio.geometry import OUTPUT_SAMPLE_RATE
from ..conditioning import MAX_LYRIC_TOKENS
from .data import MAX_PROMPT_CHARS, DataError, Song, read_training_audio

log = logging.getLogger(__name__)
TAG_SEPARATOR = ", "  # convert2hf_dataset.py: prompt.split(", ")


@dataclass
class EncodedPrompt:
    """UMT5 states of one tag order."""

    states: torch.Tensor  # [Lt, D]
    mask: torch.Tensor  # [Lt] int64


@dataclass
class EncodedSong:
    """One song as the transformer sees it (no batch axis)."""

    name: str
    latents: torch.Tensor  # [8, 16, T]
    prompts: list[EncodedPrompt]  # one per tag order
    lyric_ids: torch.Tensor  # [L] int64
    lyric_mask: torch.Tensor  # [L] int64

    def prompt(self, order: int) -> EncodedPrompt:
        """Tag order `order` (counted on past the last: order n is order 0 again)."""
        return self.prompts[order % len(self.prompts)]


def tag_texts(prompt: str, orders: int, seed: int, name: str) -> list[str]:
    """The prompt text of each tag order: shuffled as the original (split, shuffle, join, cut at 256).

    Each order is a pure function of (seed, song name, order), so a resumed run encodes the same texts.
    """
    if orders == 1:
        return [prompt[:MAX_PROMPT_CHARS]]
    tags = prompt.split(TAG_SEPARATOR)
    texts = []
    for k in range(orders):
        order = list(tags)
        random.Random(f"{seed}:{name}:{k}").shuffle(order)
        texts.append(TAG_SEPARATOR.join(order)[:MAX_PROMPT_CHARS])
    return texts


def lyric_ids(pipe, lyrics: str, name: str) -> list[int]:
    """Token ids as inference makes them (`pipe.encode_lyrics`), cut at 4096 as the original trainer cuts."""
    ids = pipe.lyric_tokenizer.encode(lyrics)
    if len(ids) > MAX_LYRIC_TOKENS:
        log.warning("%s: lyrics are %d tokens; the first %d are used (as the original trainer does)",
                    name, len(ids), MAX_LYRIC_TOKENS)
        ids = ids[:MAX_LYRIC_TOKENS]
    return ids


def encode_prompts(pipe, texts: list[str]) -> list[EncodedPrompt]:
    """UMT5 states of each text; a text met twice (few tags) is encoded once."""
    done: dict[str, EncodedPrompt] = {}
    for text in texts:
        if text not in done:
            enc = pipe.encode_prompt(text, erg=False).text
            done[text] = EncodedPrompt(enc.hidden_states[0].float().cpu(), enc.attention_mask[0].long().cpu())
    return [done[t] for t in texts]


def encode_song(pipe, song: Song, tag_orders: int = 1, seed: int = 0) -> EncodedSong:
    """Latents, prompt states and lyric tokens of one song, through the pipeline's own stages."""
    ids = lyric_ids(pipe, song.lyrics, song.audio.name)
    if len(ids) <= 1:
        raise DataError(f"{song.audio.name}: its lyrics gave no tokens (no supported language found); check "
                        f"{song.name}_lyrics.txt, or write \"[instrumental]\".")
    wave = read_training_audio(song.audio)
    latents = pipe.encode_audio((wave, OUTPUT_SAMPLE_RATE))[0].float().cpu()
    prompts = encode_prompts(pipe, tag_texts(song.prompt, tag_orders, seed, song.name))
    return EncodedSong(song.name, latents, prompts, torch.tensor(ids, dtype=torch.long),
                       torch.ones(len(ids), dtype=torch.long))


def encode_songs(pipe, songs: list[Song], on_song: Callable[[int, int], None] | None = None,
                 on_problem: Callable[[DataError], None] | None = None, *, tag_orders: int = 1,
                 seed: int = 0) -> list[EncodedSong]:
    """Encode every song with `pipe` (its text encoder and codec; the caller frees them afterwards).

    A song that fails here (lyrics without any token) is passed to `on_problem` and left out, or,
    without `on_problem`, stops the run before training starts.
    """
    out = []
    with torch.no_grad():
        for i, song in enumerate(songs):
            try:
                out.append(encode_song(pipe, song, tag_orders, seed))
            except DataError as e:
                if on_problem is None:
                    raise
                on_problem(e)
            if on_song is not None:
                on_song(i + 1, len(songs))
    return out
