// Lyric analysis for the lyrics editor. Pure: no DOM, no ComfyUI.
//
// Mirrors how the original tokenizes lyrics (acestep_core/lyrics/tokenizer.py): the text is split on
// "\n", each line is stripped; an empty line becomes one [SPACE]; a line that *starts* with "[...]" is a
// structure line and always takes the English path (so "[zh] 你好" is NOT a language switch here);
// every other line's language is detected on its own by the backend.

import { TAG_TOKENS, unrepresentableChars } from "./lyric_charset.js";

/** The lyric languages of ACE-Step v1 (LANGUAGE_TAG_IDS). */
export const LYRIC_LANGUAGES = [
  "en", "de", "fr", "es", "it", "pt", "pl", "tr", "ru", "cs", "nl", "ar", "zh", "ja", "hu", "ko", "hi",
];

/** Canonical section kinds and the spellings people use for them. */
const SECTION_ALIASES = {
  intro: ["intro", "opening"],
  verse: ["verse", "v"],
  "pre-chorus": ["pre-chorus", "pre chorus", "prechorus", "pre_chorus", "pre"],
  chorus: ["chorus", "refrain", "c"],
  "post-chorus": ["post-chorus", "post chorus", "postchorus"],
  hook: ["hook"],
  bridge: ["bridge", "middle 8", "middle eight"],
  rap: ["rap"],
  inst: ["inst", "instrumental", "interlude", "solo", "break", "breakdown", "drop", "build", "build-up",
    "buildup"],
  outro: ["outro", "ending", "end", "fade", "fade out", "coda"],
};
const ALIAS_TO_KIND = new Map();
for (const [kind, names] of Object.entries(SECTION_ALIASES)) {
  for (const name of names) ALIAS_TO_KIND.set(name, kind);
}

// The original matches re.match(r"\[.*?\]") on the stripped line: "[" at the start, up to the first "]".
const TAG_AT_START = /^\[([^\]\n]*)\]/;
const HAS_WORD = /[\p{L}\p{N}]/u;
// Words: each CJK character is one (sung syllable), other letters/digits in runs.
const CJK = "\\p{sc=Han}\\p{sc=Hiragana}\\p{sc=Katakana}";
const WORDS = new RegExp(`[${CJK}]|(?:(?![${CJK}])[\\p{L}\\p{M}\\p{N}'\\u2019])+`, "gu");

/**
 * The structure tag at the start of a (stripped) line, or null.
 * "[Verse 2] yeah" -> {raw: "Verse 2", name: "verse 2", kind: "verse", number: 2, rest: "yeah"}
 */
export function parseTag(text) {
  const m = TAG_AT_START.exec(text);
  if (!m) return null;
  const raw = m[1];
  const name = raw.trim().toLowerCase().replace(/\s+/g, " ");
  const numbered = /^(.*?)[\s_-]*(\d+)$/.exec(name);
  const base = numbered && numbered[1] ? numbered[1] : name;
  const number = numbered && numbered[1] ? Number(numbered[2]) : null;
  const kind = ALIAS_TO_KIND.get(base) ?? (LYRIC_LANGUAGES.includes(base) ? "language" : "other");
  return { raw, name, base, kind, number, rest: text.slice(m[0].length).trim() };
}

/** One line of the lyrics: index, stripped text, and whether it is empty, a structure tag or sung. */
export function classifyLine(rawLine, index) {
  const text = rawLine.trim();
  if (text === "") return { index, raw: rawLine, text, kind: "empty", tag: null };
  const tag = parseTag(text);
  return { index, raw: rawLine, text, kind: tag ? "tag" : "lyric", tag };
}

function warning(code, message, extra = {}) {
  return { code, message, ...extra };
}

/** What the tokenizer will do badly with this line: a list of {code, message}. */
export function lineWarnings(line) {
  const out = [];
  if (line.kind === "empty") return out;
  const tagToken = line.kind === "tag" && TAG_TOKENS.includes(`[${line.tag.raw.toLowerCase()}]`);
  // A known tag is one token; elsewhere "[" and "]" are characters like any other.
  const checked = line.kind === "tag" && tagToken ? line.tag.rest : line.text;
  const bad = unrepresentableChars(checked).filter((c) => !(line.kind === "tag" && (c === "[" || c === "]")));
  if (bad.length) {
    out.push(warning("unk", `${bad.join(" ")} ${bad.length > 1 ? "are" : "is"} not in the lyric vocabulary: ` +
      "the tokenizer turns it into [UNK]", { chars: bad }));
  }
  if (line.kind === "lyric") {
    if (!HAS_WORD.test(line.text)) {
      out.push(warning("no_words", "only punctuation or symbols: nothing to sing on this line"));
    } else if (line.text.startsWith("[")) {
      out.push(warning("unclosed_tag", "starts with \"[\" but has no \"]\": sung as text, not a structure tag"));
    }
    return out;
  }
  // a structure line
  if (line.tag.kind === "language") {
    out.push(warning("language_prefix",
      `[${line.tag.raw}] is read as a structure tag, not a language switch: every line's language is ` +
      "detected on its own (use the node's language input to force one)"));
  } else if (line.tag.name === "") {
    out.push(warning("empty_tag", "an empty [] tag"));
  } else if (!tagToken) {
    out.push(warning("tag_not_token",
      `[${line.tag.raw}] is not one of the model's tag tokens (${TAG_TOKENS.join(" ")}): its brackets become ` +
      "[UNK] and its words are read as text"));
  }
  if (line.tag.rest) {
    out.push(warning("text_after_tag",
      "text after the tag is encoded with the tag on the English path; put the lyric on its own line"));
  }
  return out;
}

