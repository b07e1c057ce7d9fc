// Pure logic behind the region picker's data: graph walks (source audio, estimated length, language
// report) on a fake graph, and waveform peaks.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  downstreamAudio, findLanguageReport, findResultAudio, findSourceAudio, latentSeconds, splitPath, upstreamNodes,
  viewQuery,
} from "../../js/lib/graph_walk.js";
import { frameToSeconds } from "../../js/lib/regions.js";
import { computePeaks, peakLevel, resamplePeaks } from "../../js/lib/waveform.js";

/** A tiny graph: nodes {id: {type, inputs: {name: type}, outputs: {name: type}, widgets}}, links [from, out, to, in]. */
function fakeGraph(nodes, links, outputs = {}) {
  const N = new Map();
  for (const [id, d] of Object.entries(nodes)) {
    N.set(Number(id), {
      id: Number(id),
      type: d.type,
      inputs: Object.entries(d.inputs ?? {}).map(([name, type]) => ({ name, type, link: null })),
      outputs: Object.entries(d.outputs ?? {}).map(([name, type]) => ({ name, type, links: [] })),
      widget: (name) => d.widgets?.[name],
    });
  }
  const L = new Map();
  links.forEach(([from, out, to, inp], i) => {
    const id = i + 1;
    const src = N.get(from);
    const dst = N.get(to);
    const os = src.outputs.findIndex((o) => o.name === out);
    const is = dst.inputs.findIndex((x) => x.name === inp);
    assert.ok(os >= 0 && is >= 0, `bad link ${from}.${out} -> ${to}.${inp}`);
    src.outputs[os].links.push(id);
    dst.inputs[is].link = id;
    L.set(id, { origin_id: from, origin_slot: os, target_id: to, target_slot: is });
  });
  return {
    node: (id) => N.get(Number(id)) ?? null,
    link: (id) => L.get(id) ?? null,
    output: (id) => outputs[id] ?? null,
  };
}

const LOAD = { type: "LoadAudio", outputs: { AUDIO: "AUDIO" }, widgets: { audio: "songs/example.flac" } };
const ENC = { type: "AceStepV1AudioToLatent", inputs: { model: "ACESTEP_V1_MODEL", audio: "AUDIO" }, outputs: { LATENT: "LATENT" } };
const REPAINT = { type: "AceStepV1RepaintRegion", inputs: { latent: "LATENT" }, outputs: { LATENT: "LATENT" } };
const SAMPLER = { type: "AceStepV1Sampler", inputs: { latent: "LATENT", noise: "NOISE" }, outputs: { LATENT: "LATENT" } };
const DECODE = { type: "AceStepV1LatentToAudio", inputs: { latent: "LATENT" }, outputs: { AUDIO: "AUDIO" } };
const SAVE = { type: "SaveAudio", inputs: { audio: "AUDIO" } };
const PREVIEW = { type: "PreviewAudio", inputs: { audio: "AUDIO" } };
const item = (filename, type = "output") => ({ audio: [{ filename, subfolder: "audio", type }] });

test("paths and /view queries", () => {
  assert.deepEqual(splitPath("a/b/song.flac"), { subfolder: "a/b", filename: "song.flac" });
  assert.deepEqual(splitPath("song.flac"), { subfolder: "", filename: "song.flac" });
  assert.equal(viewQuery({ filename: "my song.flac", subfolder: "", type: "input" }),
    "filename=my%20song.flac&type=input&subfolder=");
  assert.equal(viewQuery({ filename: "x.flac", subfolder: "audio/ACE-Step" }),
    "filename=x.flac&type=output&subfolder=audio%2FACE-Step");
});

test("repaint from LoadAudio: the source is the loaded file", () => {
  const g = fakeGraph({ 1: LOAD, 2: ENC, 3: REPAINT, 4: SAMPLER, 5: DECODE, 6: SAVE },
    [[1, "AUDIO", 2, "audio"], [2, "LATENT", 3, "latent"], [3, "LATENT", 4, "latent"], [4, "LATENT", 5, "latent"],
      [5, "AUDIO", 6, "audio"]], { 6: item("repaint_00001_.flac") });
  const src = findSourceAudio(g, g.node(3));
  assert.deepEqual(src, { kind: "file", nodeId: 1, item: { subfolder: "songs", filename: "example.flac", type: "input" } });
  assert.equal(latentSeconds(g, g.node(3)), null); // depends on the audio
  // the result downstream (same length for repaint)
  assert.deepEqual(findResultAudio(g, g.node(3)), { kind: "result", nodeId: 6, item: item("repaint_00001_.flac").audio[0] });
  assert.deepEqual(upstreamNodes(g, g.node(2)).map((n) => n.id), [1]);
});

