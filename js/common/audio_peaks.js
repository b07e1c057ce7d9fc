// Decodes an audio URL in the browser (WebAudio) into waveform peaks, once per URL.

import { computePeaks } from "../lib/waveform.js";

const BUCKETS = 2048;
const MAX_ENTRIES = 24;
const cache = new Map(); // url -> {state: "loading"|"ready"|"failed", data?, error?, promise}

async function decode(url) {
  const Ctx = globalThis.OfflineAudioContext ?? globalThis.webkitOfflineAudioContext;
  if (typeof Ctx !== "function" || typeof globalThis.fetch !== "function") {
    throw new Error("no WebAudio in this browser");
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const bytes = await res.arrayBuffer();
  // An offline context decodes without audio output, so no autoplay policy applies.
  const ctx = new Ctx(1, 1, 44100);
  const audio = await ctx.decodeAudioData(bytes);
  const channels = [];
  for (let c = 0; c < audio.numberOfChannels; c++) channels.push(audio.getChannelData(c));
  return { peaks: computePeaks(channels, BUCKETS), duration: audio.duration, channels: audio.numberOfChannels };
}

/**
 * The decode state of `url`: {state: "loading"} while fetching/decoding, {state: "ready", data} after,
 * {state: "failed", error} if it cannot be had (then it is not retried: one failed request per URL).
 * `onReady` (a stable function: it is kept in a set) is called once when the decode finishes either way.
 */
export function peaksFor(url, onReady) {
  let entry = cache.get(url);
  if (!entry) {
    entry = { state: "loading", waiters: new Set() };
    const settle = (patch) => {
      Object.assign(entry, patch);
      for (const fn of entry.waiters) {
        try {
          fn(entry);
        } catch {
          // a waiter that fails must not turn into an unhandled rejection
        }
      }
      entry.waiters.clear();
    };
    decode(url).then((data) => settle({ state: "ready", data }),
      (error) => settle({ state: "failed", error: String(error?.message ?? error) }));
    cache.set(url, entry);
    while (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value);
  }
  if (entry.state === "loading" && onReady) entry.waiters.add(onReady);
  return entry;
}