/**
 * Everything the editor shows about a lyrics text.
 * Returns {lines, sections, counts, warnings, instrumental}; each line has {index, text, kind, tag,
 * section (label of the section it belongs to, e.g. "verse 2"), warnings}.
 */
export function analyzeLyrics(text) {
  const rawLines = String(text ?? "").split("\n");
  const lines = rawLines.map((raw, i) => classifyLine(raw, i));
  const seen = new Map();
  const sections = [];
  let current = null;
  for (const line of lines) {
    if (line.kind === "tag") {
      const key = line.tag.kind === "other" || line.tag.kind === "language" ? line.tag.base : line.tag.kind;
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      current = { kind: line.tag.kind, key, label: `${key} ${n}`, line: line.index, lyricLines: 0 };
      sections.push(current);
    } else if (line.kind === "lyric" && current) {
      current.lyricLines += 1;
    }
    line.section = current ? current.label : null;
    line.warnings = lineWarnings(line);
  }
  const counts = {
    lines: lines.length,
    lyric: lines.filter((l) => l.kind === "lyric").length,
    tags: lines.filter((l) => l.kind === "tag").length,
    empty: lines.filter((l) => l.kind === "empty").length,
    sections: sections.length,
    words: lines.filter((l) => l.kind === "lyric").reduce((n, l) => n + (l.text.match(WORDS)?.length ?? 0), 0),
    chars: String(text ?? "").length,
  };
  const warnings = lines.flatMap((l) => l.warnings.map((w) => ({ ...w, line: l.index })));
  const instrumental = counts.lyric === 0;
  return { lines, sections, counts, warnings, instrumental };
}

/** "verse ×2, chorus ×2, bridge" from the sections of analyzeLyrics. */
export function sectionSummary(sections) {
  const order = [];
  const n = new Map();
  for (const s of sections) {
    if (!n.has(s.key)) order.push(s.key);
    n.set(s.key, (n.get(s.key) ?? 0) + 1);
  }
  return order.map((k) => (n.get(k) > 1 ? `${k} \u00d7${n.get(k)}` : k)).join(", ");
}

/** One-line summary for the editor's header. */
export function summaryLine(analysis) {
  const { counts, sections, warnings, instrumental } = analysis;
  if (counts.chars === 0) return "empty: instrumental";
  const parts = [`${counts.lines} line${counts.lines === 1 ? "" : "s"}`,
    `${counts.lyric} sung`, `${counts.words} word${counts.words === 1 ? "" : "s"}`];
  if (sections.length) {
    parts.push(`${sections.length} section${sections.length === 1 ? "" : "s"} (${sectionSummary(sections)})`);
  }
  if (instrumental) parts.push("instrumental");
  if (warnings.length) parts.push(`${warnings.length} warning${warnings.length === 1 ? "" : "s"}`);
  return parts.join(" \u00b7 ");
}

// ------------------------------------------------------------------------------ language report

const NO_LYRICS = "(no lyrics: instrumental)";

/**
 * Parses the `languages` text of AceStepV1LyricsEncode: one row per lyric line,
 * "<lang> | <stripped line>[  <- <reason>]", "   | (empty line)" for empty lines, "--" for a dropped
 * line. Returns [{lang, text, reason, dropped, empty}] or [] for instrumental / unparseable text.
 */
export function parseLanguageReport(report) {
  if (typeof report !== "string" || report.trim() === "" || report.trim() === NO_LYRICS) return [];
  const rows = [];
  for (const row of report.split("\n")) {
    const bar = row.indexOf(" | ");
    if (bar < 0) return [];
    const lang = row.slice(0, bar).trim();
    let body = row.slice(bar + 3);
    let reason = null;
    const arrow = body.lastIndexOf("  <- ");
    if (arrow >= 0) {
      reason = body.slice(arrow + 5);
      body = body.slice(0, arrow);
    }
    const empty = lang === "" && body === "(empty line)";
    rows.push({ lang: empty ? null : lang, text: empty ? "" : body, reason, dropped: lang === "--", empty });
  }
  return rows;
}

/**
 * The reported language of each current line, or null where the report does not know the line
 * (the lyrics were edited after the run): same index and same text first, else the same text
 * elsewhere in the report. Returns an array parallel to `lines`.
 */
export function matchLanguages(lines, rows) {
  const byText = new Map();
  rows.forEach((r, i) => {
    if (!r.empty && !byText.has(r.text)) byText.set(r.text, i);
  });
  return lines.map((line, i) => {
    if (line.kind === "empty") return null;
    const same = rows[i];
    if (same && !same.empty && same.text === line.text) return same;
    const j = byText.get(line.text);
    return j === undefined ? null : rows[j];
  });
}