test("chained extends: the previous stage's preview is the source; lengths add up before any run", () => {
  const EMPTY = { type: "AceStepV1EmptyLatent", outputs: { LATENT: "LATENT" }, widgets: { seconds: 60, batch_size: 1 } };
  const EXT = (left, right) => ({ type: "AceStepV1ExtendRegion", inputs: { latent: "LATENT" }, outputs: { LATENT: "LATENT" },
    widgets: { left_seconds: left, right_seconds: right } });
  const nodes = { 1: EMPTY, 2: SAMPLER, 3: DECODE, 4: PREVIEW, 5: EXT(0, 30), 6: SAMPLER, 7: DECODE, 8: PREVIEW, 9: EXT(5, 30) };
  const links = [[1, "LATENT", 2, "latent"], [2, "LATENT", 3, "latent"], [3, "AUDIO", 4, "audio"], [2, "LATENT", 5, "latent"],
    [5, "LATENT", 6, "latent"], [6, "LATENT", 7, "latent"], [7, "AUDIO", 8, "audio"], [6, "LATENT", 9, "latent"]];
  const before = fakeGraph(nodes, links);
  assert.equal(findSourceAudio(before, before.node(5)), null);
  const f = (s) => frameToSeconds(Math.trunc(s * 44100 / 4096));
  assert.ok(Math.abs(latentSeconds(before, before.node(5)) - f(60)) < 1e-9);
  assert.ok(Math.abs(latentSeconds(before, before.node(9)) - (f(60) + f(30))) < 1e-9);
  const after = fakeGraph(nodes, links, { 4: item("stage1.flac", "temp"), 8: item("stage2.flac", "temp") });
  assert.deepEqual(findSourceAudio(after, after.node(5)), { kind: "sibling", nodeId: 4, item: item("stage1.flac", "temp").audio[0] });
  assert.deepEqual(findSourceAudio(after, after.node(9)), { kind: "sibling", nodeId: 8, item: item("stage2.flac", "temp").audio[0] });
  // the region's own result is never taken as its source
  assert.equal(downstreamAudio(after, after.node(9)), null);
});

test("native empty latent and latent batch nodes pass the length through", () => {
  const g = fakeGraph({
    1: { type: "EmptyAceStepLatentAudio", outputs: { LATENT: "LATENT" }, widgets: { seconds: 10, batch_size: 2 } },
    2: { type: "RepeatLatentBatch", inputs: { samples: "LATENT" }, outputs: { LATENT: "LATENT" }, widgets: { amount: 2 } },
    3: REPAINT,
  }, [[1, "LATENT", 2, "samples"], [2, "LATENT", 3, "latent"]]);
  assert.equal(latentSeconds(g, g.node(3)), frameToSeconds(107));
  assert.equal(latentSeconds(g, g.node(1)), null); // no latent input
});

test("an upstream node that produced audio itself is used", () => {
  const g = fakeGraph({ 1: { type: "SomeAudioNode", outputs: { AUDIO: "AUDIO" } }, 2: ENC, 3: REPAINT },
    [[1, "AUDIO", 2, "audio"], [2, "LATENT", 3, "latent"]], { 1: item("made.flac") });
  assert.equal(findSourceAudio(g, g.node(3)).kind, "executed");
  const lonely = fakeGraph({ 3: REPAINT }, []);
  assert.equal(findSourceAudio(lonely, lonely.node(3)), null);
  assert.equal(latentSeconds(lonely, lonely.node(3)), null);
});

test("findLanguageReport: the node's own output, else Preview Any on its languages output", () => {
  const LYR = { type: "AceStepV1LyricsEncode", inputs: { model: "ACESTEP_V1_MODEL" },
    outputs: { lyrics: "ACESTEP_V1_LYRICS", languages: "STRING" } };
  const ANY = { type: "PreviewAny", inputs: { source: "*" } };
  const OTHER = { type: "AceStepV1Sampler", inputs: { lyrics: "ACESTEP_V1_LYRICS" } };
  const links = [[1, "languages", 2, "source"], [1, "lyrics", 3, "lyrics"]];
  const none = fakeGraph({ 1: LYR, 2: ANY, 3: OTHER }, links);
  assert.equal(findLanguageReport(none, none.node(1)), null);
  const viaPreview = fakeGraph({ 1: LYR, 2: ANY, 3: OTHER }, links, { 2: { text: ["en | hello"] }, 3: { text: ["not this"] } });
  assert.equal(findLanguageReport(viaPreview, viaPreview.node(1)), "en | hello");
  const own = fakeGraph({ 1: LYR, 2: ANY, 3: OTHER }, links, { 1: { languages: ["zh | 你好"] }, 2: { text: ["en | hello"] } });
  assert.equal(findLanguageReport(own, own.node(1)), "zh | 你好");
  const ownText = fakeGraph({ 1: LYR }, [], { 1: { text: "ja | x" } });
  assert.equal(findLanguageReport(ownText, ownText.node(1)), "ja | x");
});

test("computePeaks: min/max per bucket over all channels", () => {
  const left = Float32Array.from([0, 0.5, -0.25, 0.1, 0, 0, 0.9, -0.9]);
  const right = Float32Array.from([0, -0.6, 0, 0, 0.2, 0, 0, 0]);
  const p = computePeaks([left, right], 4);
  assert.equal(p.buckets, 4);
  assert.equal(p.length, 8);
  assert.deepEqual(Array.from(p.max), [0.5, 0.10000000149011612, 0.20000000298023224, 0.8999999761581421]);
  assert.deepEqual(Array.from(p.min), [-0.6000000238418579, -0.25, 0, -0.8999999761581421]);
  assert.ok(Math.abs(peakLevel(p) - 0.9) < 1e-6);
  // more buckets than samples: every bucket still covers a sample
  const many = computePeaks([Float32Array.from([1, -1])], 5);
  assert.equal(many.buckets, 5);
  assert.ok(Array.from(many.max).every((v) => v === 1 || v === -1));
  // no audio at all
  const empty = computePeaks([], 3);
  assert.deepEqual(Array.from(empty.max), [0, 0, 0]);
  assert.equal(peakLevel(empty), 1e-4);
});

test("resamplePeaks merges buckets into columns and keeps the extremes", () => {
  const p = computePeaks([Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i / 10))], 100);
  const r = resamplePeaks(p, 10);
  assert.equal(r.buckets, 10);
  assert.ok(Math.abs(Math.max(...r.max) - Math.max(...p.max)) < 1e-9);
  assert.ok(Math.abs(Math.min(...r.min) - Math.min(...p.min)) < 1e-9);
  const wide = resamplePeaks(p, 250); // stretching repeats buckets
  assert.equal(wide.buckets, 250);
  assert.equal(wide.max[0], p.max[0]);
});
