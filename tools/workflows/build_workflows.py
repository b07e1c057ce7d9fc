#!/usr/bin/env python3
"""Writes the shipped example workflows (workflows/*.json) from the definitions below.

    python tools/workflows/build_workflows.py --object-info OBJECT_INFO.json [--out DIR] [--only NAME ...]

OBJECT_INFO.json is ComfyUI's `/object_info` with this pack loaded (every comfy_check.py run
writes one: `bash tests/workflows_check.sh --no-browser`, then `<report folder>/object_info.json`).
The drafts are then passed through the real frontend by `export_via_frontend.py`, which writes
the files as the frontend serializes them.

Values follow the original ACE-Step's `__call__` defaults (60 steps, guidance 15, euler, APG,
omega 10, guidance interval 0.5, ERG on, 48 kHz output), and its UI's per-task defaults where a
task only exists in the UI (retake/repaint variance 0.2, extend variance 1.0, flow-edit
"only_lyrics" n_min 0.6 / n_max 1.0, audio2audio strength 0.5).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wfbuild import Workflow, dump  # noqa: E402

MODEL = "ACE-Step-v1-3.5B"
LORA = "ACE-Step-v1-chinese-rap-LoRA"
EXAMPLE = "example.flac"
PACK_ID, PACK_VERSION, CORE_VERSION, FRONTEND_VERSION = "acestep-v1", "0.1.0", "0.3.64", "1.27.10"

# Region values that fit the 3 s clip CI links in as example.flac; with a real song, drag the
# region on the node (the original UI starts at repaint 0-30 s and extend right 30 s).
REPAINT_START, REPAINT_END = 0.5, 2.0
EXTEND_LEFT, EXTEND_RIGHT = 1.0, 2.5

POP_TAGS = "pop, synth-pop, female vocals, 118 bpm, bright, catchy melody, electronic drums, warm bass"
POP_LYRICS = """[verse]
Streetlights hum a silver tune
Counting windows, chasing the moon
Every corner knows my name
Running circles in the rain

[chorus]
Hold on, hold on, the night is young
Sing it loud until the morning comes
Hearts like neon, burning bright
We own the city for tonight

[verse]
Paper planes across the square
Secrets floating in the air
Every heartbeat, every sound
Lifts my feet above the ground

[bridge]
Close your eyes and count to three
Every star is wild and free

[chorus]
Hold on, hold on, the night is young
Sing it loud until the morning comes
Hearts like neon, burning bright
We own the city for tonight

[outro]
We own the city for tonight"""

RAP_TAGS = "hip-hop, chinese rap, male vocals, 92 bpm, boom bap, punchy drums, deep bass, confident"
RAP_LYRICS = """[intro]
Yeah, 来吧

[verse]
夜色里我踩着节拍往前走
城市的霓虹照亮我的路口
每一个字都是我心里的火
一句一句押着韵不停地说

[chorus]
我们的声音 穿过这条街
我们的节奏 永远不停歇
抬起你的头 跟着我一起
今晚的舞台 属于你和我

[verse]
从地下室的录音到大屏幕
每一步都走得扎实又清楚
别问我累不累 梦想在前方
握紧麦克风 把心声都释放

[chorus]
我们的声音 穿过这条街
我们的节奏 永远不停歇"""

EDIT_TARGET_LYRICS = """[verse]
Moonlight hums a golden tune
Counting rooftops, dancing soon
Every window lights my way
Singing softly, come what may

