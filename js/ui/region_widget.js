// The region picker: a canvas widget drawn under the FLOAT widgets of the repaint / extend nodes. It shows
// the source audio's waveform (or a plain duration bar) and lets the user drag the region; dragging only
// *sets* the node's real FLOAT widgets, which stay what is saved and sent to the backend.

import {
  FRAME_SECONDS, dragExtend, dragRepaint, extendMax, extendSpan, formatSeconds, hitExtend, hitRepaint,
  makeView, repaintLimits, repaintSpan, secondsToX, ticks, xToSeconds,
} from "../lib/regions.js";
import { peakLevel, resamplePeaks } from "../lib/waveform.js";

const HEIGHT = 124;
const PAD = 12;
const HEADER = 18;
const PLOT_H = 68;
const AXIS_H = 18;
const SOURCE_REFRESH_MS = 400;

const COLORS = {
  bg: "#181818",
  frame: "#3a3a3a",
  wave: "#55779a",
  waveOn: "#ffd27a",
  bar: "#2c3440",
  region: "rgba(255, 176, 46, 0.24)",
  edge: "#ffb02e",
  ext: "rgba(90, 200, 140, 0.22)",
  extEdge: "#5ac88c",
  text: "#d0d0d0",
  dim: "#8a8a8a",
  warn: "#ff8a65",
};

const fmt = (s) => formatSeconds(s, { precise: true });

export const FIELDS = {
  repaint: ["start_seconds", "end_seconds"],
  extend: ["left_seconds", "right_seconds"],
};

/**
 * A LiteGraph custom widget for `node`.
 * env = {mode: "repaint"|"extend", getValue(name), setValue(name, v), isLocked(), source(): {url, label,
 *        estimate, hint}, peaks(url, onReady): {state, data?, error?}, redraw(), onError(err)}
 */
