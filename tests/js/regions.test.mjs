// Pure logic of the region picker: seconds <-> frames <-> pixels, snapping, clamping, drags.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  FRAME_SECONDS, MAX_FRAMES, MAX_SECONDS, clamp, dragExtend, dragRepaint, extendMax, extendMaxFrames, extendSpan,
  formatSeconds,
  frameToSeconds, frameToWidgetSeconds, framesForAudio, hitExtend, hitRepaint, makeView, repaintLimits,
  repaintSpan, secondsToFrame, secondsToX, snapSeconds, tickStep, ticks, xToSeconds,
} from "../../js/lib/regions.js";

test("a latent frame is 4096 samples at 44.1 kHz; seconds -> frame truncates like the original", () => {
  assert.equal(FRAME_SECONDS, 4096 / 44100);
  assert.equal(secondsToFrame(60), 645); // int(60 * 44100 / 512 / 8) = 645 (spec §5.2)
  assert.equal(secondsToFrame(10), 107);
  assert.equal(secondsToFrame(120), 1291);
  assert.equal(secondsToFrame(0.09), 0);
  assert.equal(secondsToFrame(-2.5), -26); // toward zero, as Python's int()
  assert.equal(frameToSeconds(645), 645 * 4096 / 44100);
  assert.equal(framesForAudio(3.0), 33); // the encoder pads 132300 samples up to 33 frames
  assert.equal(framesForAudio(frameToSeconds(10)), 10);
});

test("frameToWidgetSeconds: the smallest 0.01 s value that lands on the frame", () => {
  for (let f = 0; f <= 2583; f++) {
    const v = frameToWidgetSeconds(f);
    assert.equal(secondsToFrame(v), f, `frame ${f} -> ${v}`);
    assert.equal(Math.round(v * 100), v * 100 > 0 ? Math.round(v * 100) : 0);
    assert.ok(Math.abs(v * 100 - Math.round(v * 100)) < 1e-6, `${v} has 2 decimals`);
    if (v >= 0.01) assert.ok(secondsToFrame(Math.round(v * 100 - 1) / 100) < f, `${v} is the smallest`);
  }
  assert.equal(frameToWidgetSeconds(0), 0);
  assert.equal(frameToWidgetSeconds(1), 0.1); // 0.0929 s rounds up to 0.10
  assert.equal(frameToWidgetSeconds(441), 40.96); // 441 frames = exactly 40.96 s
});

test("snapSeconds snaps to the nearest frame and stays inside the bounds", () => {
  assert.equal(snapSeconds(0), 0);
  assert.equal(snapSeconds(0.04), 0);
  assert.equal(snapSeconds(0.05), 0.1);
  assert.equal(snapSeconds(30), frameToWidgetSeconds(Math.round(30 / FRAME_SECONDS)));
  assert.equal(secondsToFrame(snapSeconds(12.345)), Math.round(12.345 / FRAME_SECONDS));
  assert.ok(snapSeconds(2.99, 0, 3.0) <= 3.0);
  assert.equal(snapSeconds(2.99, 0, 3.0), 2.98);
  assert.ok(snapSeconds(0.01, 0.5, 3) >= 0.5);
  assert.equal(snapSeconds(-5), 0);
  assert.ok(snapSeconds(1000) >= MAX_SECONDS - FRAME_SECONDS && snapSeconds(1000) <= MAX_SECONDS);
});

test("pixels <-> seconds", () => {
  const v = makeView(0, 60, 10, 300);
  assert.equal(secondsToX(v, 0), 10);
  assert.equal(secondsToX(v, 60), 310);
  assert.equal(secondsToX(v, 30), 160);
  assert.equal(xToSeconds(v, 160), 30);
  assert.equal(xToSeconds(v, -50), 0); // clamped to the view
  assert.equal(xToSeconds(v, 1000), 60);
  const e = makeView(-3, 6, 0, 90);
  assert.equal(secondsToX(e, 0), 30);
  assert.equal(xToSeconds(e, 0), -3);
  for (const x of [0, 17, 45.5, 90]) assert.ok(Math.abs(secondsToX(e, xToSeconds(e, x)) - x) < 1e-9);
  // a degenerate span still maps
  assert.ok(Number.isFinite(secondsToX(makeView(5, 5, 0, 0), 5)));
});

