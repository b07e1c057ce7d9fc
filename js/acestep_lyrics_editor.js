// ACE-Step v1: the lyrics editor of AceStepV1LyricsEncode.
//
// Keeps the node's own `lyrics` textarea (its value is what is saved and sent) and adds an inspector
// under it: line numbers, structure tags highlighted by kind, line/section counts, warnings for text the
// tokenizer cannot represent, and each line's language. Languages are detected by the backend (a large
// statistical model in Python), so they show "auto" until a run reports them: from the node's own UI
// output when it sends one, else from a node showing its `languages` output (e.g. Preview Any).
// Without this file the node works the same with its plain textarea.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { findLanguageReport } from "./lib/graph_walk.js";
import {
  LOG_PREFIX, chainMethod, findWidget, forgetOutputs, frontendOnly, graphAccess, onOutput, warnOnce, watchOutputs,
} from "./common/comfy.js";
import { createLyricsPanel } from "./ui/lyrics_panel.js";

const NODE = "AceStepV1LyricsEncode";
const REFRESH_MS = 120;

/** Selects line `index` of a textarea and scrolls it into view. */
function selectLine(textarea, index) {
  const lines = textarea.value.split("\n");
  let start = 0;
  for (let i = 0; i < index && i < lines.length; i++) start += lines[i].length + 1;
  const end = start + (lines[index]?.length ?? 0);
  textarea.focus();
  textarea.setSelectionRange(start, end);
  const lh = parseFloat(getComputedStyle(textarea).lineHeight) || 16;
  textarea.scrollTop = Math.max(0, index * lh - textarea.clientHeight / 3);
}

function updateReport(node) {
  const editor = node.__acestepLyrics;
  if (!editor) return;
  try {
    const access = graphAccess(app, node.graph ?? app.graph);
    const self = access.node(node.id);
    if (self) editor.panel.setReport(findLanguageReport(access, self), findWidget(node, "language")?.value);
  } catch (err) {
    warnOnce("lyrics-report", "could not show the language report:", err);
  }
}

function chainCallback(widget, fn) {
  if (!widget) return;
  const previous = widget.callback;
  widget.callback = function (...args) {
    const result = previous?.apply(this, args);
    fn();
    return result;
  };
}

function attach(node) {
  if (node.__acestepLyrics) return;
  const lyrics = findWidget(node, "lyrics");
  const textarea = lyrics?.element ?? lyrics?.inputEl;
  if (!(textarea instanceof HTMLTextAreaElement) || typeof node.addDOMWidget !== "function") {
    warnOnce("lyrics-widget", `${NODE}: no lyrics textarea found; keeping the plain widget`);
    return;
  }
  const panel = createLyricsPanel(document, (i) => selectLine(textarea, i));
  const widget = node.addDOMWidget("lyrics_inspector", "acestep_v1_lyrics", panel.element, {
    getValue: () => "",
    setValue: () => {},
    getMinHeight: () => 120,
    margin: 6,
  });
  frontendOnly(widget);
  let timer = null;
  const refresh = () => {
    timer = null;
    try {
      panel.update(textarea.value);
    } catch (err) {
      warnOnce("lyrics-update", "lyrics editor update failed; the textarea still works:", err);
    }
  };
  const schedule = () => {
    if (timer === null) timer = setTimeout(refresh, REFRESH_MS);
  };
  textarea.addEventListener("input", schedule);
  chainCallback(lyrics, schedule); // values set by loading a workflow or by code
  chainCallback(findWidget(node, "language"), () => updateReport(node));
  node.__acestepLyrics = { panel, schedule };
  panel.update(textarea.value);
  updateReport(node);
}

app.registerExtension({
  name: "AceStepV1.LyricsEditor",
  async setup() {
    watchOutputs(api);
    onOutput(() => {
      for (const node of app.graph?.nodes ?? []) {
        if (node.__acestepLyrics) updateReport(node);
      }
    });
    console.log(LOG_PREFIX, "lyrics editor loaded (AceStepV1LyricsEncode)");
  },
  async beforeConfigureGraph() {
    forgetOutputs();
  },
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE) return;
    chainMethod(nodeType.prototype, "onNodeCreated", function () {
      attach(this);
    });
    chainMethod(nodeType.prototype, "onConfigure", function () {
      this.__acestepLyrics?.schedule();
    });
    chainMethod(nodeType.prototype, "onExecuted", function () {
      updateReport(this);
    });
  },
});
