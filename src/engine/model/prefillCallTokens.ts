/**
 * How many prompt tokens one forward call takes at a given cache position. onnxruntime-node runs
 * a call on the JavaScript thread, so in VS Code the whole extension host (every extension, and
 * kvsteer's own Cancel) waits until the call ends; a long prompt is fed in calls of about half
 * a second each on a 2-thread laptop CPU.
 *
 * Cost model, per token: the layers' matrix products, about 24·L·h² multiply-adds, and attention
 * to each earlier position, about 4·L·h, counted twice because unfused attention runs at about
 * half the speed of the products. Both share 8·L·h, so a token at position p costs 8·L·h·(3h + p).
 * On SmolLM2-135M (L 30, h 576) with 2 threads this gives the measured 2.3 ms per token plus
 * 1.6 µs per token and earlier position within 20%: 217 tokens per call at the start of a prompt,
 * 79 at position 3,000, 39 at 7,700. On a 3,157-token prompt the longest call went from 1.5–1.7 s
 * (calls of 256 tokens) to 0.67 s, and the prefill from 14.7–14.9 s to 15.4 s: each call also
 * copies the cache so far. Calls half as long made the prefill 10% slower.
 *
 * A function of the position and the model's shape only, never of measured time: a prompt is
 * always cut in the same places, so answers stay reproducible.
 */

/** Work of one call, in the cost model's units (about 500 ms on the machine described above). */
export const PREFILL_CALL_WORK = 5.2e10;
/** Fewer tokens per call would cost more in per-call overhead than they save in waiting. */
export const MIN_PREFILL_CALL_TOKENS = 16;

export interface PrefillShape {
  numLayers: number;
  hiddenSize: number;
}

/** Tokens of the call that starts at cache position `past`, at most `max`. */
export function prefillCallTokens(past: number, shape: PrefillShape, max: number): number {
  const perToken = 8 * shape.numLayers * shape.hiddenSize * (3 * shape.hiddenSize + past);
  const fit = Math.floor(PREFILL_CALL_WORK / perToken);
  return Math.min(max, Math.max(MIN_PREFILL_CALL_TOKENS, fit));
}

/** The calls `tokens` new tokens after a cache of `past` go in: [start, end) of each, in order. */
export function* prefillCalls(tokens: number, past: number, shape: PrefillShape, max: number): Generator<[number, number]> {
  for (let start = 0, end = 0; start < tokens; start = end) {
    end = Math.min(tokens, start + prefillCallTokens(past + start, shape, max));
    yield [start, end];
  }
}
