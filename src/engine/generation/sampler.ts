/**
 * Picks the next token from logits: greedy (argmax, lowest id on ties) or sampling with
 * temperature, top-k and top-p from a seeded generator, so a given seed always gives the same text.
 */

export type Decoding =
  | { kind: 'greedy' }
  | { kind: 'sample'; temperature: number; topP: number; topK: number; seed: number };

export const GREEDY: Decoding = { kind: 'greedy' };

export { MAX_SEED } from './samplingDefaults';

/** mulberry32: a small, fast, seedable PRNG with good enough statistics for sampling. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export class Sampler {
  private readonly random?: () => number;

  constructor(readonly decoding: Decoding) {
    if (decoding.kind === 'sample') this.random = seededRandom(decoding.seed);
  }

  next(logits: Float32Array): number {
    const d = this.decoding;
    if (d.kind === 'greedy' || d.temperature <= 0) return argmax(logits);
    // Candidates sorted by logit, cut to top-k, softmax at temperature, cut to top-p mass.
    const k = d.topK > 0 ? Math.min(d.topK, logits.length) : logits.length;
    const idx = topKIndices(logits, k);
    const maxLogit = logits[idx[0]];
    const probs = idx.map((i) => Math.exp((logits[i] - maxLogit) / d.temperature));
    const sum = probs.reduce((a, b) => a + b, 0);
    let keep = probs.length;
    if (d.topP < 1) {
      let acc = 0;
      for (let i = 0; i < probs.length; i++) {
        acc += probs[i] / sum;
        if (acc >= d.topP) {
          keep = i + 1;
          break;
        }
      }
    }
    const kept = probs.slice(0, keep);
    const keptSum = kept.reduce((a, b) => a + b, 0);
    let r = this.random!() * keptSum;
    for (let i = 0; i < keep; i++) {
      r -= kept[i];
      if (r <= 0) return idx[i];
    }
    return idx[keep - 1];
  }
}

/** Indices of the k largest logits, largest first (ties: lower id first). */
function topKIndices(logits: Float32Array, k: number): number[] {
  if (k >= logits.length) {
    return Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  }
  // Partial selection: keep a sorted list of the best k seen so far.
  const best: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (best.length === k && v <= logits[best[k - 1]]) continue;
    let lo = 0, hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (logits[best[mid]] >= v) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}
