"""Conditioning nodes: tags (UMT5), lyrics (per-line language detection + BPE), flow-edit target."""
from __future__ import annotations

from dataclasses import dataclass

from ..acestep_core import LyricTokens, PromptConditioning, TextEncoding
from ..acestep_core.lyrics import LYRIC_LANGUAGES

from ._comfy import CATEGORY, EditTargetType, LyricsType, ModelType, TagsType, io
from .convert import AceStepInputError
from .model import AceStepModel, running

LANGUAGE_CHOICES = ["auto"] + list(LYRIC_LANGUAGES)


@dataclass(frozen=True, eq=False)
class Tags:
    """Encoded tags (on the CPU), the text they came from, and the text width of the encoder."""

    cond: PromptConditioning
    text: str


@dataclass(frozen=True, eq=False)
class Lyrics:
    tokens: LyricTokens
    text: str
    language: str | None


@dataclass(frozen=True, eq=False)
class EditTarget:
    """Flow-edit's target; None means "the same as the source" (the original UI's empty fields)."""

    tags: Tags | None
    lyrics: Lyrics | None


def _cpu(enc: TextEncoding | None) -> TextEncoding | None:
    if enc is None:
        return None
    return TextEncoding(enc.hidden_states.detach().to("cpu"), enc.attention_mask.detach().to("cpu"))


def check_model(model) -> AceStepModel:
    if not isinstance(model, AceStepModel):
        raise AceStepInputError(
            f"model: expected an ACE-Step v1 model from AceStepV1ModelLoader / AceStepV1CheckpointLoader, got "
            f"{type(model).__name__}.")
    return model


def check_tags(tags, what: str = "tags") -> Tags:
    if not isinstance(tags, Tags):
        raise AceStepInputError(f"{what}: expected the output of AceStepV1TextEncode, got {type(tags).__name__}.")
    return tags


def check_lyrics(lyrics, what: str = "lyrics") -> Lyrics:
    if not isinstance(lyrics, Lyrics):
        raise AceStepInputError(f"{what}: expected the output of AceStepV1LyricsEncode, got {type(lyrics).__name__}.")
    return lyrics


def line_report(rows: list[dict]) -> str:
    """One line per lyric line: the language used (and why), or that it was dropped."""
    out = []
    for r in rows:
        if not r.get("line"):
            out.append("   | (empty line)")
            continue
        lang = r.get("used") or "-"
        note = f"  <- {r['reason']}" if r.get("reason") else ""
        if r.get("dropped"):
            lang = "--"
        out.append(f"{lang:>2} | {r['line']}{note}")
    return "\n".join(out)


class TextEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1TextEncode",
            display_name="ACE-Step v1 Tags Encode",
            category=CATEGORY,
            description=("Encodes the tags / description of the music with the model's UMT5 text encoder (truncated "
                         "at 256 tokens, as the original). Also computes the weak 'ERG-tag' states the sampler uses "
                         "for guidance when use_erg_tag is on."),
            inputs=[
                ModelType.Input("model", tooltip="The ACE-Step v1 model (its text encoder is used)."),
                io.String.Input("tags", multiline=True, dynamic_prompts=True, default="",
                                placeholder="pop, rock, female vocals, 120 bpm, catchy melody",
                                tooltip=("Comma-separated tags, a description or a scene: genre, instruments, mood, "
                                         "tempo, vocals (the original's prompt).")),
            ],
            outputs=[TagsType.Output(display_name="tags", tooltip="Encoded tags for the ACE-Step samplers.")],
        )

    @classmethod
    def execute(cls, model, tags: str) -> io.NodeOutput:
        model = check_model(model)
        if not isinstance(tags, str):
            raise AceStepInputError(f"tags must be text, got {type(tags).__name__}.")
        with running(model, "text") as pipe:
            cond = pipe.encode_prompt(tags, erg=True)
        return io.NodeOutput(Tags(PromptConditioning(_cpu(cond.text), _cpu(cond.text_erg)), tags))


class LyricsEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1LyricsEncode",
            display_name="ACE-Step v1 Lyrics Encode",
            category=CATEGORY,
            description=("Tokenizes lyrics as the original: one line at a time, each line's language detected on "
                         "its own (17 languages; Chinese, Japanese, Korean are transliterated), structure lines such "
                         "as [verse] / [chorus] encoded as tags. Empty lyrics mean instrumental."),
            inputs=[
                ModelType.Input("model", tooltip="The ACE-Step v1 model (its lyric vocabulary is used)."),
                io.String.Input("lyrics", multiline=True, dynamic_prompts=False, default="",
                                placeholder="[verse]\nHello world, we sing tonight\n\n[chorus]\nla la la",
                                tooltip=("Lyrics, one sung line per line. Structure tags on their own line: [intro] "
                                         "[verse] [pre-chorus] [chorus] [bridge] [outro] [inst] [solo] [hook] [break]. "
                                         "Leave empty (or write [instrumental]) for instrumental music.")),
                io.Combo.Input("language", options=LANGUAGE_CHOICES, default="auto",
                               tooltip=("auto: detect each line's language, as the original (recommended). A code "
                                        "forces every non-structure line to that language, e.g. to fix short Chinese "
                                        "lines detected as Japanese.")),
            ],
            outputs=[
                LyricsType.Output(display_name="lyrics", tooltip="Lyric tokens for the ACE-Step samplers."),
                io.String.Output(display_name="languages",
                                 tooltip="The language used for each line (and why), to check the auto-detection."),
            ],
        )

    @classmethod
    def execute(cls, model, lyrics: str, language: str = "auto") -> io.NodeOutput:
        model = check_model(model)
        if not isinstance(lyrics, str):
            raise AceStepInputError(f"lyrics must be text, got {type(lyrics).__name__}.")
        if language not in LANGUAGE_CHOICES:
            raise AceStepInputError(f"language {language!r} is unknown; choose one of {', '.join(LANGUAGE_CHOICES)}.")
        lang = None if language == "auto" else language
        try:
            tokens = model.pipe.encode_lyrics(lyrics, language=lang)  # refuses lyrics over MAX_LYRIC_TOKENS
        except ValueError as e:
            raise AceStepInputError(f"lyrics: {e}") from None
        if lyrics == "":
            report = "(no lyrics: instrumental)"
        else:
            report = line_report(model.pipe.lyric_tokenizer.analyze(lyrics, language=lang))
        return io.NodeOutput(Lyrics(tokens, lyrics, lang), report)


class EditTargetNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1EditTarget",
            display_name="ACE-Step v1 Flow-Edit Target",
            category=CATEGORY,
            description=("What flow-edit should change the source song into: new tags and/or new lyrics. An "
                         "unconnected input keeps the source's (as the original UI does with an empty field)."),
            inputs=[
                TagsType.Input("target_tags", optional=True,
                               tooltip="Encoded target tags; unconnected = the source tags."),
                LyricsType.Input("target_lyrics", optional=True,
                                 tooltip="Encoded target lyrics; unconnected = the source lyrics."),
            ],
            outputs=[EditTargetType.Output(display_name="target", tooltip="For AceStepV1FlowEditSampler.")],
        )

    @classmethod
    def execute(cls, target_tags=None, target_lyrics=None) -> io.NodeOutput:
        tags = None if target_tags is None else check_tags(target_tags, "target_tags")
        lyr = None if target_lyrics is None else check_lyrics(target_lyrics, "target_lyrics")
        return io.NodeOutput(EditTarget(tags, lyr))


NODES = [TextEncode, LyricsEncode, EditTargetNode]