test("ticks and time labels", () => {
  assert.equal(tickStep(3), 0.5);
  assert.equal(tickStep(60), 10);
  assert.equal(tickStep(240), 60);
  assert.deepEqual(ticks(0, 3), [0, 0.5, 1, 1.5, 2, 2.5, 3]);
  assert.deepEqual(ticks(-3, 6, 5), [-2, 0, 2, 4, 6]);
  assert.deepEqual(ticks(-3, 6, 4), [0, 5]);
  assert.equal(formatSeconds(2.5), "2.5 s");
  assert.equal(formatSeconds(30), "30 s");
  assert.equal(formatSeconds(95), "1:35");
  assert.equal(formatSeconds(-1.5), "-1.5 s");
  assert.equal(formatSeconds(2.04, { precise: true }), "2.04 s");
  assert.equal(formatSeconds(125.5, { precise: true }), "2:05.50");
  assert.equal(clamp(5, 0, 3), 3);
});

test("repaint span and limits follow the song's length when known", () => {
  assert.deepEqual(repaintSpan(3.0, { start: 0.5, end: 2 }), [0, 3.0]);
  assert.deepEqual(repaintSpan(null, { start: 0, end: 30 }), [0, 40]);
  assert.deepEqual(repaintSpan(undefined, { start: 0, end: 5 }), [0, 30]);
  assert.deepEqual(repaintSpan(500, { start: 0, end: 5 }), [0, MAX_SECONDS]);
  // a 3 s file is 33 latent frames (the last one partial): the range may end there
  assert.deepEqual(repaintLimits(3.0), { lo: 0, hi: 3.0, hiFrame: 33, known: true });
  assert.deepEqual(repaintLimits(null), { lo: 0, hi: MAX_SECONDS, hiFrame: MAX_FRAMES, known: false });
  assert.equal(MAX_FRAMES, 2583);
});

test("hitRepaint: edges within the tolerance, inside moves, outside starts a new range", () => {
  const v = makeView(0, 10, 0, 100); // 10 px per second
  const r = { start: 2, end: 5 };
  assert.equal(hitRepaint(v, r, 20), "start");
  assert.equal(hitRepaint(v, r, 24), "start");
  assert.equal(hitRepaint(v, r, 51), "end");
  assert.equal(hitRepaint(v, r, 35), "move");
  assert.equal(hitRepaint(v, r, 80), "new");
  assert.equal(hitRepaint(v, r, 5), "new");
  // a zero-length range: grabbing it on the left takes the start, on the right the end
  assert.equal(hitRepaint(v, { start: 3, end: 3 }, 29), "start");
  assert.equal(hitRepaint(v, { start: 3, end: 3 }, 31), "end");
});

const frames = (r) => [secondsToFrame(r.start), secondsToFrame(r.end)];

test("dragRepaint: a new range is snapped to frames, clamped, and at least one frame long", () => {
  const lim = repaintLimits(10);
  const from = { start: 2, end: 5 };
  const n = dragRepaint("new", from, 6.2, 3.1, lim);
  assert.deepEqual(frames(n), [Math.round(3.1 / FRAME_SECONDS), Math.round(6.2 / FRAME_SECONDS)]);
  assert.equal(n.start, frameToWidgetSeconds(frames(n)[0]));
  // dragging to (or past) the song's end takes the last frame, which the node accepts
  const past = dragRepaint("new", from, 4, 10, lim);
  assert.equal(secondsToFrame(past.end), framesForAudio(10));
  // a click without a drag still gives one frame
  const click = dragRepaint("new", from, 4, 4, lim);
  assert.equal(secondsToFrame(click.end) - secondsToFrame(click.start), 1);
  const atEnd = dragRepaint("new", from, 10, 10, lim);
  assert.equal(secondsToFrame(atEnd.end) - secondsToFrame(atEnd.start), 1);
  assert.equal(secondsToFrame(atEnd.end), framesForAudio(10));
});

test("dragRepaint: an edge stops one frame before the other, which keeps its value", () => {
  const lim = repaintLimits(10);
  const from = { start: 2, end: 5 };
  const s = dragRepaint("start", from, 2, 9, lim);
  assert.equal(s.end, 5);
  assert.equal(secondsToFrame(s.start), secondsToFrame(5) - 1);
  const e = dragRepaint("end", from, 5, 0, lim);
  assert.equal(e.start, 2);
  assert.equal(secondsToFrame(e.end), secondsToFrame(2) + 1);
  const e2 = dragRepaint("end", from, 5, 7.5, lim);
  assert.equal(secondsToFrame(e2.end), Math.round(7.5 / FRAME_SECONDS));
  const s0 = dragRepaint("start", from, 2, -1, lim);
  assert.equal(s0.start, 0);
});

test("dragRepaint: moving keeps the length in frames and stays inside the song", () => {
  const lim = repaintLimits(10);
  const from = { start: 2, end: 5 };
  const len = secondsToFrame(5) - secondsToFrame(2);
  const m = dragRepaint("move", from, 3, 4, lim);
  assert.equal(secondsToFrame(m.end) - secondsToFrame(m.start), len);
  assert.equal(secondsToFrame(m.start), Math.round(3 / FRAME_SECONDS));
  const far = dragRepaint("move", from, 3, 100, lim);
  assert.equal(secondsToFrame(far.end), lim.hiFrame);
  assert.equal(secondsToFrame(far.end) - secondsToFrame(far.start), len);
  const neg = dragRepaint("move", from, 3, -100, lim);
  assert.equal(neg.start, 0);
  assert.deepEqual(dragRepaint("other", from, 3, 4, lim), from);
});

