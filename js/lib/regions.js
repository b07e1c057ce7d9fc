// Time-region arithmetic for the repaint / extend region picker. Pure: no DOM, no ComfyUI.
//
// ACE-Step v1 works on latent frames of 4096 samples at 44.1 kHz (~92.9 ms). The nodes turn seconds
// into frames the way the original does, int(seconds * 44100 / 512 / 8) (truncation toward zero), so a
// picked region is snapped to that grid and written back as the smallest 2-decimal number that lands
// on the intended frame (the FLOAT widgets step in 0.01 s).

export const SAMPLE_RATE = 44100;
export const SAMPLES_PER_FRAME = 4096;
export const FRAME_SECONDS = SAMPLES_PER_FRAME / SAMPLE_RATE;
export const MAX_SECONDS = 240;
export const DECIMALS = 2;

export function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

export function roundTo(v, decimals = DECIMALS) {
  const p = 10 ** decimals;
  return Math.round(v * p) / p;
}

/** The latent frame a time falls in, computed as the original does (same float operations). */
export function secondsToFrame(seconds) {
  return Math.trunc(seconds * 44100 / 512 / 8);
}

export function frameToSeconds(frame) {
  return frame * SAMPLES_PER_FRAME / SAMPLE_RATE;
}

/** Latent frames of an audio of `seconds` as the encoder makes them (padded up to whole frames). */
export function framesForAudio(seconds) {
  return Math.ceil(seconds * SAMPLE_RATE / SAMPLES_PER_FRAME - 1e-9);
}

/** The smallest `decimals`-place value whose frame (secondsToFrame) is exactly `frame` (frame >= 0). */
export function frameToWidgetSeconds(frame, decimals = DECIMALS) {
  if (frame <= 0) return 0;
  const step = 10 ** -decimals;
  let v = roundTo(Math.ceil(frameToSeconds(frame) / step - 1e-7) * step, decimals);
  while (secondsToFrame(v) < frame) v = roundTo(v + step, decimals);
  while (v - step >= 0 && secondsToFrame(roundTo(v - step, decimals)) >= frame) v = roundTo(v - step, decimals);
  return v;
}

/** A time snapped to the nearest frame boundary, as a widget value, kept inside [lo, hi]. */
export function snapSeconds(seconds, lo = 0, hi = MAX_SECONDS) {
  let f = Math.max(0, Math.round(seconds / FRAME_SECONDS));
  let v = frameToWidgetSeconds(f);
  while (v > hi + 1e-9 && f > 0) v = frameToWidgetSeconds(--f);
  while (v < lo - 1e-9) v = frameToWidgetSeconds(++f);
  return v;
}

// ------------------------------------------------------------------------------ view (time <-> px)

/** A linear map of [t0, t1] seconds onto [x0, x0 + width] pixels. */
export function makeView(t0, t1, x0, width) {
  const span = t1 - t0;
  return { t0, t1: span > 0 ? t1 : t0 + 1, x0, width: Math.max(1, width) };
}

export function secondsToX(view, seconds) {
  return view.x0 + (seconds - view.t0) / (view.t1 - view.t0) * view.width;
}

/** The time under pixel `x`, clamped to the view. */
export function xToSeconds(view, x) {
  const t = view.t0 + (x - view.x0) / view.width * (view.t1 - view.t0);
  return clamp(t, view.t0, view.t1);
}

/** A tick spacing that puts roughly `target` ticks on `span` seconds. */
export function tickStep(span, target = 6) {
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120];
  for (const s of steps) if (span / s <= target) return s;
  return 240;
}

/** Tick times from t0 to t1 (multiples of the step). */
export function ticks(t0, t1, target = 6) {
  const step = tickStep(t1 - t0, target);
  const out = [];
  for (let k = Math.ceil(t0 / step - 1e-9); k * step <= t1 + 1e-9; k++) out.push(roundTo(k * step, 3) + 0);
  return out;
}