export function createRegionWidget(env) {
  const [aName, bName] = FIELDS[env.mode];
  let lastSourceAt = -Infinity;
  let source = null;
  let geo = null;
  let drag = null;
  const onReady = () => env.redraw();

  function currentSource() {
    const now = globalThis.performance?.now?.() ?? Date.now();
    if (now - lastSourceAt > SOURCE_REFRESH_MS || !source) {
      lastSourceAt = now;
      try {
        source = env.source() ?? { url: null };
      } catch {
        source = { url: null };
      }
    }
    const entry = source.url ? env.peaks(source.url, onReady) : null;
    const ready = entry?.state === "ready" ? entry.data : null;
    const duration = ready ? ready.duration : source.estimate ?? null;
    return { ...source, entry, ready, duration };
  }

  function values() {
    return { a: Number(env.getValue(aName)) || 0, b: Number(env.getValue(bName)) || 0 };
  }

  function layout(width, y, src, v) {
    const x0 = PAD;
    const w = Math.max(20, width - 2 * PAD);
    let t0;
    let t1;
    let duration = src.duration;
    let known = Number.isFinite(duration) && duration > 0;
    if (env.mode === "repaint") {
      [t0, t1] = repaintSpan(src.duration, { start: v.a, end: v.b });
    } else {
      ({ t0, t1, duration, known } = extendSpan(src.duration, { left: v.a, right: v.b }));
    }
    return { x0, w, y, top: y + HEADER + 4, view: makeView(t0, t1, x0, w), duration, known };
  }

  function drawWave(ctx, g, src, from, to, colorFor) {
    const { view, top } = g;
    const x1 = secondsToX(view, from);
    const x2 = secondsToX(view, to);
    const cols = Math.max(1, Math.round(x2 - x1));
    const mid = top + PLOT_H / 2;
    if (src.ready) {
      const peaks = resamplePeaks(src.ready.peaks, cols);
      const level = peakLevel(src.ready.peaks);
      const half = PLOT_H / 2 - 3;
      for (let i = 0; i < cols; i++) {
        const x = x1 + i + 0.5;
        const lo = Math.max(-1, peaks.min[i] / level);
        const hi = Math.min(1, peaks.max[i] / level);
        ctx.strokeStyle = colorFor(xToSeconds(view, x));
        ctx.beginPath();
        ctx.moveTo(x, mid - hi * half - 0.5);
        ctx.lineTo(x, mid - lo * half + 0.5);
        ctx.stroke();
      }
    } else {
      ctx.fillStyle = COLORS.bar;
      ctx.fillRect(x1, top + PLOT_H * 0.3, Math.max(1, x2 - x1), PLOT_H * 0.4);
      const msg = src.entry?.state === "loading" ? "loading waveform\u2026"
        : src.entry?.state === "failed" ? `no waveform (${src.entry.error})`
          : src.hint ?? "run the workflow to see the waveform";
      ctx.font = "10px sans-serif";
      ctx.fillStyle = COLORS.dim;
      ctx.textAlign = "center";
      ctx.fillText(msg, g.x0 + g.w / 2, top + PLOT_H - 5, g.w - 8);
    }
  }

  function drawAxis(ctx, g) {
    const { view, top } = g;
    const yAxis = top + PLOT_H;
    ctx.strokeStyle = COLORS.frame;
    ctx.fillStyle = COLORS.dim;
    ctx.textAlign = "center";
    ctx.font = "10px sans-serif";
    for (const t of ticks(view.t0, view.t1, Math.max(2, Math.floor(view.width / 70)))) {
      const x = secondsToX(view, t);
      ctx.beginPath();
      ctx.moveTo(x, yAxis);
      ctx.lineTo(x, yAxis + 4);
      ctx.stroke();
      ctx.fillText(formatSeconds(t), x, yAxis + 14);
    }
  }

  function drawEdge(ctx, x, top, color) {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + PLOT_H);
    ctx.stroke();
    ctx.lineWidth = 1;
    ctx.fillStyle = color;
    ctx.fillRect(x - 3, top + PLOT_H / 2 - 8, 6, 16);
  }

  function header(ctx, g, left, right, warn) {
    ctx.font = "11px sans-serif";
    ctx.textAlign = "left";
    ctx.fillStyle = warn ? COLORS.warn : COLORS.text;
    ctx.fillText(left, g.x0, g.y + 13, g.w * 0.62);
    ctx.textAlign = "right";
    ctx.fillStyle = COLORS.dim;
    ctx.fillText(right, g.x0 + g.w, g.y + 13, g.w * 0.38);
  }

  function sourceLabel(src) {
    const name = src.label ?? (src.url ? "audio" : "no audio");
    if (src.ready) return `${name} \u00b7 ${fmt(src.ready.duration)}`;
    if (src.estimate != null) return `${name} \u00b7 ~${fmt(src.estimate)}`;
    return `${name} \u00b7 length unknown`;
  }

  function drawRepaint(ctx, g, src, v) {
    const { view, top } = g;
    const xs = secondsToX(view, v.a);
    const xe = secondsToX(view, v.b);
    const known = Number.isFinite(src.duration) && src.duration > 0;
    drawWave(ctx, g, src, view.t0, view.t1, (t) => (t >= v.a && t <= v.b ? COLORS.waveOn : COLORS.wave));
    ctx.fillStyle = COLORS.region;
    ctx.fillRect(Math.min(xs, xe), top, Math.abs(xe - xs), PLOT_H);
    drawEdge(ctx, xs, top, COLORS.edge);
    drawEdge(ctx, xe, top, COLORS.edge);
    const past = known && v.b > src.duration + FRAME_SECONDS;
    const bad = v.b <= v.a;
    const text = bad ? "end must be after start"
      : past ? `end is past the song (${fmt(src.duration)})`
        : `repaint ${fmt(v.a)} \u2013 ${fmt(v.b)} (${fmt(v.b - v.a)})`;
    header(ctx, g, text, sourceLabel(src), bad || past);
  }

  function drawExtend(ctx, g, src, v) {
    const { view, top, duration } = g;
    const x0 = secondsToX(view, 0);
    const xd = secondsToX(view, duration);
    const xl = secondsToX(view, -v.a);
    const xr = secondsToX(view, duration + v.b);
    drawWave(ctx, g, src, 0, duration, () => COLORS.wave);
    ctx.fillStyle = COLORS.ext;
    ctx.fillRect(xl, top, x0 - xl, PLOT_H);
    ctx.fillRect(xd, top, xr - xd, PLOT_H);
    ctx.strokeStyle = COLORS.frame;
    ctx.strokeRect(x0, top + 0.5, xd - x0, PLOT_H - 1);
    ctx.fillStyle = COLORS.extEdge;
    ctx.textAlign = "center";
    ctx.font = "10px sans-serif";
    if (x0 - xl > 28) ctx.fillText("new", (xl + x0) / 2, top + 12);
    if (xr - xd > 28) ctx.fillText("new", (xd + xr) / 2, top + 12);
    drawEdge(ctx, xl, top, COLORS.extEdge);
    drawEdge(ctx, xr, top, COLORS.extEdge);
    const known = Number.isFinite(src.duration) && src.duration > 0;
    const tooLong = known && (v.a > extendMax(src.duration, v.b) + 0.01 || v.b > extendMax(src.duration, v.a) + 0.01);
    const none = v.a <= 0 && v.b <= 0;
    const total = known ? ` \u2192 ${fmt(src.duration + v.a + v.b)}` : "";
    const text = none ? "set left and/or right above 0"
      : tooLong ? "each side can add at most the song's length (240 s in total)"
        : `+${fmt(v.a)} before \u00b7 +${fmt(v.b)} after${total}`;
    header(ctx, g, text, sourceLabel(src), none || tooLong);
  }

  function apply(atX, shiftKey) {
    if (!drag || !geo) return;
    const at = xToSeconds(geo.view, atX);
    const snap = !shiftKey;
    if (env.mode === "repaint") {
      const limits = repaintLimits(geo.duration);
      const r = dragRepaint(drag.kind, drag.from, drag.anchor, at, limits, { snap });
      env.setValue(aName, r.start);
      env.setValue(bName, r.end);
    } else {
      const r = dragExtend(drag.kind, drag.from, at, geo.duration, { snap, known: geo.known });
      env.setValue(aName, r.left);
      env.setValue(bName, r.right);
    }
  }

  function drawWidget(ctx, width, y) {
    const src = currentSource();
    const v = values();
    geo = layout(width, y, src, v);
    ctx.save();
    ctx.fillStyle = COLORS.bg;
    ctx.strokeStyle = COLORS.frame;
    ctx.beginPath();
    ctx.rect(geo.x0 - 4, y + 2, geo.w + 8, HEIGHT - 6);
    ctx.fill();
    ctx.stroke();
    ctx.font = "11px sans-serif";
    if (env.mode === "repaint") drawRepaint(ctx, geo, src, v);
    else drawExtend(ctx, geo, src, v);
    drawAxis(ctx, geo);
    if (env.isLocked()) {
      ctx.fillStyle = "rgba(0, 0, 0, 0.45)";
      ctx.fillRect(geo.x0, geo.top, geo.w, PLOT_H);
      ctx.fillStyle = COLORS.text;
      ctx.textAlign = "center";
      ctx.fillText("set by a link", geo.x0 + geo.w / 2, geo.top + PLOT_H / 2 + 4);
    }
    ctx.restore();
  }

  function handleMouse(event, pos) {
    const type = event?.type;
    if (!geo) return false;
    if (type === "pointerdown" || type === "mousedown") {
      if (env.isLocked() || pos[1] < geo.top - 4 || pos[1] > geo.top + PLOT_H + AXIS_H) return false;
      const v = values();
      if (env.mode === "repaint") {
        const kind = hitRepaint(geo.view, { start: v.a, end: v.b }, pos[0]);
        drag = { kind, anchor: xToSeconds(geo.view, pos[0]), from: { start: v.a, end: v.b } };
        if (kind !== "new" && kind !== "move") apply(pos[0], event.shiftKey);
      } else {
        const kind = hitExtend(geo.view, { left: v.a, right: v.b }, geo.duration, pos[0]);
        if (!kind) return false;
        drag = { kind, from: { left: v.a, right: v.b } };
        apply(pos[0], event.shiftKey);
      }
      env.redraw();
      return true;
    }
    if (!drag) return false;
    if (type === "pointermove" || type === "mousemove") {
      apply(pos[0], event.shiftKey);
      env.redraw();
      return true;
    }
    if (type === "pointerup" || type === "mouseup") {
      // a click (no drag) outside the range keeps the range
      if (!(drag.kind === "new" && Math.abs(xToSeconds(geo.view, pos[0]) - drag.anchor) < FRAME_SECONDS / 2)) {
        apply(pos[0], event.shiftKey);
      }
      drag = null;
      env.redraw();
      return true;
    }
    return false;
  }

  // A plain LiteGraph custom widget: drawn on the canvas (visible at any zoom), legacy mouse callback.
  return {
    name: "region_picker",
    type: "acestep_v1_region",
    value: "",
    serialize: false,
    options: { serialize: false },
    computeSize(width) {
      return [width ?? 200, HEIGHT];
    },
    /** What the picker currently shows (for tools and tests). */
    pickerState() {
      const src = currentSource();
      return { source: src.label ?? null, url: src.url ?? null, waveform: src.entry?.state ?? "none",
        duration: src.duration ?? null, dragging: !!drag };
    },
    draw(ctx, node, width, y) {
      try {
        drawWidget(ctx, width, y);
      } catch (err) {
        env.onError?.(err);
      }
    },
    mouse(event, pos) {
      try {
        return handleMouse(event, pos);
      } catch (err) {
        drag = null;
        env.onError?.(err);
        return false;
      }
    },
  };
}
