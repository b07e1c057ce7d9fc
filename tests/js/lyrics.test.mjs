// Pure logic of the lyrics editor: tag parsing, line classification, counts, warnings, language report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import {
  analyzeLyrics, classifyLine, lineWarnings, matchLanguages, parseLanguageReport, parseTag, sectionSummary,
  summaryLine,
} from "../../js/lib/lyrics.js";
import { TAG_TOKENS, VOCAB_CHARS, isRepresentable, unrepresentableChars } from "../../js/lib/lyric_charset.js";

test("parseTag reads the tag at the start of a line, like the original's [.*?] match", () => {
  assert.deepEqual(parseTag("[verse]"), { raw: "verse", name: "verse", base: "verse", kind: "verse", number: null, rest: "" });
  const t = parseTag("[Verse 2] oh yeah");
  assert.equal(t.kind, "verse");
  assert.equal(t.number, 2);
  assert.equal(t.rest, "oh yeah");
  assert.equal(parseTag("[Pre-Chorus]").kind, "pre-chorus");
  assert.equal(parseTag("[pre chorus]").kind, "pre-chorus");
  assert.equal(parseTag("[instrumental]").kind, "inst");
  assert.equal(parseTag("[solo]").kind, "inst");
  assert.equal(parseTag("[refrain]").kind, "chorus");
  assert.equal(parseTag("[zh]").kind, "language");
  assert.equal(parseTag("[spoken word]").kind, "other");
  assert.equal(parseTag("[]").name, "");
  assert.equal(parseTag("no tag [verse]"), null);
  assert.equal(parseTag("[unclosed"), null);
  // non-greedy: the first "]" closes the tag
  assert.equal(parseTag("[a] b]").raw, "a");
});

test("classifyLine strips the line and tells empty, tag and sung lines apart", () => {
  assert.equal(classifyLine("   ", 0).kind, "empty");
  assert.equal(classifyLine("  [chorus]  ", 1).kind, "tag");
  const l = classifyLine("  hello world ", 2);
  assert.equal(l.kind, "lyric");
  assert.equal(l.text, "hello world");
  assert.equal(l.index, 2);
});

test("analyzeLyrics counts lines, sung lines, words and numbered sections", () => {
  const a = analyzeLyrics("[verse]\nhello there world\nsecond line\n\n[chorus]\nla la la\n[verse]\nagain");
  assert.equal(a.counts.lines, 8);
  assert.equal(a.counts.lyric, 4);
  assert.equal(a.counts.tags, 3);
  assert.equal(a.counts.empty, 1);
  assert.equal(a.counts.words, 3 + 2 + 3 + 1);
  assert.deepEqual(a.sections.map((s) => s.label), ["verse 1", "chorus 1", "verse 2"]);
  assert.deepEqual(a.sections.map((s) => s.lyricLines), [2, 1, 1]);
  assert.equal(a.lines[5].section, "chorus 1");
  assert.equal(sectionSummary(a.sections), "verse \u00d72, chorus");
  assert.equal(a.instrumental, false);
  assert.deepEqual(a.warnings, []);
  assert.match(summaryLine(a), /^8 lines · 4 sung · 9 words · 3 sections \(verse ×2, chorus\)$/);
});

test("words: CJK characters count one each, other scripts by runs", () => {
  assert.equal(analyzeLyrics("你好世界").counts.words, 4);
  assert.equal(analyzeLyrics("Yeah, 来吧").counts.words, 3);
  assert.equal(analyzeLyrics("it\u2019s naïve, don't stop 2 go").counts.words, 6);
  assert.equal(analyzeLyrics("안녕하세요 친구").counts.words, 2);
});

test("empty lyrics and tag-only lyrics are instrumental", () => {
  assert.equal(analyzeLyrics("").instrumental, true);
  assert.equal(summaryLine(analyzeLyrics("")), "empty: instrumental");
  const inst = analyzeLyrics("[instrumental]");
  assert.equal(inst.instrumental, true);
  assert.match(summaryLine(inst), /instrumental/);
  assert.equal(analyzeLyrics(null).counts.lines, 1);
});

test("CRLF lyrics: the stray \\r is stripped like Python's strip()", () => {
  const a = analyzeLyrics("[verse]\r\nhello\r\n");
  assert.equal(a.lines[0].kind, "tag");
  assert.equal(a.lines[1].text, "hello");
  assert.equal(a.lines[2].kind, "empty");
});

test("warnings: characters the tokenizer turns into [UNK]", () => {
  const a = analyzeLyrics("dancing in the rain \u{1F483}\u{1F483}\ngood line");
  assert.equal(a.warnings.length, 1);
  assert.equal(a.warnings[0].code, "unk");
  assert.equal(a.warnings[0].line, 0);
  assert.deepEqual(a.warnings[0].chars, ["\u{1F483}"]);
  assert.match(a.warnings[0].message, /\[UNK\]/);
  // Greek is not a lyric language: most of its letters are missing from the vocabulary
  assert.deepEqual(unrepresentableChars("γειά"), ["γ", "ι", "ά"]);
});

test("warnings: a line of bare punctuation has nothing to sing", () => {
  const [w] = lineWarnings(classifyLine("... !!!", 0));
  assert.equal(w.code, "no_words");
  assert.deepEqual(lineWarnings(classifyLine("ok...", 0)), []);
  // digits are words (the cleaner spells them out)
  assert.deepEqual(lineWarnings(classifyLine("1, 2, 3", 0)), []);
});