/** "0:05", "1:30", "12.5 s" (short times keep tenths). */
export function formatSeconds(seconds, { precise = false } = {}) {
  const sign = seconds < 0 ? "-" : "";
  const s = Math.abs(seconds);
  if (s < 60) {
    const digits = precise ? 2 : (s < 10 && s % 1 !== 0 ? 1 : 0);
    return `${sign}${s.toFixed(digits)} s`;
  }
  const m = Math.floor(s / 60);
  const rest = s - 60 * m;
  const sec = precise ? rest.toFixed(2).padStart(5, "0") : String(Math.floor(rest)).padStart(2, "0");
  return `${sign}${m}:${sec}`;
}

// ------------------------------------------------------------------------------ repaint

/** The model's longest song in frames (int(240 s * 44100 / 4096) = 2583). */
export const MAX_FRAMES = secondsToFrame(MAX_SECONDS);

/**
 * Bounds of a repaint range: inside the song when its length is known (up to its last, possibly
 * partial, latent frame, as the node allows), else inside 240 s.
 */
export function repaintLimits(duration) {
  const known = Number.isFinite(duration) && duration > 0;
  return {
    lo: 0,
    hi: known ? Math.min(duration, MAX_SECONDS) : MAX_SECONDS,
    hiFrame: known ? Math.min(framesForAudio(duration), MAX_FRAMES) : MAX_FRAMES,
    known,
  };
}

/** The time span to draw for a repaint picker. */
export function repaintSpan(duration, region) {
  if (Number.isFinite(duration) && duration > 0) return [0, Math.min(duration, MAX_SECONDS)];
  const end = Math.max(region?.end ?? 0, region?.start ?? 0);
  return [0, clamp(Math.ceil(Math.max(30, end * 1.25) / 10) * 10, 10, MAX_SECONDS)];
}

/** What a pointer-down at pixel x grabs: an edge ("start"/"end"), the range ("move") or a new range. */
export function hitRepaint(view, region, x, tolerance = 6) {
  const xs = secondsToX(view, region.start);
  const xe = secondsToX(view, region.end);
  const ds = Math.abs(x - xs);
  const de = Math.abs(x - xe);
  if (Math.min(ds, de) <= tolerance) return ds < de || (ds === de && x < xs) ? "start" : "end";
  if (x > xs && x < xe) return "move";
  return "new";
}

/** The frame boundary nearest to time t; the song's very end maps to its last (partial) frame. */
function frameAt(t, limits) {
  if (limits.known && t >= limits.hi - 1e-6) return limits.hiFrame;
  return clamp(Math.round(t / FRAME_SECONDS), 0, limits.hiFrame);
}

function dragRepaintFree(kind, from, anchor, at, limits) {
  const lo = limits.lo;
  const hi = limits.known ? frameToWidgetSeconds(limits.hiFrame) : limits.hi;
  let { start, end } = from;
  if (kind === "new") {
    start = Math.min(anchor, at);
    end = Math.max(anchor, at, start + 0.01);
  } else if (kind === "start") {
    start = Math.min(at, end - 0.01);
  } else if (kind === "end") {
    end = Math.max(at, start + 0.01);
  } else if (kind === "move") {
    const len = from.end - from.start;
    start = clamp(from.start + (at - anchor), lo, Math.max(lo, hi - len));
    end = start + len;
  }
  return { start: roundTo(clamp(start, lo, hi)), end: roundTo(clamp(end, lo, hi)) };
}

/**
 * The range after dragging: `kind` from hitRepaint, `anchor` the time where the drag started,
 * `at` the time under the pointer now, `from` the range when the drag started. Works in latent frames
 * (at least one frame, inside the limits) unless `snap` is false; an edge that is not dragged keeps
 * its value.
 */
