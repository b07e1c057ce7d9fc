// Thin adapters between the ComfyUI frontend (LiteGraph graph, websocket events) and the pure helpers in
// ../lib. Every function here tolerates a missing or different frontend API and then does nothing, so the
// nodes keep their plain widgets.

import { viewQuery } from "../lib/graph_walk.js";

export const LOG_PREFIX = "[ACE-Step v1]";

const warned = new Set();
/** One console warning per distinct problem (never console.error: a failing helper must stay quiet). */
export function warnOnce(key, ...args) {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(LOG_PREFIX, ...args);
}

// ------------------------------------------------------------------------------ executed outputs

const lastOutputs = new Map();
const listeners = new Set();
let watching = false;

/** Starts following "executed" websocket events (once); the UI output of each node is kept. */
export function watchOutputs(api) {
  if (watching || typeof api?.addEventListener !== "function") return;
  watching = true;
  api.addEventListener("executed", (event) => {
    const d = event?.detail;
    if (!d) return;
    const id = String(d.display_node ?? d.node);
    lastOutputs.set(id, d.output ?? null);
    for (const fn of listeners) {
      try {
        fn(id, d.output);
      } catch (err) {
        warnOnce("listener", "output listener failed:", err);
      }
    }
  });
}

/** Calls fn(nodeId, output) after every executed node. Returns an unsubscribe function. */
export function onOutput(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * A node's last UI output. The frontend's own store (`app.nodeOutputs`, kept per workflow and cleared
 * when another graph is loaded) is the truth; the events seen here only serve frontends without it.
 */
export function outputOf(app, id) {
  const key = String(id);
  const store = app?.nodeOutputs;
  if (store && typeof store === "object") return store[key] ?? null;
  return lastOutputs.get(key) ?? null;
}

/** Forgets the outputs seen so far (a new graph is being loaded: its node ids mean other nodes). */
export function forgetOutputs() {
  lastOutputs.clear();
}

// ------------------------------------------------------------------------------ graph access

function linkRecord(graph, id) {
  if (id == null || !graph) return null;
  const l = graph.getLink?.(id) ?? graph.links?.get?.(id) ?? graph.links?.[id] ?? graph._links?.get?.(id);
  if (!l) return null;
  if (Array.isArray(l)) return { origin_id: l[1], origin_slot: l[2], target_id: l[3], target_slot: l[4] };
  return l;
}

/** The accessor ../lib/graph_walk.js works on, over a LiteGraph graph. */
export function graphAccess(app, graph = app?.graph) {
  const wrap = (n) => n && {
    id: n.id,
    type: n.comfyClass ?? n.type,
    inputs: n.inputs ?? [],
    outputs: n.outputs ?? [],
    widget: (name) => n.widgets?.find((w) => w.name === name)?.value,
  };
  return {
    node: (id) => wrap(graph?.getNodeById?.(id)),
    link: (id) => linkRecord(graph, id),
    output: (id) => outputOf(app, id),
  };
}

/** The /view URL of an output/input file, through the frontend's api (keeps its base path). */
export function viewUrl(api, item) {
  const path = `/view?${viewQuery(item)}`;
  return typeof api?.apiURL === "function" ? api.apiURL(path) : path;
}

// ------------------------------------------------------------------------------ widgets

export function findWidget(node, name) {
  return node?.widgets?.find((w) => w.name === name) ?? null;
}

/** True when the widget's input socket is driven by a link (its value then comes from elsewhere). */
export function isWidgetLinked(node, name) {
  return !!node?.inputs?.some((i) => i?.widget?.name === name && i.link != null);
}

/** Sets a widget as if the user had edited it (callbacks run, the graph is marked changed). */
export function setWidgetValue(app, node, name, value) {
  const w = findWidget(node, name);
  if (!w || w.value === value) return false;
  const canvas = app?.canvas;
  if (typeof w.setValue === "function" && canvas) {
    w.setValue(value, { e: undefined, node, canvas });
  } else {
    w.value = value;
    w.callback?.(value, canvas, node);
  }
  node.setDirtyCanvas?.(true, true);
  return true;
}

/** Marks a widget as frontend-only: not saved in the workflow, not sent with the prompt. */
export function frontendOnly(widget) {
  widget.serialize = false;
  if (widget.options) widget.options.serialize = false;
  else widget.options = { serialize: false };
  return widget;
}

/** Wraps `proto[name]` so that `fn` runs after the original (whose result is returned). */
export function chainMethod(proto, name, fn) {
  const original = proto[name];
  proto[name] = function (...args) {
    const result = original?.apply(this, args);
    try {
      fn.apply(this, args);
    } catch (err) {
      warnOnce(`${name}`, `${name} hook failed; the node keeps its plain widgets:`, err);
    }
    return result;
  };
}