[chorus]
Hold on, hold on, the night is young
Sing it loud until the morning comes"""

INSTRUMENTAL_TAGS = "lo-fi, chill hop, mellow piano, vinyl crackle, soft drums, 80 bpm, relaxed"


# ------------------------------------------------------------------------------------------ notes
COMMON_MODEL = f"""
**Model.** `{MODEL}` is the original checkpoint folder in `models/acestep/` (the loader downloads
ACE-Step/ACE-Step-v1-3.5B there on first use, ~7.7 GB). *dtype* `auto` = bfloat16 on a GPU that supports
it (the original's default), float32 on CPU.
"""

COMMON_TEXT = """
**Tags** describe the music (genre, instruments, mood, tempo, voice). **Lyrics**: one sung line per
line; structure tags such as `[verse]`, `[chorus]`, `[bridge]` on their own line; empty = instrumental.
The lyrics box highlights tags, counts lines and warns about text the tokenizer cannot represent
(emoji, unsupported scripts, lines of bare punctuation). Each line's language is detected on its own, as
in the original; the detected languages appear in the editor (and in *Preview Any*) after a run.
"""

COMMON_SAMPLER = """
**Sampler** (the original's defaults): *steps* 60, *guidance_scale* 15. *Sampler Options*: scheduler
euler, cfg_type apg, omega_scale 10, guidance_interval 0.5, decay 0 (min 3), text/lyric guidance 0
(off), ERG tag/lyric/diffusion on, oss_steps empty. Leaving the options node out gives the same defaults.
Two opt-in speed switches stay off for the original's exact numbers: *batch_guidance* (one batched
transformer call per guided step) and *guidance_cache_interval* (2 = step caching, fewer passes).
**Latent to Audio**: 48000 Hz is what the original writes; 44100 is the vocoder's native rate.
"""


def note_text(title: str, body: str, *sections: str) -> str:
    return f"## {title}\n\n{body.strip()}\n\n" + "\n".join(s.strip() + "\n" for s in sections)


# ------------------------------------------------------------------------------------------ blocks
class Blocks:
    """Recurring parts of the workflows, placed on a simple column grid."""

    def __init__(self, wf: Workflow):
        self.wf = wf

    def model(self, x, y, *, lora: float | None = None):
        wf = self.wf
        m = wf.add("AceStepV1ModelLoader", (x, y), (380, 130), model_name=MODEL, dtype="auto", offload="comfyui")
        if lora is None:
            return m, y + 170
        lo = wf.add("AceStepV1LoraLoader", (x, y + 170), (380, 110), lora_name=LORA, strength=lora)
        wf.link(m, "model", lo, "model")
        return lo, y + 320

    def text(self, model, x, y, tags: str, lyrics: str, *, lyrics_h=560, title_prefix: str = ""):
        wf = self.wf
        t = wf.add("AceStepV1TextEncode", (x, y), (400, 180), tags=tags,
                   title=f"{title_prefix}ACE-Step v1 Tags Encode" if title_prefix else None)
        ly = wf.add("AceStepV1LyricsEncode", (x, y + 220), (400, lyrics_h), lyrics=lyrics, language="auto",
                    title=f"{title_prefix}ACE-Step v1 Lyrics Encode" if title_prefix else None)
        wf.link(model, "model", t, "model")
        wf.link(model, "model", ly, "model")
        return t, ly, y + 220 + lyrics_h + 40

    def languages(self, lyrics, x, y, h=260):
        p = self.wf.add("PreviewAny", (x, y), (380, h), title="Detected languages (per line)")
        self.wf.link(lyrics, "languages", p, "source")
        return p

    def options(self, x, y):
        return self.wf.add("AceStepV1SamplerOptions", (x, y), (340, 380))

    def sampler(self, x, y, model, tags, lyrics, noise, latent, options=None, *, title=None, **widgets):
        wf = self.wf
        s = wf.add("AceStepV1Sampler", (x, y), (340, 240), title=title, steps=60, guidance_scale=15.0, **widgets)
        wf.link(model, "model", s, "model")
        wf.link(tags, "tags", s, "tags")
        wf.link(lyrics, "lyrics", s, "lyrics")
        wf.link(noise, 0, s, "noise")
        wf.link(latent, 0, s, "latent")
        if options is not None:
            wf.link(options, "options", s, "options")
        return s

    def decode(self, model, latent, x, y, *, title=None):
        d = self.wf.add("AceStepV1LatentToAudio", (x, y), (340, 110), title=title, sample_rate="48000", mode="plain")
        self.wf.link(model, "model", d, "model")
        self.wf.link(latent, 0, d, "latent")
        return d

    def save(self, audio, x, y, prefix: str, *, preview=False, title=None):
        if preview:
            s = self.wf.add("PreviewAudio", (x, y), (380, 130), title=title)
        else:
            s = self.wf.add("SaveAudio", (x, y), (380, 150), title=title, filename_prefix=prefix)
        self.wf.link(audio, 0, s, "audio")
        return s

    def load_audio(self, x, y):
        return self.wf.add("LoadAudio", (x, y), (380, 170), audio=EXAMPLE)

    def encode(self, model, audio, x, y):
        e = self.wf.add("AceStepV1AudioToLatent", (x, y), (340, 70))
        self.wf.link(model, "model", e, "model")
        self.wf.link(audio, 0, e, "audio")
        return e


def new(oi) -> tuple[Workflow, Blocks]:
    wf = Workflow(oi, PACK_ID, PACK_VERSION, CORE_VERSION)
    return wf, Blocks(wf)


# Column x positions: note | model + text | latent, noise, options | sampler, decode | save
C0, C1, C2, C3, C4 = 0, 460, 900, 1280, 1660


# ------------------------------------------------------------------------------------------ workflows
def text2music(oi, *, lora: bool = False):
    wf, b = new(oi)
    model, y = b.model(C1, 0, lora=1.0 if lora else None)
    tags, lyrics, _ = b.text(model, C1, y, RAP_TAGS if lora else POP_TAGS, RAP_LYRICS if lora else POP_LYRICS)
    latent = wf.add("AceStepV1EmptyLatent", (C2, 0), (340, 100), seconds=60.0, batch_size=1)
    noise = wf.add("AceStepV1SeededNoise", (C2, 140), (340, 110), control="randomize", seed=42)
    opts = b.options(C2, 290)
    b.languages(lyrics, C2, 720)
    s = b.sampler(C3, 0, model, tags, lyrics, noise, latent, opts)
    d = b.decode(model, s, C3, 280)
    b.save(d, C4, 0, "audio/ACE-Step/" + ("text2music_rap_lora" if lora else "text2music"))
    if lora:
        body = f"""
Text to music with the **{LORA}** LoRA (the RapMachine adapter the original's UI offers: Chinese rap
and hip-hop, clearer Chinese pronunciation). Put the published PEFT folder (`config.json` +
`pytorch_lora_weights.safetensors`) into `models/loras/{LORA}/`.

**LoRA strength** is the original's *lora_weight* (default 1.0, its UI allows -3..3): the update is
exactly strength · B·A. Chain more LoRA Loaders to stack adapters; the base model is never changed.
"""
    else:
        body = """
Tags + lyrics → a 60 s song, the original's *text2music* task. Press **Run**; the song appears in
*Save Audio* (and in `output/audio/ACE-Step/`).

**Empty Latent**: *seconds* is the original's *audio_duration* (default 60, at most 240); *batch_size*
makes several songs at once. **Seeded Noise**: the seed of the starting noise (the original's
*manual_seeds*); same seed + same settings = the same song as the original ACE-Step.
"""
    wf.note((C0, 0), (420, 960), "About this workflow",
            note_text("ACE-Step v1: text to music" + (" with LoRA" if lora else ""), body,
                      COMMON_MODEL, COMMON_TEXT, COMMON_SAMPLER))
    return wf


def batch_variations(oi):
    wf, b = new(oi)
    model, y = b.model(C1, 0)
    tags, lyrics, _ = b.text(model, C1, y, INSTRUMENTAL_TAGS, "[inst]", lyrics_h=300)
    latent = wf.add("AceStepV1EmptyLatent", (C2, 0), (340, 100), seconds=60.0, batch_size=4)
    noise = wf.add("AceStepV1SeededNoise", (C2, 140), (340, 110), control="fixed", seed=0, seeds="11, 22, 33, 44")
    opts = b.options(C2, 290)
    s = b.sampler(C3, 0, model, tags, lyrics, noise, latent, opts)
    d = b.decode(model, s, C3, 280)
    b.save(d, C4, 0, "audio/ACE-Step/batch_variations")
    wf.note((C0, 0), (420, 900), "About this workflow", note_text(
        "ACE-Step v1: a batch of variations (several seeds)", """
Four songs from the same tags in one run, one per seed: *Save Audio* writes four files.

**Seeded Noise → seeds** takes the original's *manual_seeds* list: `11, 22, 33, 44` gives batch item
*i* the *i*-th seed (the last one repeats if the batch is larger). When *seeds* is set, the *seed*
widget is not used. A single seed for a whole batch gives every item the **same** noise, exactly as in
the original. **Empty Latent → batch_size** sets how many songs are made; keep it equal to the number of
seeds.

`[inst]` (or `[instrumental]`, or no lyrics at all) makes instrumental music.
""", COMMON_MODEL, COMMON_SAMPLER))
    return wf


def _pop_song(oi):
    """The start retake and long_song share: the model, the pop tags and lyrics, a 60 s latent and noise
    of the fixed seed 42 (nodes added in this order, so the drafts are unchanged)."""
    wf, b = new(oi)
    model, y = b.model(C1, 0)
    tags, lyrics, _ = b.text(model, C1, y, POP_TAGS, POP_LYRICS)
    latent = wf.add("AceStepV1EmptyLatent", (C2, 0), (340, 100), seconds=60.0, batch_size=1)
    noise = wf.add("AceStepV1SeededNoise", (C2, 140), (340, 110), control="fixed", seed=42)
    return wf, b, model, tags, lyrics, latent, noise


def retake(oi):
    wf, b, model, tags, lyrics, latent, noise = _pop_song(oi)
    var = wf.add("AceStepV1VariationNoise", (C2, 290), (340, 150), control="randomize", retake_seed=7,
                 variance=0.2)
    wf.link(noise, 0, var, "noise")
    opts = b.options(C2, 480)
    orig = b.sampler(C3, 0, model, tags, lyrics, noise, latent, opts, title="Sampler: the original song")
    d1 = b.decode(model, orig, C3, 280, title="Decode the original")
    re_ = b.sampler(C3, 440, model, tags, lyrics, var, latent, opts, title="Sampler: the retake")
    d2 = b.decode(model, re_, C3, 720, title="Decode the retake")
    b.save(d1, C4, 0, "audio/ACE-Step/retake_original", title="The original song")
    b.save(d2, C4, 440, "audio/ACE-Step/retake", title="The retake")
    wf.note((C0, 0), (420, 960), "About this workflow", note_text(
        "ACE-Step v1: retake (a variation of a song)", """
The original's *retake*: the same song (same tags, lyrics, seed 42) regenerated from slightly
different noise. The top row renders the song itself, the bottom row the retake; compare the two.

**Variation Noise**: *retake_seed* (the original's *retake_seeds*) draws the second noise; *variance*
mixes it in: noise = cos(v·π/2)·song noise + sin(v·π/2)·retake noise. 0 gives the song back, 1 a new
song; the original's UI uses **0.2** for retake. It is set to *randomize*, so every Run gives another
retake of the same song; the song's own seed stays *fixed*.
""", COMMON_MODEL, COMMON_TEXT, COMMON_SAMPLER))
    return wf


def _region_song(oi, region_node, region_values, variance, save_prefix):
    """Load Audio → encode → a region node → sampler with variation noise → decode → save (repaint, extend)."""
    wf, b = new(oi)
    model, y = b.model(C1, 0)
    tags, lyrics, _ = b.text(model, C1, y, POP_TAGS, POP_LYRICS, lyrics_h=520)
    audio = b.load_audio(C2, 0)
    enc = b.encode(model, audio, C2, 220)
    region = wf.add(region_node, (C2, 330), (380, 210), **region_values)
    wf.link(enc, 0, region, "latent")
    noise = wf.add("AceStepV1SeededNoise", (C2, 580), (380, 110), control="fixed", seed=42)
    var = wf.add("AceStepV1VariationNoise", (C2, 730), (380, 150), control="randomize", retake_seed=7,
                 variance=variance)
    wf.link(noise, 0, var, "noise")
    s = b.sampler(C3 + 40, 0, model, tags, lyrics, var, region)
    d = b.decode(model, s, C3 + 40, 280)
    b.save(d, C4 + 40, 0, save_prefix)
    return wf


def repaint(oi):
    wf = _region_song(oi, "AceStepV1RepaintRegion", {"start_seconds": REPAINT_START, "end_seconds": REPAINT_END},
                      0.2, "audio/ACE-Step/repaint")
    wf.note((C0, 0), (420, 960), "About this workflow", note_text(
        "ACE-Step v1: repaint a time range", f"""
Regenerates part of an existing song and keeps the rest (the original's *repaint*). **Load Audio**
reads `{EXAMPLE}` from ComfyUI's `input/` folder: upload your own song there.

**Repaint Region**: the range *start_seconds* … *end_seconds* is regenerated. The node shows the song's
waveform: **drag across it** to choose the range (snapped to the model's 93 ms latent frames), drag the
edges to adjust, or type the numbers. The shipped {REPAINT_START}–{REPAINT_END} s fits the short example
clip; the original's UI starts at 0–30 s.

**Variation Noise → variance** is the repaint strength (the original's UI default **0.2**): 0 keeps the
range, 1 repaints it completely. *retake_seed* picks the new material. Tags and lyrics should describe
the song (the original repaints with the current tags and lyrics).
""", COMMON_MODEL, COMMON_SAMPLER))
    return wf


def extend(oi):
    wf = _region_song(oi, "AceStepV1ExtendRegion", {"left_seconds": EXTEND_LEFT, "right_seconds": EXTEND_RIGHT},
                      1.0, "audio/ACE-Step/extend")
    wf.note((C0, 0), (420, 960), "About this workflow", note_text(
        "ACE-Step v1: extend a song to the left and right", f"""
Adds new music before and/or after an existing song and keeps the song itself (the original's
*extend*). **Load Audio** reads `{EXAMPLE}` from ComfyUI's `input/` folder: upload your own song there.

**Extend Region**: *left_seconds* are added before the song, *right_seconds* after it. The node shows
the song's waveform in the middle: **drag the left or right edge** (or click beside the song) to set
how much is added, snapped to the model's 93 ms latent frames. Each side can add at most the song's own
length, 240 s in total; extend longer songs in several steps (see *long song by chained extends*). The
shipped {EXTEND_LEFT} s / {EXTEND_RIGHT} s fits the short example clip; the original's UI starts at
0 / 30 s.

**Variation Noise**: the original's extend always uses *variance* **1.0**; *retake_seed* picks the new
material.
""", COMMON_MODEL, COMMON_SAMPLER))
    return wf


def flow_edit(oi):
    wf, b = new(oi)
    model, y = b.model(C1, 0)
    tags, lyrics, y2 = b.text(model, C1, y, POP_TAGS, POP_LYRICS, lyrics_h=420, title_prefix="Source: ")
    target = wf.add("AceStepV1LyricsEncode", (C2, 0), (400, 420), lyrics=EDIT_TARGET_LYRICS, language="auto",
                    title="Target: ACE-Step v1 Lyrics Encode")
    wf.link(model, "model", target, "model")
    et = wf.add("AceStepV1EditTarget", (C2, 460), (400, 80))
    wf.link(target, "lyrics", et, "target_lyrics")
    audio = b.load_audio(C2, 580)
    enc = b.encode(model, audio, C2, 800)
    noise = wf.add("AceStepV1SeededNoise", (C2, 910), (400, 110), control="randomize", seed=42)
    s = wf.add("AceStepV1FlowEditSampler", (C3 + 60, 0), (340, 300), steps=60, guidance_scale=15.0, n_min=0.6,
               n_max=1.0, n_avg=1)
    for src, out, name in ((model, "model", "model"), (tags, "tags", "tags"), (lyrics, "lyrics", "lyrics"),
                           (et, "target", "target"), (noise, 0, "noise"), (enc, 0, "latent")):
        wf.link(src, out, s, name)
    d = b.decode(model, s, C3 + 60, 340)
    b.save(d, C4 + 60, 0, "audio/ACE-Step/flow_edit")
    wf.note((C0, 0), (420, 1000), "About this workflow", note_text(
        "ACE-Step v1: change the lyrics of an existing song (flow-edit)", f"""
The original's *edit* task: the song keeps its music while the words change. **Load Audio** reads
`{EXAMPLE}` (put your song into ComfyUI's `input/` folder).

**Source** tags and lyrics describe the song as it is; the **Target** lyrics are what it should sing.
*Flow-Edit Target* takes target tags and/or target lyrics; an unconnected input keeps the source's
(connect a second Tags Encode to *target_tags* to change the style instead).

**Flow-Edit Sampler**: only steps within [*n_min*, *n_max*) edit. The original's UI presets:
**only_lyrics** 0.6 / 1.0 (used here: keeps the music, changes the words) and **remix** 0.2 / 0.4
(changes the style more). *n_avg* averages several noise draws per step (1 in the original). One song at
a time; the *seed* plays the role of the original's retake seed.
""", COMMON_MODEL, COMMON_TEXT))
    return wf


def audio2audio(oi):
    wf, b = new(oi)
    model, y = b.model(C1, 0)
    tags, lyrics, _ = b.text(model, C1, y, POP_TAGS, POP_LYRICS, lyrics_h=520)
    audio = b.load_audio(C2, 0)
    enc = b.encode(model, audio, C2, 220)
    noise = wf.add("AceStepV1SeededNoise", (C2, 330), (380, 110), control="randomize", seed=42)
    opts = b.options(C2, 480)
    s = b.sampler(C3 + 40, 0, model, tags, lyrics, noise, enc, opts, audio2audio_strength=0.5)
    d = b.decode(model, s, C3 + 40, 280)
    b.save(d, C4 + 40, 0, "audio/ACE-Step/audio2audio")
    wf.note((C0, 0), (420, 960), "About this workflow", note_text(
        "ACE-Step v1: audio to audio", f"""
A new song that follows a reference recording (the original's *audio2audio*). **Load Audio** reads
`{EXAMPLE}` from ComfyUI's `input/` folder; any sample rate, mono or stereo. The result has the
reference's length.

**Sampler → audio2audio_strength** is the original's *ref_audio_strength* (UI default **0.5**): how
close the result stays to the reference. Only int((1 − strength) · steps) steps run. 0 switches
audio2audio off (text to music with the reference's length).
""", COMMON_MODEL, COMMON_TEXT, COMMON_SAMPLER))
    return wf


def long_song(oi):
    wf, b, model, tags, lyrics, latent, noise = _pop_song(oi)
    var1 = wf.add("AceStepV1VariationNoise", (C2, 290), (340, 150), title="Variation Noise (extend 1)",
                  control="fixed", retake_seed=1, variance=1.0)
    var2 = wf.add("AceStepV1VariationNoise", (C2, 480), (340, 150), title="Variation Noise (extend 2)",
                  control="fixed", retake_seed=2, variance=1.0)
    wf.link(noise, 0, var1, "noise")
    wf.link(noise, 0, var2, "noise")
    opts = b.options(C2, 670)
    # stage 1: 60 s
    s1 = b.sampler(C3, 0, model, tags, lyrics, noise, latent, opts, title="1. Sampler: the first 60 s")
    d1 = b.decode(model, s1, C3, 280)
    b.save(d1, C3, 430, "audio/ACE-Step/long_song_stage1", title="1. Save: 60 s")
    # stage 2: + 30 s on the right
    e2 = wf.add("AceStepV1ExtendRegion", (C4, 0), (380, 210), title="2. Extend right (+30 s)",
                left_seconds=0.0, right_seconds=30.0)
    wf.link(s1, 0, e2, "latent")
    s2 = b.sampler(C4, 280, model, tags, lyrics, var1, e2, opts, title="2. Sampler: extend")
    d2 = b.decode(model, s2, C4, 560)
    b.save(d2, C4, 710, "audio/ACE-Step/long_song_stage2", title="2. Save: 90 s")
    # stage 3: + 30 s on the right again
    C5 = C4 + 420
    e3 = wf.add("AceStepV1ExtendRegion", (C5, 0), (380, 210), title="3. Extend right (+30 s)",
                left_seconds=0.0, right_seconds=30.0)
    wf.link(s2, 0, e3, "latent")
    s3 = b.sampler(C5, 280, model, tags, lyrics, var2, e3, opts, title="3. Sampler: extend")
    d3 = b.decode(model, s3, C5, 560)
    b.save(d3, C5, 710, "audio/ACE-Step/long_song", title="3. Save: 120 s")
    wf.note((C0, 0), (420, 1000), "About this workflow", note_text(
        "ACE-Step v1: a long song by chained extends", """
A 60 s song grows to 120 s: two *extend* steps, each adding 30 s after what came before. Every stage
is saved (`long_song_stage1`, `long_song_stage2`, then the whole `long_song`).

Each **Extend Region** shows the previous stage: its length as a bar before the first run, its waveform
after it. Drag the right edge to add more (each step can add at most the length it extends; 240 s in
total), or drag the left edge to add an intro.

All seeds are *fixed*, so after a run ComfyUI only re-runs the stages after a change: to try another
ending, change the *retake_seed* of *extend 2* and press Run again. Extends use *variance* 1.0 as in
the original. The tags and lyrics are shared by all stages (the original extends with the current ones):
write lyrics for the whole song.
""", COMMON_MODEL))
    return wf


def round_trip(oi):
    wf, b = new(oi)
    model, _ = b.model(C1, 0)
    audio = b.load_audio(C1, 180)
    enc = b.encode(model, audio, C2, 0)
    d = b.decode(model, enc, C2, 110)
    b.save(d, C3 + 40, 0, "audio/ACE-Step/round_trip")
    wf.note((C0, 0), (420, 560), "About this workflow", note_text(
        "ACE-Step v1: audio → latent → audio", f"""
Encodes a recording with the model's autoencoder (DCAE) and decodes it again, without any sampling:
what comes out is what the model can represent of your audio. **Load Audio** reads `{EXAMPLE}` from
ComfyUI's `input/` folder.

**Audio to Latent** accepts any sample rate, mono or stereo (mono is doubled, other rates are
resampled to 44.1 kHz, as the original does). The latent is the same format as ComfyUI's native ACE-Step
latent. **Latent to Audio**: *sample_rate* 48000 is the original's output, 44100 the vocoder's own rate;
*mode* plain decodes the whole song at once, chunked saves memory on long songs, overlapped is the
original's `--overlapped_decode`.
""", COMMON_MODEL))
    return wf


def native_mix(oi):
    wf, b = new(oi)
    model, y = b.model(C1, 0)
    tags, lyrics, _ = b.text(model, C1, y, POP_TAGS, POP_LYRICS, lyrics_h=520)
    empty = wf.add("EmptyAceStepLatentAudio", (C2, 0), (340, 100), seconds=60.0, batch_size=2)
    noise_a = wf.add("AceStepV1SeededNoise", (C2, 140), (340, 110), control="fixed", seed=0, seeds="1, 2")
    audio = b.load_audio(C2, 290)
    enc = b.encode(model, audio, C2, 510)
    rep = wf.add("RepeatLatentBatch", (C2, 620), (340, 80), amount=2)
    wf.link(enc, 0, rep, "samples")
    noise_b = wf.add("AceStepV1SeededNoise", (C2, 740), (340, 110), control="fixed", seed=0, seeds="3, 4")
    s1 = b.sampler(C3 + 20, 0, model, tags, lyrics, noise_a, empty, title="Sampler: from the native empty latent")
    d1 = b.decode(model, s1, C3 + 20, 280)
    s2 = b.sampler(C3 + 20, 440, model, tags, lyrics, noise_b, rep, title="Sampler: audio2audio on a latent batch",
                   audio2audio_strength=0.5)
    d2 = b.decode(model, s2, C3 + 20, 720)
    b.save(d1, C4 + 20, 0, "audio/ACE-Step/native_mix_text2music", title="Save: text to music (2 songs)")
    b.save(d2, C4 + 20, 440, "audio/ACE-Step/native_mix_audio2audio", title="Save: audio to audio (2 songs)")
    wf.note((C0, 0), (420, 960), "About this workflow", note_text(
        "ACE-Step v1 with ComfyUI's native nodes", f"""
This pack's latents are ComfyUI's native ACE-Step v1 latents, so native nodes mix freely with ours.

**Top:** ComfyUI's native *EmptyAceStepLatentAudio* (60 s, batch 2) feeds our sampler; the seeds `1, 2`
give each batch item its own song.

**Bottom:** native *Load Audio* (`{EXAMPLE}` from ComfyUI's `input/` folder) is encoded by our
*Audio to Latent*, native *Repeat Latent Batch* makes a batch of two, and our sampler turns both into
audio2audio variations (strength 0.5, seeds `3, 4`).

Our *Latent to Audio* decodes with the original's DCAE and vocoder; native *Save Audio* writes the files.
""", COMMON_MODEL, COMMON_TEXT))
    return wf


# The LoRA that train_lora trains: a folder of songs in ComfyUI's input/, the RapMachine LoRA settings.
TRAIN_FOLDER = "acestep_lora_songs"
TRAIN_LORA_NAME = "my_first_lora"
# Optimizer steps of the shipped workflow: enough to see the loss move and to try the LoRA on a GPU within a
# minute, and short enough that CI runs the whole workflow on the tiny checkpoint on a 2-core CPU in ~3 min.
TRAIN_STEPS = 20
TRAIN_SAVE_EVERY = 100


def train_lora(oi):
    """ModelLoader → LoRA Dataset → Train LoRA → its model into text2music; the loss plotted beside it."""
    wf, b = new(oi)
    x1, x2, x3, x4, x5 = C1, C1 + 440, C1 + 880, C1 + 1260, C1 + 1640
    loader, y = b.model(x1, 0)
    data = wf.add("AceStepV1LoraDataset", (x1, y), (380, 130), folder=TRAIN_FOLDER, on_bad_song="skip", path="")
    found = wf.add("PreviewAny", (x1, y + 170), (380, 200), title="Songs found (and skipped)")
    wf.link(data, "preview", found, "source")
    train = wf.add("AceStepV1TrainLora", (x1, y + 410), (380, 420), lora_name=TRAIN_LORA_NAME, resume=False,
                   max_steps=TRAIN_STEPS, save_every=TRAIN_SAVE_EVERY, learning_rate=1e-4, batch_size=1, accumulate=1,
                   control="fixed", seed=42, r=256, lora_alpha=32.0, use_rslora=True, gradient_checkpointing=True,
                   tag_orders=8)
    wf.link(loader, "model", train, "model")
    wf.link(data, "dataset", train, "dataset")
    tags, lyrics, _ = b.text(train, x2, 0, POP_TAGS, POP_LYRICS, lyrics_h=520)
    # a 30 s song to hear the LoRA (half the time of text2music's 60 s; raise *seconds* for a whole song)
    latent = wf.add("AceStepV1EmptyLatent", (x3, 0), (340, 100), seconds=30.0, batch_size=1)
    noise = wf.add("AceStepV1SeededNoise", (x3, 140), (340, 110), control="randomize", seed=42)
    opts = b.options(x3, 290)
    s = b.sampler(x4, 0, train, tags, lyrics, noise, latent, opts)
    d = b.decode(train, s, x4, 280)
    b.save(d, x5, 0, "audio/ACE-Step/train_lora")
    wf.note((C0, 0), (420, 1480), "About this workflow", note_text(
        "ACE-Step v1: train a LoRA on your songs, then sing with it", f"""
Trains a LoRA on a small folder of your songs with the original ACE-Step trainer's recipe, then makes
a song with it. Press **Run**: the songs are checked, encoded once, the LoRA trains (a progress bar per
step), and the usual text-to-music chain below uses the freshly trained model.

**Your songs.** Put them into `ComfyUI/input/{TRAIN_FOLDER}/`, three files per song:
`NAME.mp3` (or `.wav`, `.flac`, at most 240 s), `NAME_prompt.txt` (its tags, as you would type them in
*Tags Encode*) and `NAME_lyrics.txt` (its lyrics with `[verse]`/`[chorus]` lines, or `[instrumental]`).
Refresh the page (R) after making a new folder so that *folder* lists it.

**LoRA Dataset**: *folder* is a folder of ComfyUI's `input/`; *path* (optional) an absolute folder
path instead. *on_bad_song* `skip` trains without songs that cannot be used (a missing text file, an
unreadable or silent file), `refuse` stops and names them all. *Songs found* shows what is used.

**Train LoRA**: *lora_name* is the folder the LoRA goes to, `models/loras/<lora_name>/`, with one
folder per checkpoint (`step-00000100/`, ...) and the result in `final-step-<max_steps>/`. An
existing LoRA folder is **never overwritten**: the next run with the same name stops with a message, so
change *lora_name* or set *resume* to `true` to continue that run from its newest checkpoint (raise
*max_steps* to train further). *max_steps* {TRAIN_STEPS} is a first try that shows the whole chain and
the loss within minutes; a LoRA that changes the music needs about 1000-5000 steps (the learning rate
warms up over 10 steps and decays linearly to 0 at *max_steps*). *save_every* {TRAIN_SAVE_EVERY}: a
checkpoint every 100 steps. *learning_rate* 1e-4 (the original's, AdamW). *batch_size* songs per
step, *accumulate* steps of gradient accumulation (both 1 in the original). *seed* fixes data order,
dropout, noise and the LoRA's start. *r* 256, *lora_alpha* 32, *use_rslora* on and *target_modules*
are the RapMachine LoRA's settings (scale alpha/√r); a smaller *r* trains faster and saves a smaller
file. *gradient_checkpointing* saves memory at some speed. *tag_orders* 8: each song's tags are encoded
in 8 shuffled orders, the next one at each read of the song (the original reshuffles them at every
read; 1 keeps your order). Training uses the model the loader already holds (no second copy in memory) and hands it
back unchanged: the LoRA lives only in its folder and in this node's *model* output.

**How long.** Each song is encoded once, then every step trains on one song (*batch_size* 1). On a
GPU with bfloat16 (*dtype* `auto` picks it) a step takes about a second (users of the original trainer
report ~30 000 steps in 6 hours on an L40S), so 1000 steps take roughly 15-20 minutes. On a CPU each
step is a forward and a backward pass of the 3.5 B model: on 2 cores a step on a 30 s clip took
15 s in bfloat16 and 32 s in float32 (rank 256, measured), so the {TRAIN_STEPS} steps here take
several minutes and a real LoRA hours to days. Cancel stops after the current step with that step
saved (set *resume* to continue).

**Afterwards** the trained model goes straight into the sampler at strength 1 (a 30 s song: raise
*seconds* on *Empty Latent* for a longer one) and its *loss* output (the loss per step)
plugs into ComfyUI's own *Plot Loss Graph* node to draw it. Later, load the result with *LoRA Loader* (see the
*text2music_lora* workflow): it lists `{TRAIN_LORA_NAME}/final-step-...` among `models/loras`. Write
tags like those of your songs to hear what the LoRA learned.
""", COMMON_MODEL))
    return wf


# ComfyUI-Distributed (robertvoy/ComfyUI-Distributed), the pack distributed_text2music uses beside ours.
DISTRIBUTED_MODULE = "custom_nodes.ComfyUI-Distributed"
DISTRIBUTED_CNR = ("comfyui-distributed", "1.4.4")


def distributed_text2music(oi):
    """text2music on a ComfyUI-Distributed master + one worker: one song per instance, one file per song."""
    wf, b = new(oi)
    wf.other_packs[DISTRIBUTED_MODULE] = DISTRIBUTED_CNR
    model, y = b.model(C1, 0)
    tags, lyrics, _ = b.text(model, C1, y, POP_TAGS, POP_LYRICS)
    latent = wf.add("AceStepV1EmptyLatent", (C2, 0), (340, 100), seconds=60.0, batch_size=1)
    dseed = wf.add("DistributedSeed", (C2, 140), (340, 90), title="Distributed Seed (+ worker index)",
                   control="randomize", seed=42)
    noise = wf.add("AceStepV1SeededNoise", (C2, 270), (340, 110), control="fixed", seed=42)
    wf.link(dseed, "seed", noise, "seed")
    opts = b.options(C2, 420)
    b.languages(lyrics, C2, 840)
    s = b.sampler(C3, 0, model, tags, lyrics, noise, latent, opts)
    d = b.decode(model, s, C3, 280)
    image = wf.add("EmptyImage", (C3, 430), (340, 130), title="1 image for the collector", width=64, height=64,
                   batch_size=1, color=0)
    collect = wf.add("DistributedCollector", (C4, 0), (300, 100), load_balance=False)
    wf.link(image, 0, collect, "images")
    wf.link(d, 0, collect, "audio")
    divide = wf.add("AudioBatchDivider", (C4, 140), (300, 110), title="Audio Batch Divider (one part per instance)",
                    divide_by=2)
    # the divider's outputs follow divide_by (its frontend extension adds audio_1 .. audio_<divide_by>)
    divide.outputs = [{"name": f"audio_{i + 1}", "type": "AUDIO", "links": []} for i in range(2)]
    wf.link(collect, "audio", divide, "audio")
    b.save(divide, C4 + 360, 0, "audio/ACE-Step/distributed_master", title="Save: the master's song")
    save2 = wf.add("SaveAudio", (C4 + 360, 190), (380, 150), title="Save: worker 1's song",
                   filename_prefix="audio/ACE-Step/distributed_worker1")
    wf.link(divide, 1, save2, "audio")
    wf.note((C0, 0), (420, 1180), "About this workflow", note_text(
        "ACE-Step v1 on several GPUs with ComfyUI-Distributed", """
Text to music on a **master and its workers** ([ComfyUI-Distributed](https://github.com/robertvoy/ComfyUI-Distributed)):
every instance makes its own song in the time one song takes, and the master saves them all. Install
ComfyUI-Distributed, add a worker in its panel (or start a second ComfyUI and add it as a remote worker),
enable it, then **Run** this workflow on the master.

**Distributed Seed → Seeded Noise → seed**: the master uses the seed as set (42), worker *k* adds
*k* + 1 (43, 44, ...), so each instance makes a different song. Each song is the one a single ComfyUI
makes with that seed. Without this node every instance would make the same song.

**Seed lists.** A *seeds* list (`11, 22`) on the Seeded Noise gives each instance a batch of songs. With
*seed* wired to Distributed Seed, the master uses the list as written and worker *k* moves it up past the
instances before it: by (*k* + 1) × (largest − smallest + 1), so `11, 22` becomes `23, 34` on the first
worker, `1, 2, 3` becomes `4, 5, 6`. No two instances share a seed.

**Collecting.** *Distributed Collector* needs an IMAGE (here one blank 64×64 image; the audio of the
workers only arrives with an image) and joins the songs of all instances **along time**: master first,
then the workers in order. *Audio Batch Divider* cuts that back into one part per instance: set
*divide_by* to the number of instances (master + workers, here 2) and give each output a *Save Audio*.
A batch of songs per instance stays a batch in each part (one file per song).
""", COMMON_MODEL, COMMON_TEXT, COMMON_SAMPLER))
    return wf


WORKFLOWS = {
    "text2music": text2music,
    "text2music_lora": lambda oi: text2music(oi, lora=True),
    "batch_variations": batch_variations,
    "retake": retake,
    "repaint": repaint,
    "extend": extend,
    "flow_edit_lyrics": flow_edit,
    "audio2audio": audio2audio,
    "long_song_chained_extends": long_song,
    "round_trip_audio_latent_audio": round_trip,
    "native_nodes_mix": native_mix,
    "train_lora": train_lora,
    "distributed_text2music": distributed_text2music,
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--object-info", required=True, help="ComfyUI /object_info JSON with this pack loaded")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "workflows"), help="output folder")
    ap.add_argument("--only", nargs="*", help="build only these workflows")
    args = ap.parse_args(argv)
    oi = json.loads(Path(args.object_info).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, build in WORKFLOWS.items():
        if args.only and name not in args.only:
            continue
        wf = build(oi)
        (out / f"{name}.json").write_text(dump(wf.to_json(name, FRONTEND_VERSION)), encoding="utf-8")
        print(f"{out / (name + '.json')}: {len(wf.nodes)} nodes, {len(wf.links)} links")
    return 0


if __name__ == "__main__":
    sys.exit(main())