export function dragRepaint(kind, from, anchor, at, limits, { snap = true } = {}) {
  if (!snap) return dragRepaintFree(kind, from, anchor, at, limits);
  const hiF = limits.hiFrame;
  let f0 = secondsToFrame(from.start);
  let f1 = secondsToFrame(from.end);
  if (kind === "new") {
    const a = frameAt(anchor, limits);
    const b = frameAt(at, limits);
    f0 = Math.min(a, b);
    f1 = Math.max(a, b);
    if (f1 === f0) {
      if (f1 < hiF) f1 += 1;
      else f0 -= 1;
    }
    return { start: frameToWidgetSeconds(f0), end: frameToWidgetSeconds(f1) };
  }
  if (kind === "start") {
    return { start: frameToWidgetSeconds(clamp(frameAt(at, limits), 0, Math.max(0, f1 - 1))), end: from.end };
  }
  if (kind === "end") {
    return { start: from.start, end: frameToWidgetSeconds(clamp(frameAt(at, limits), Math.min(hiF, f0 + 1), hiF)) };
  }
  if (kind === "move") {
    const len = Math.max(1, f1 - f0);
    const g0 = clamp(Math.round((from.start + (at - anchor)) / FRAME_SECONDS), 0, Math.max(0, hiF - len));
    return { start: frameToWidgetSeconds(g0), end: frameToWidgetSeconds(g0 + len) };
  }
  return { ...from };
}

// ------------------------------------------------------------------------------ extend

/**
 * How much one side may add, in seconds: at most the song's own length, and 240 s in total.
 * `other` is the current amount on the opposite side.
 */
export function extendMax(duration, other = 0) {
  if (!(Number.isFinite(duration) && duration > 0)) return MAX_SECONDS;
  return Math.max(0, Math.min(duration, MAX_SECONDS - duration - other));
}

/** The same bound in latent frames (the node checks frames: a side may add up to the source's frames). */
export function extendMaxFrames(duration, other = 0) {
  if (!(Number.isFinite(duration) && duration > 0)) return MAX_FRAMES;
  const src = framesForAudio(duration);
  return Math.max(0, Math.min(src, MAX_FRAMES - src - secondsToFrame(other)));
}

/** The time span to draw for an extend picker: [-left room, song + right room]. */
export function extendSpan(duration, state) {
  const known = Number.isFinite(duration) && duration > 0;
  const d = known ? Math.min(duration, MAX_SECONDS) : Math.max(10, state.left, state.right);
  const room = known ? Math.max(Math.min(d, MAX_SECONDS - d), 0.5) : d;
  return { t0: -Math.max(state.left, room), t1: d + Math.max(state.right, room), duration: d, known };
}

/** Which side a pointer-down at pixel x grabs ("left", "right"), or null over the song itself. */
export function hitExtend(view, state, duration, x, tolerance = 6) {
  const xl = secondsToX(view, -state.left);
  const xr = secondsToX(view, duration + state.right);
  if (Math.abs(x - xl) <= tolerance) return "left";
  if (Math.abs(x - xr) <= tolerance) return "right";
  if (x < secondsToX(view, 0)) return "left";
  if (x > secondsToX(view, duration)) return "right";
  return null;
}

/**
 * The amounts after dragging `side` to time `at` (song time: 0 = its start, `duration` = its end).
 * With `known: false` the duration is only where the song is drawn, and only the 240 s bound applies.
 */
export function dragExtend(side, from, at, duration, { snap = true, known = true } = {}) {
  const d = Number.isFinite(duration) && duration > 0 ? duration : 0;
  const limit = known ? duration : null;
  const amount = side === "left" ? Math.max(0, -at) : Math.max(0, at - d);
  const other = side === "left" ? from.right : from.left;
  let v;
  if (snap) {
    v = frameToWidgetSeconds(clamp(Math.round(amount / FRAME_SECONDS), 0, extendMaxFrames(limit, other)));
  } else {
    v = roundTo(clamp(amount, 0, extendMax(limit, other)));
  }
  if (side === "left") return { left: v, right: from.right };
  if (side === "right") return { left: from.left, right: v };
  return { ...from };
}
