/**
 * The last prefill, kept so that a request with exactly the same prefill tokens on the same model
 * skips it: a comparison's steered side (its prefill is the baseline's prompt, the offset token
 * held back), a rerun of the steered side at another strength, a retried request. Only an exact
 * match is reused, never a shared prefix, so an answer is bit for bit the one a fresh prefill
 * gives (a prefix prefilled separately from the rest rounds differently).
 */
import { KvCache } from '../model/kvCache';

/** The result of prefilling some tokens: the cache and the logits after the last of them. */
export interface Prefill {
  ids: readonly number[];
  cache: KvCache;
  logits: Float32Array;
}

/** Past this size a prefill is not kept (SmolLM2-135M: 46 KB per token, so about 5,800 tokens). */
export const DEFAULT_MAX_KEPT_BYTES = 256 * 1024 * 1024;

export class PrefillCache {
  private entry?: { owner: object; prefill: Prefill };

  constructor(private readonly maxBytes = DEFAULT_MAX_KEPT_BYTES) {}

  /**
   * A copy (the caller edits and grows it) of the kept prefill when `owner` (the model's backend)
   * made it from exactly `ids`.
   */
  lookup(owner: object, ids: readonly number[]): Prefill | undefined {
    const e = this.entry;
    if (!e || e.owner !== owner || !sameIds(e.prefill.ids, ids)) return undefined;
    return { ids: e.prefill.ids, cache: e.prefill.cache.clone(), logits: e.prefill.logits.slice() };
  }

  /** Keeps a copy of `prefill` in place of the one kept before (or none, past the size limit). */
  keep(owner: object, prefill: Prefill): void {
    this.entry = undefined;
    if (prefill.cache.byteLength > this.maxBytes) return;
    this.entry = { owner, prefill: { ids: [...prefill.ids], cache: prefill.cache.clone(), logits: prefill.logits.slice() } };
  }

  /** Bytes held (0 when nothing is kept). */
  get byteLength(): number {
    return this.entry ? this.entry.prefill.cache.byteLength + this.entry.prefill.logits.byteLength : 0;
  }
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}
