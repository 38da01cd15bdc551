/**
 * Long synchronous work (a GGUF import: converting tensors, building and writing the graph) written
 * as a generator whose every `yield` marks a point where it may pause. `runSteps` runs it straight
 * through; `runStepsPaced` lets the event loop run every few milliseconds and stops at those points
 * when its signal is aborted, so that the VS Code extension host (every extension shares its
 * thread) never freezes for the whole import and a Cancel takes effect mid-way.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { throwIfAborted } from './errors';

/** Work that yields (nothing) between its parts and returns a T. */
export type Steps<T> = Generator<void, T, void>;

/** Longest run of steps between two turns of the event loop, unless one step alone takes longer. */
export const STEP_SLICE_MS = 20;

/**
 * Calls `work(start, end)` over 0..n a slice of `size` at a time, yielding between slices. Hot loops
 * belong in `work`: V8 optimises a loop inside a generator less (measured ~30% slower here).
 */
export function* inSlices(n: number, size: number, work: (start: number, end: number) => void): Steps<void> {
  for (let start = 0; start < n; start += size) {
    if (start) yield;
    work(start, Math.min(n, start + size));
  }
}

export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Runs `steps`, giving the event loop a turn once STEP_SLICE_MS have passed since the last one;
 * throws kvsteer's cancellation error for `what` at the first turn after `signal` is aborted.
 */
export async function runStepsPaced<T>(steps: Steps<T>, opts: { signal?: AbortSignal; what: string }): Promise<T> {
  let last = performance.now();
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (performance.now() - last >= STEP_SLICE_MS) {
        await giveTurn(opts.signal, opts.what);
        last = performance.now();
      }
    }
  } finally {
    // Stopped mid-way: the generator's own `finally` blocks (an open file) run now.
    steps.return(undefined as T);
  }
}

/** Lets the event loop run once, then throws kvsteer's cancellation error for `what` if `signal` was aborted. */
export async function giveTurn(signal: AbortSignal | undefined, what: string): Promise<void> {
  await nextTurn();
  throwIfAborted(signal, what);
}
