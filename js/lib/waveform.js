// Waveform peaks for drawing. Pure: no DOM, no WebAudio.

/**
 * Min/max per bucket over all channels: `channels` is a list of sample arrays of equal length.
 * Returns {min, max, buckets, length} with Float32Array min/max of `buckets` entries.
 */
export function computePeaks(channels, buckets) {
  const n = channels.length ? channels[0].length : 0;
  const b = Math.max(1, Math.floor(buckets));
  const min = new Float32Array(b);
  const max = new Float32Array(b);
  for (let i = 0; i < b; i++) {
    const s0 = Math.floor(i * n / b);
    const s1 = Math.max(s0 + 1, Math.floor((i + 1) * n / b));
    let lo = Infinity;
    let hi = -Infinity;
    for (const ch of channels) {
      for (let s = s0; s < s1 && s < n; s++) {
        const v = ch[s];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    min[i] = lo === Infinity ? 0 : lo;
    max[i] = hi === -Infinity ? 0 : hi;
  }
  return { min, max, buckets: b, length: n };
}

/** The same peaks merged (or stretched) to `n` columns, e.g. one per pixel. */
export function resamplePeaks(peaks, n) {
  const cols = Math.max(1, Math.floor(n));
  const min = new Float32Array(cols);
  const max = new Float32Array(cols);
  const b = peaks.buckets;
  for (let i = 0; i < cols; i++) {
    const j0 = Math.floor(i * b / cols);
    const j1 = Math.max(j0 + 1, Math.floor((i + 1) * b / cols));
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = j0; j < j1 && j < b; j++) {
      if (peaks.min[j] < lo) lo = peaks.min[j];
      if (peaks.max[j] > hi) hi = peaks.max[j];
    }
    min[i] = lo === Infinity ? 0 : lo;
    max[i] = hi === -Infinity ? 0 : hi;
  }
  return { min, max, buckets: cols, length: peaks.length };
}

/** The largest absolute value (at least a small floor, so silence does not divide by zero). */
export function peakLevel(peaks, floor = 1e-4) {
  let m = floor;
  for (let i = 0; i < peaks.buckets; i++) m = Math.max(m, Math.abs(peaks.min[i]), Math.abs(peaks.max[i]));
  return m;
}
