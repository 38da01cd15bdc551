/** Typed arrays of one kind laid end to end in a new array of that kind. */
export function concatArrays<T extends Uint8Array | Float32Array>(parts: T[], make: (length: number) => T): T {
  const out = make(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
