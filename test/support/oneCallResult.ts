/** The check that a prompt fed in chunks gave what one call over all of it gives. */
import * as assert from 'node:assert/strict';
import type { ForwardResult } from '../../src/engine/model/onnxBackend';
import { maxAbsDiff } from './arrays';

/**
 * `r` (logits of the last `keep` positions) has `whole`'s logits for those positions within 1e-4,
 * and its cache, `tokens` long, within 1e-5 in every layer.
 */
export function assertOneCallResult(r: ForwardResult, whole: ForwardResult, shape: { tokens: number; keep: number; vocabSize: number; numLayers: number }): void {
  const { tokens, keep, vocabSize: V, numLayers } = shape;
  assert.equal(r.logits.length, keep * V);
  assert.ok(maxAbsDiff(r.logits, whole.logits.subarray((tokens - keep) * V)) < 1e-4, `logits, keep ${keep}`);
  assert.equal(r.cache.length, tokens);
  for (let l = 0; l < numLayers; l++) {
    assert.ok(maxAbsDiff(r.cache.layers[l].key, whole.cache.layers[l].key) < 1e-5, `keys of layer ${l}`);
    assert.ok(maxAbsDiff(r.cache.layers[l].value, whole.cache.layers[l].value) < 1e-5, `values of layer ${l}`);
  }
}
