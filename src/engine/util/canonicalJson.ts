/**
 * JSON text that is the same for equal values whatever order their keys were written in, for
 * comparing settings that callers build as objects (`{ topP, temperature }` equals
 * `{ temperature, topP }`).
 */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
}