test("warnings: [zh] at the start is a structure tag, not a language switch", () => {
  const codes = lineWarnings(classifyLine("[zh] 你好世界", 0)).map((w) => w.code);
  assert.deepEqual(codes, ["language_prefix", "text_after_tag"]);
  assert.deepEqual(lineWarnings(classifyLine("[chorus] la la", 0)).map((w) => w.code), ["text_after_tag"]);
  assert.deepEqual(lineWarnings(classifyLine("[verse", 0)).map((w) => w.code), ["unk", "unclosed_tag"]);
  assert.deepEqual(lineWarnings(classifyLine("[]", 0)).map((w) => w.code), ["empty_tag"]);
  assert.deepEqual(lineWarnings(classifyLine("[verse]", 0)), []);
});

test("warnings: tags that are not tokens of the vocabulary lose their brackets to [UNK]", () => {
  for (const tag of ["[verse]", "[Verse]", "[CHORUS]", "[pre-chorus]", "[inst]", "[outro]", "[break]"]) {
    assert.deepEqual(lineWarnings(classifyLine(tag, 0)), [], tag);
  }
  for (const tag of ["[verse 1]", "[interlude]", "[instrumental]", "[ verse ]", "[pre chorus]"]) {
    assert.deepEqual(lineWarnings(classifyLine(tag, 0)).map((w) => w.code), ["tag_not_token"], tag);
  }
  // characters of the tag's own words are still checked
  assert.deepEqual(lineWarnings(classifyLine("[solo \u{1F3B8}]", 0)).map((w) => w.code), ["unk", "tag_not_token"]);
  // "[" inside a sung line is a plain character, and not in the vocabulary
  assert.deepEqual(lineWarnings(classifyLine("la [la] la", 0)).map((w) => w.code), ["unk"]);
});

test("the charset keeps every lyric script the cleaner handles", () => {
  for (const text of ["Hello World", "Ça va très bien", "Größe ß", "Привет мир", "مرحبا", "नमस्ते दुनिया",
    "你好世界，我们走！", "こんにちは、カタカナ", "안녕하세요", "100% & #1 @ 5° $3 £2", "tab\there", "İstanbul",
    "it\u2019s \u201cquoted\u201d \u2026"]) {
    assert.deepEqual(unrepresentableChars(text), [], text);
  }
  assert.equal(isRepresentable("\u{1F600}"), false);
  assert.equal(isRepresentable("€"), false); // only currency amounts like €5 are spelled out; a lone € is [UNK]
  assert.equal(isRepresentable(""), true);
});

test("the charset equals the lyric vocabulary's single characters (when ComfyUI is installed)", (t) => {
  const comfy = process.env.COMFY_DIR ?? "/tmp/comfyui";
  const path = join(comfy, "comfy/text_encoders/ace_lyrics_tokenizer/vocab.json");
  if (!existsSync(path)) {
    t.skip(`no vocab at ${path}`);
    return;
  }
  const vocab = JSON.parse(readFileSync(path, "utf8"));
  const special = new Set(vocab.added_tokens.map((x) => x.content));
  const single = Object.keys(vocab.model.vocab).filter((k) => [...k].length === 1 && k.length === 1 && !special.has(k));
  assert.deepEqual([...VOCAB_CHARS].sort(), single.sort());
  const tags = vocab.added_tokens.map((x) => x.content)
    .filter((c) => /^\[[a-z-]+\]$/.test(c) && !/^\[(en|de|fr|es|it|pt|pl|tr|ru|cs|nl|ar|zh-cn|ja|hu|ko|hi)\]$/.test(c));
  assert.deepEqual([...TAG_TOKENS].sort(), tags.sort());
});

test("parseLanguageReport reads the node's languages output", () => {
  const report = [
    "en | [verse]  <- structure tag: English path",
    "en | Hello there",
    "   | (empty line)",
    "zh | 你好世界",
    "ja | 東京  <- detected 'ja'",
    "-- | 😀  <- line dropped: ValueError: x",
    "en | a | b",
  ].join("\n");
  const rows = parseLanguageReport(report);
  assert.equal(rows.length, 7);
  assert.deepEqual(rows[0], { lang: "en", text: "[verse]", reason: "structure tag: English path", dropped: false, empty: false });
  assert.equal(rows[2].empty, true);
  assert.equal(rows[2].lang, null);
  assert.equal(rows[3].lang, "zh");
  assert.equal(rows[3].reason, null);
  assert.equal(rows[5].dropped, true);
  assert.equal(rows[6].text, "a | b");
  assert.deepEqual(parseLanguageReport("(no lyrics: instrumental)"), []);
  assert.deepEqual(parseLanguageReport(""), []);
  assert.deepEqual(parseLanguageReport(undefined), []);
  assert.deepEqual(parseLanguageReport("not a report"), []);
});

test("matchLanguages follows the lines through edits made after the run", () => {
  const rows = parseLanguageReport("en | [verse]\nen | Hello there\nzh | 你好世界");
  const before = analyzeLyrics("[verse]\nHello there\n你好世界").lines;
  assert.deepEqual(matchLanguages(before, rows).map((r) => r?.lang ?? null), ["en", "en", "zh"]);
  const after = analyzeLyrics("[verse]\nnew line\n\nHello there\n你好世界").lines;
  assert.deepEqual(matchLanguages(after, rows).map((r) => r?.lang ?? null), ["en", null, null, "en", "zh"]);
});
