// The lyrics inspector shown under the lyrics textarea: one row per line with its number, language,
// highlighted structure tag and warnings, and a summary line. Reads the text, never changes it, except
// that clicking a row selects that line in the textarea.

import { analyzeLyrics, matchLanguages, parseLanguageReport, summaryLine } from "../lib/lyrics.js";

const STYLE_ID = "acestep-v1-lyrics-style";
const CSS = `
.acestep-lyrics { display: flex; flex-direction: column; box-sizing: border-box; height: 100%; min-height: 0;
  font: 11px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: #cfcfcf;
  background: #151515; border: 1px solid #333; border-radius: 6px; overflow: hidden; }
.acestep-lyrics__summary { padding: 3px 8px; background: #202020; border-bottom: 1px solid #333;
  font-family: sans-serif; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.acestep-lyrics__summary.has-warnings { color: #ffb27a; }
.acestep-lyrics__rows { flex: 1 1 auto; overflow-y: auto; overflow-x: hidden; padding: 2px 0; }
.acestep-lyrics__row { display: flex; gap: 6px; padding: 0 8px; cursor: text; white-space: nowrap; }
.acestep-lyrics__row:hover { background: #222; }
.acestep-lyrics__row.is-warn { background: rgba(255, 120, 60, 0.10); }
.acestep-lyrics__ln { flex: 0 0 2.6em; text-align: right; color: #666; }
.acestep-lyrics__lang { flex: 0 0 2.4em; text-align: center; border-radius: 3px; color: #9ad; }
.acestep-lyrics__lang.is-auto { color: #555; }
.acestep-lyrics__lang.is-dropped { color: #ff6b6b; }
.acestep-lyrics__lang.is-forced { color: #d7a8ff; }
.acestep-lyrics__text { flex: 1 1 auto; overflow: hidden; text-overflow: ellipsis; }
.acestep-lyrics__tag { padding: 0 5px; border-radius: 3px; font-weight: 600; color: #111; background: #9aa; }
.acestep-lyrics__tag.k-intro, .acestep-lyrics__tag.k-outro { background: #8fd19e; }
.acestep-lyrics__tag.k-verse { background: #7fb2ff; }
.acestep-lyrics__tag.k-pre-chorus, .acestep-lyrics__tag.k-post-chorus { background: #c7b3ff; }
.acestep-lyrics__tag.k-chorus, .acestep-lyrics__tag.k-hook { background: #ffc46b; }
.acestep-lyrics__tag.k-bridge { background: #e59bd8; }
.acestep-lyrics__tag.k-rap { background: #ff9a7a; }
.acestep-lyrics__tag.k-inst { background: #7fd8d0; }
.acestep-lyrics__tag.k-language { background: #ff8a65; }
.acestep-lyrics__rest { color: #ffb27a; }
.acestep-lyrics__empty { color: #444; }
.acestep-lyrics__warn { flex: 0 0 auto; color: #ff9a5c; }
.acestep-lyrics__unk { text-decoration: underline wavy #ff6b6b; }
`;

function ensureStyle(doc) {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  doc.head.appendChild(style);
}

function el(doc, tag, cls, text) {
  const e = doc.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

/** The line's text with [UNK] characters underlined. */
function textWithMarks(doc, parent, text, bad) {
  if (!bad.length) {
    parent.append(text);
    return;
  }
  let run = "";
  for (const ch of text) {
    if (bad.includes(ch)) {
      if (run) parent.append(run);
      run = "";
      parent.append(el(doc, "span", "acestep-lyrics__unk", ch));
    } else {
      run += ch;
    }
  }
  if (run) parent.append(run);
}

/**
 * The panel for a textarea. Returns {element, update(text), setReport(reportText, forcedLanguage)}.
 * `onPick(lineIndex)` is called when a row is clicked.
 */
export function createLyricsPanel(doc, onPick) {
  ensureStyle(doc);
  const root = el(doc, "div", "acestep-lyrics");
  const summary = el(doc, "div", "acestep-lyrics__summary");
  const rows = el(doc, "div", "acestep-lyrics__rows");
  root.append(summary, rows);
  let report = [];
  let forced = null;
  let lastText = null;

  rows.addEventListener("mousedown", (event) => {
    const row = event.target?.closest?.(".acestep-lyrics__row");
    if (!row) return;
    event.preventDefault();
    onPick?.(Number(row.dataset.line));
  });

  function render(text) {
    const analysis = analyzeLyrics(text);
    const langs = matchLanguages(analysis.lines, report);
    summary.textContent = summaryLine(analysis) + (report.length ? "" : " \u00b7 languages: auto (shown after a run)");
    summary.classList.toggle("has-warnings", analysis.warnings.length > 0);
    summary.title = analysis.warnings.map((w) => `line ${w.line + 1}: ${w.message}`).join("\n");
    const frag = doc.createDocumentFragment();
    for (const line of analysis.lines) {
      const row = el(doc, "div", "acestep-lyrics__row");
      row.dataset.line = String(line.index);
      row.append(el(doc, "span", "acestep-lyrics__ln", String(line.index + 1)));
      const lang = el(doc, "span", "acestep-lyrics__lang");
      const text = el(doc, "span", "acestep-lyrics__text");
      const bad = line.warnings.find((w) => w.code === "unk")?.chars ?? [];
      if (line.kind === "empty") {
        text.append(el(doc, "span", "acestep-lyrics__empty", "\u00b7"));
      } else if (line.kind === "tag") {
        lang.textContent = "tag";
        lang.classList.add("is-auto");
        lang.title = "structure tag: encoded on the English path";
        text.append(el(doc, "span", `acestep-lyrics__tag k-${line.tag.kind}`, `[${line.tag.raw}]`));
        if (line.tag.rest) {
          const rest = el(doc, "span", "acestep-lyrics__rest");
          rest.append(" ");
          textWithMarks(doc, rest, line.tag.rest, bad);
          text.append(rest);
        }
      } else {
        const r = langs[line.index];
        if (r) {
          lang.textContent = r.dropped ? "--" : r.lang;
          if (r.dropped) lang.classList.add("is-dropped");
          lang.title = r.reason ? `${r.lang}: ${r.reason}` : `detected: ${r.lang}`;
        } else if (forced) {
          lang.textContent = forced;
          lang.classList.add("is-forced");
          lang.title = "language forced on the node";
        } else {
          lang.textContent = "auto";
          lang.classList.add("is-auto");
          lang.title = "detected per line by the backend; shown after a run";
        }
        textWithMarks(doc, text, line.text, bad);
      }
      row.append(lang, text);
      if (line.warnings.length) {
        row.classList.add("is-warn");
        const w = el(doc, "span", "acestep-lyrics__warn", "\u26a0");
        w.title = line.warnings.map((x) => x.message).join("\n");
        row.append(w);
        row.title = w.title;
      }
      frag.append(row);
    }
    rows.replaceChildren(frag);
  }

  return {
    element: root,
    update(text) {
      const t = String(text ?? "");
      if (t === lastText) return;
      lastText = t;
      render(t);
    },
    setReport(reportText, forcedLanguage) {
      report = parseLanguageReport(reportText);
      forced = forcedLanguage && forcedLanguage !== "auto" ? forcedLanguage : null;
      if (lastText !== null) render(lastText);
    },
  };
}
