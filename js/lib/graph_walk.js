// Graph questions the editors ask: where does this region's audio come from, how long is it, where is the
// language report of these lyrics. Pure: works on a small accessor, so it is testable without ComfyUI.
//
// access = {
//   node(id)   -> {id, type, inputs: [{name, type, link}], outputs: [{name, type, links}], widget(name)} | null
//   link(id)   -> {origin_id, origin_slot, target_id, target_slot} | null
//   output(id) -> the node's last executed UI output (e.g. {audio: [{filename, subfolder, type}]}) | null
// }

import { frameToSeconds, secondsToFrame } from "./regions.js";

/** Link types along which audio (or its latent) flows. */
export const FLOW_TYPES = new Set(["LATENT", "AUDIO"]);

const EMPTY_LATENTS = new Set(["AceStepV1EmptyLatent", "EmptyAceStepLatentAudio"]);
const NEEDS_AUDIO = new Set(["AceStepV1AudioToLatent", "VAEEncodeAudio", "LoadAudio"]);

function isFlow(slot) {
  return slot && FLOW_TYPES.has(String(slot.type));
}

/** Nodes feeding `node` through LATENT/AUDIO inputs (optionally only the input named `only`). */
export function upstreamNodes(access, node, only = null) {
  const out = [];
  for (const input of node?.inputs ?? []) {
    if (input.link == null || (only && input.name !== only) || (!only && !isFlow(input))) continue;
    const link = access.link(input.link);
    const src = link ? access.node(link.origin_id) : null;
    if (src) out.push(src);
  }
  return out;
}

/** Nodes fed by `node` through LATENT/AUDIO outputs (or only through the output named `only`). */
export function downstreamNodes(access, node, only = null) {
  const out = [];
  for (const output of node?.outputs ?? []) {
    if ((only && output.name !== only) || (!only && !isFlow(output))) continue;
    for (const id of output.links ?? []) {
      const link = access.link(id);
      const dst = link ? access.node(link.target_id) : null;
      if (dst) out.push(dst);
    }
  }
  return out;
}

/** "sub/dir/song.flac" -> {subfolder: "sub/dir", filename: "song.flac"}. */
export function splitPath(path) {
  const s = String(path ?? "");
  const i = s.lastIndexOf("/");
  return i < 0 ? { subfolder: "", filename: s } : { subfolder: s.slice(0, i), filename: s.slice(i + 1) };
}

/** The query string of ComfyUI's /view route for an output/input/temp file. */
export function viewQuery(item) {
  return [
    `filename=${encodeURIComponent(item.filename ?? "")}`,
    `type=${encodeURIComponent(item.type ?? "output")}`,
    `subfolder=${encodeURIComponent(item.subfolder ?? "")}`,
  ].join("&");
}

function firstAudio(access, node) {
  const audio = access.output(node.id)?.audio;
  return Array.isArray(audio) && audio.length && audio[0]?.filename ? audio[0] : null;
}

/** The first node downstream of `start` (not in `exclude`) that has produced audio, within `depth` hops. */
export function downstreamAudio(access, start, exclude = new Set(), depth = 4) {
  let frontier = [start];
  const seen = new Set([start.id, ...exclude]);
  for (let d = 0; d < depth && frontier.length; d++) {
    const next = [];
    for (const n of frontier) {
      for (const m of downstreamNodes(access, n)) {
        if (seen.has(m.id)) continue;
        seen.add(m.id);
        const item = firstAudio(access, m);
        if (item) return { nodeId: m.id, item };
        next.push(m);
      }
    }
    frontier = next;
  }
  return null;
}

/**
 * The audio a region node works on, nearest first: a node upstream that produced audio, the file of an
 * upstream LoadAudio, or audio decoded from an upstream latent on another branch (e.g. the preview of
 * the previous stage in a chain of extends). Returns {kind, nodeId, item: {filename, subfolder, type}}
 * or null.
 */
export function findSourceAudio(access, regionNode, inputName = "latent") {
  const visited = new Set([regionNode.id]);
  let frontier = upstreamNodes(access, regionNode, inputName);
  for (let depth = 0; depth < 12 && frontier.length; depth++) {
    const next = [];
    for (const n of frontier) {
      if (visited.has(n.id)) continue;
      visited.add(n.id);
      if (n.type === "LoadAudio") {
        const file = n.widget("audio");
        if (typeof file === "string" && file) {
          return { kind: "file", nodeId: n.id, item: { ...splitPath(file), type: "input" } };
        }
      }
      const own = firstAudio(access, n);
      if (own) return { kind: "executed", nodeId: n.id, item: own };
      const sibling = downstreamAudio(access, n, visited);
      if (sibling) return { kind: "sibling", ...sibling };
      next.push(...upstreamNodes(access, n));
    }
    frontier = next;
  }
  return null;
}

/** Audio produced downstream of the region node itself (the last result), or null. */
export function findResultAudio(access, regionNode) {
  const hit = downstreamAudio(access, regionNode, new Set(), 5);
  return hit ? { kind: "result", ...hit } : null;
}

function numberWidget(node, name) {
  const v = Number(node.widget(name));
  return Number.isFinite(v) ? v : null;
}

/**
 * The length in seconds of the latent arriving at `node`'s input (default "latent"), worked out from
 * the graph without running it: an empty latent's seconds (whole frames), plus what extend regions add.
 * null when it depends on audio that has not been decoded (e.g. AudioToLatent).
 */
export function latentSeconds(access, node, inputName = "latent", depth = 0) {
  if (!node || depth > 24) return null;
  const [src] = upstreamNodes(access, node, inputName);
  return src ? producedSeconds(access, src, depth + 1) : null;
}

function producedSeconds(access, node, depth) {
  if (EMPTY_LATENTS.has(node.type)) {
    const s = numberWidget(node, "seconds");
    return s === null ? null : frameToSeconds(secondsToFrame(s));
  }
  if (NEEDS_AUDIO.has(node.type)) return null;
  if (node.type === "AceStepV1ExtendRegion") {
    const base = latentSeconds(access, node, "latent", depth);
    const left = numberWidget(node, "left_seconds") ?? 0;
    const right = numberWidget(node, "right_seconds") ?? 0;
    return base === null ? null : base + frameToSeconds(secondsToFrame(left)) + frameToSeconds(secondsToFrame(right));
  }
  const [src] = upstreamNodes(access, node);
  return src ? producedSeconds(access, src, depth + 1) : null;
}

/**
 * The latest per-line language report of a LyricsEncode node: its own UI output ("languages" or "text"),
 * else the text shown by a node connected to its `languages` output (e.g. Preview Any). null if none.
 */
export function findLanguageReport(access, lyricsNode) {
  const own = access.output(lyricsNode.id);
  for (const key of ["languages", "text"]) {
    const v = own?.[key];
    if (Array.isArray(v) && typeof v[0] === "string") return v.join("");
    if (typeof v === "string") return v;
  }
  for (const n of downstreamNodes(access, lyricsNode, "languages")) {
    const t = access.output(n.id)?.text;
    if (Array.isArray(t) && typeof t[0] === "string") return t.join("");
    if (typeof t === "string") return t;
  }
  return null;
}