test("dragRepaint without snapping (shift held): plain 0.01 s values", () => {
  const lim = repaintLimits(10);
  assert.deepEqual(dragRepaint("new", { start: 2, end: 5 }, 1.234, 2.345, lim, { snap: false }), { start: 1.23, end: 2.35 });
  assert.deepEqual(dragRepaint("start", { start: 2, end: 5 }, 2, 9, lim, { snap: false }), { start: 4.99, end: 5 });
  assert.deepEqual(dragRepaint("end", { start: 2, end: 5 }, 5, 99, lim, { snap: false }), { start: 2, end: 10.04 }); // up to the last frame, 108
  const m = dragRepaint("move", { start: 2, end: 5 }, 3, 3.5, lim, { snap: false });
  assert.deepEqual(m, { start: 2.5, end: 5.5 });
});

test("extend: each side at most the song's length, 240 s in total", () => {
  assert.equal(extendMax(3), 3);
  assert.equal(extendMax(100), 100);
  assert.equal(extendMax(100, 30), 100);
  assert.equal(extendMax(120, 30), 90);
  assert.equal(extendMax(200), 40);
  assert.equal(extendMax(240), 0);
  assert.equal(extendMax(null), MAX_SECONDS);
  assert.equal(extendMaxFrames(3), 33);
  assert.equal(extendMaxFrames(200, 10), MAX_FRAMES - framesForAudio(200) - secondsToFrame(10));
  const span = extendSpan(3, { left: 1, right: 2.5 });
  assert.deepEqual([span.t0, span.t1, span.duration, span.known], [-3, 6, 3, true]);
  const big = extendSpan(180, { left: 0, right: 30 });
  assert.deepEqual([big.t0, big.t1], [-60, 240]);
  const unknown = extendSpan(null, { left: 0, right: 30 });
  assert.equal(unknown.known, false);
  assert.equal(unknown.duration, 30);
  assert.ok(unknown.t1 >= unknown.duration + 30);
});

test("hitExtend and dragExtend set left/right from the pointer", () => {
  const v = makeView(-3, 6, 0, 90); // 10 px per second, song from x=30 to x=60
  const st = { left: 1, right: 2.5 };
  assert.equal(hitExtend(v, st, 3, 20), "left"); // the left handle at -1 s
  assert.equal(hitExtend(v, st, 3, 5), "left"); // left of the song
  assert.equal(hitExtend(v, st, 3, 85), "right"); // the right handle at 5.5 s
  assert.equal(hitExtend(v, st, 3, 70), "right");
  assert.equal(hitExtend(v, st, 3, 45), null); // over the song itself
  const l = dragExtend("left", st, -2.2, 3);
  assert.equal(l.right, 2.5);
  assert.equal(secondsToFrame(l.left), Math.round(2.2 / FRAME_SECONDS));
  const r = dragExtend("right", st, 4.0, 3);
  assert.equal(r.left, 1);
  assert.equal(secondsToFrame(r.right), Math.round(1.0 / FRAME_SECONDS));
  // clamped: not more than the song's frames, not below zero
  assert.equal(secondsToFrame(dragExtend("right", st, 100, 3).right), 33);
  assert.equal(dragExtend("right", st, 1, 3).right, 0);
  assert.equal(secondsToFrame(dragExtend("left", st, -100, 3).left), 33);
  assert.deepEqual(dragExtend(null, st, 1, 3), st);
  // a 200 s song may grow by about 40 s in total
  const long = dragExtend("right", { left: 10, right: 0 }, 500, 200);
  assert.equal(secondsToFrame(long.right), MAX_FRAMES - framesForAudio(200) - secondsToFrame(10));
  // unknown length: only the 240 s bound (the song is drawn 30 s long here)
  assert.equal(dragExtend("right", { left: 0, right: 0 }, 45, null).right, frameToWidgetSeconds(Math.round(45 / FRAME_SECONDS)));
  assert.equal(dragExtend("right", { left: 0, right: 0 }, 75, 30, { known: false }).right,
    frameToWidgetSeconds(Math.round(45 / FRAME_SECONDS)));
  assert.equal(secondsToFrame(dragExtend("right", { left: 0, right: 0 }, 75, 30).right), framesForAudio(30));
  assert.deepEqual(dragExtend("left", st, -1.234, 3, { snap: false }), { left: 1.23, right: 2.5 });
});
