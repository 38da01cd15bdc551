/**
 * Limits and layer lists of steering, in a module with no imports so light callers (settings
 * validation, the CLI flag parser) can use them without loading the engine.
 */

/** Largest |c| accepted: far beyond any useful strength, small enough to catch typos. */
export const MAX_COEFFICIENT = 100;

/** Largest layer index a list may name: beyond any model's depth, small enough to expand at once. */
export const MAX_LAYER_INDEX = 999;

/**
 * Reads a layer list as users write it ("1-29", "2,4,6", "1-4, 10") into sorted, distinct layer
 * indices; returns the unreadable part as an error instead.
 */
export function parseLayerList(spec: string): { layers: number[] } | { error: string } {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(part);
    if (!m) return { error: `cannot read "${part.trim()}" (use e.g. "1-29" or "2,4,6")` };
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    // A typo such as "1-2900000000" would otherwise be expanded, number by number, until memory runs out.
    if (Math.max(a, b) > MAX_LAYER_INDEX) return { error: `cannot read "${part.trim()}": layer numbers go up to ${MAX_LAYER_INDEX}` };
    for (let l = Math.min(a, b); l <= Math.max(a, b); l++) out.push(l);
  }
  return { layers: [...new Set(out)].sort((x, y) => x - y) };
}
