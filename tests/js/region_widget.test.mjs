// The region picker widget on a recording fake canvas: it draws without throwing, and pointer drags set
// the node's widgets through env.setValue (snapped to latent frames).
import { test } from "node:test";
import assert from "node:assert/strict";

import { secondsToFrame } from "../../js/lib/regions.js";
import { computePeaks } from "../../js/lib/waveform.js";
import { createRegionWidget } from "../../js/ui/region_widget.js";

function fakeCtx() {
  const calls = [];
  const handler = {
    get(target, prop) {
      if (prop in target) return target[prop];
      return (...args) => calls.push([prop, ...args]);
    },
    set(target, prop, value) {
      target[prop] = value;
      return true;
    },
  };
  return { ctx: new Proxy({ calls }, handler), calls };
}

function setup(mode, values, source, peaks = { state: "ready", data: null }) {
  const set = [];
  const errors = [];
  const env = {
    mode,
    getValue: (name) => values[name],
    setValue: (name, v) => {
      values[name] = v;
      set.push([name, v]);
    },
    isLocked: () => false,
    source: () => source,
    peaks: () => peaks,
    redraw: () => {},
    onError: (err) => errors.push(err),
  };
  return { widget: createRegionWidget(env), set, errors, values };
}

const WIDTH = 324; // plot from x=12 to x=312: 300 px
const ready = (seconds) => ({
  state: "ready",
  data: { duration: seconds, peaks: computePeaks([Float32Array.from({ length: 4410 }, (_, i) => Math.sin(i))], 256) },
});
const xAt = (t, t0, t1) => 12 + (t - t0) / (t1 - t0) * 300;
const ev = (type, extra = {}) => ({ type, shiftKey: false, ...extra });

test("draws a waveform, a duration bar, or a hint without errors", () => {
  for (const [mode, values] of [["repaint", { start_seconds: 0.5, end_seconds: 2 }],
    ["extend", { left_seconds: 1, right_seconds: 2.5 }]]) {
    for (const peaks of [ready(3), { state: "loading" }, { state: "failed", error: "HTTP 404" }, null]) {
      const source = peaks ? { url: "/view?x", label: "example.flac" } : { url: null, label: "no audio yet", estimate: 60 };
      const { widget, errors } = setup(mode, { ...values }, source, peaks);
      const { ctx, calls } = fakeCtx();
      widget.draw(ctx, {}, WIDTH, 40, 20);
      assert.deepEqual(errors, [], `${mode} ${peaks?.state}`);
      assert.ok(calls.some((c) => c[0] === "fillText"), "draws text");
      assert.equal(calls.filter((c) => c[0] === "save").length, calls.filter((c) => c[0] === "restore").length);
    }
  }
  const { widget } = setup("repaint", { start_seconds: 0, end_seconds: 1 }, { url: null });
  assert.deepEqual(widget.computeSize(300), [300, 124]);
  assert.equal(widget.serialize, false);
  assert.equal(widget.options.serialize, false);
});

test("repaint: dragging across the waveform sets a new snapped range", () => {
  const { widget, set, values } = setup("repaint", { start_seconds: 0.5, end_seconds: 2 },
    { url: "/view?x", label: "example.flac" }, ready(3));
  widget.draw(fakeCtx().ctx, {}, WIDTH, 40, 20);
  const y = 40 + 22 + 30;
  assert.equal(widget.mouse(ev("pointerdown"), [xAt(2.3, 0, 3), y]), true);
  assert.equal(widget.pickerState().dragging, true);
  widget.mouse(ev("pointermove"), [xAt(2.6, 0, 3), y]);
  widget.mouse(ev("pointerup"), [xAt(2.9, 0, 3), y]);
  assert.equal(widget.pickerState().dragging, false);
  assert.equal(secondsToFrame(values.start_seconds), Math.round(2.3 / (4096 / 44100)));
  assert.equal(secondsToFrame(values.end_seconds), Math.round(2.9 / (4096 / 44100)));
  assert.ok(set.length >= 2);
  // a click below the plot is not ours
  assert.equal(widget.mouse(ev("pointerdown"), [100, 40 + 200]), false);
});

test("repaint: a click without a drag keeps the range", () => {
  const { widget, values } = setup("repaint", { start_seconds: 0.5, end_seconds: 2 }, { url: "/view?x" }, ready(3));
  widget.draw(fakeCtx().ctx, {}, WIDTH, 0, 20);
  widget.mouse(ev("pointerdown"), [xAt(2.7, 0, 3), 50]);
  widget.mouse(ev("pointerup"), [xAt(2.7, 0, 3), 50]);
  assert.deepEqual(values, { start_seconds: 0.5, end_seconds: 2 });
});

test("extend: dragging the right edge sets right_seconds only", () => {
  const { widget, values } = setup("extend", { left_seconds: 1, right_seconds: 2.5 },
    { url: "/view?x", label: "example.flac" }, ready(3));
  widget.draw(fakeCtx().ctx, {}, WIDTH, 0, 20);
  // a 3 s song: the view spans -3 .. 6 s
  widget.mouse(ev("pointerdown"), [xAt(5.5, -3, 6), 50]);
  widget.mouse(ev("pointermove"), [xAt(4.5, -3, 6), 50]);
  widget.mouse(ev("pointerup"), [xAt(4.0, -3, 6), 50]);
  assert.equal(values.left_seconds, 1);
  assert.equal(secondsToFrame(values.right_seconds), Math.round(1.0 / (4096 / 44100)));
  // over the song itself nothing is grabbed
  assert.equal(widget.mouse(ev("pointerdown"), [xAt(1.5, -3, 6), 50]), false);
});

test("a locked picker (widgets driven by links) ignores the pointer; failures go to onError", () => {
  const values = { start_seconds: 0.5, end_seconds: 2 };
  const errors = [];
  const widget = createRegionWidget({
    mode: "repaint", getValue: (n) => values[n], setValue: () => assert.fail("no value may be set"),
    isLocked: () => true, source: () => ({ url: null }), peaks: () => null, redraw: () => {},
    onError: (e) => errors.push(e),
  });
  widget.draw(fakeCtx().ctx, {}, WIDTH, 0, 20);
  assert.equal(widget.mouse(ev("pointerdown"), [100, 50]), false);
  const broken = createRegionWidget({
    mode: "repaint", getValue: () => { throw new Error("boom"); }, setValue: () => {}, isLocked: () => false,
    source: () => ({ url: null }), peaks: () => null, redraw: () => {}, onError: (e) => errors.push(e),
  });
  broken.draw(fakeCtx().ctx, {}, WIDTH, 0, 20);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /boom/);
});
