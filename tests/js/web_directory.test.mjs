// The web directory as the frontend loads it: every *.js under js/ is imported as an ES module on page
// load, so each must parse, browser files must not import Node modules, and the pure helpers in js/lib
// must not touch the DOM or ComfyUI (they are what these tests import).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WEB = join(ROOT, "js");

function jsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? jsFiles(p) : name.endsWith(".js") ? [p] : [];
  });
}

const files = jsFiles(WEB);

test("the web directory has the extension entry points and helpers", () => {
  const names = files.map((f) => relative(WEB, f)).sort();
  for (const want of ["acestep_lyrics_editor.js", "acestep_region_picker.js", "lib/lyrics.js", "lib/regions.js",
    "lib/waveform.js", "lib/graph_walk.js", "lib/lyric_charset.js"]) {
    assert.ok(names.includes(want), `js/${want} missing`);
  }
  // no test file inside js/: the frontend would load it and node:test throws in the browser
  assert.ok(!names.some((n) => /test/i.test(n)), names.join(", "));
});

for (const file of files) {
  const rel = relative(WEB, file);
  test(`js/${rel} parses as an ES module and stays browser-safe`, () => {
    execFileSync(process.execPath, ["--check", file]);
    const src = readFileSync(file, "utf8");
    assert.ok(!/from\s+["']node:/.test(src) && !/require\(/.test(src), "imports a Node module");
    assert.ok(!/console\.error\(/.test(src), "console.error would fail the frontend check; use warnOnce");
    assert.ok(src.split("\n").length < 400, "keep one concern per file (under 400 lines)");
    if (rel.startsWith("lib/")) {
      assert.ok(!/\b(document|window|HTMLElement|localStorage)\b/.test(src), "lib/ must stay pure (no DOM)");
      assert.ok(!/scripts\/(app|api)\.js/.test(src), "lib/ must not import ComfyUI");
    }
  });
}

test("extensions register under the pack's AceStepV1. prefix", () => {
  const entries = files.filter((f) => dirname(f) === WEB);
  for (const f of entries) {
    const names = [...readFileSync(f, "utf8").matchAll(/registerExtension\(\{\s*name:\s*"([^"]+)"/g)].map((m) => m[1]);
    assert.equal(names.length, 1, `${relative(WEB, f)} registers one extension`);
    assert.match(names[0], /^AceStepV1\.[A-Za-z]+$/);
  }
});
