/**
 * The KV cache's in-place growth: appending positions (within spare capacity and past it) gives
 * the same tensors as concatenating along the sequence axis, clones are independent, and a cache
 * that was grown in place refuses further use.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { KvCache, KvLayer } from '../../../src/engine/model/kvCache';

const KV = 3, HD = 4, L = 2;
let counter = 0;
const rows = (n: number): KvLayer => ({ key: Float32Array.from({ length: KV * n * HD }, () => ++counter), value: Float32Array.from({ length: KV * n * HD }, () => -++counter) });

/** Plain concatenation of [kv, a, hd] and [kv, b, hd] along the middle axis. */
function concat(a: Float32Array, la: number, b: Float32Array, lb: number): Float32Array {
  const out = new Float32Array(KV * (la + lb) * HD);
  for (let h = 0; h < KV; h++) {
    out.set(a.subarray(h * la * HD, (h + 1) * la * HD), h * (la + lb) * HD);
    out.set(b.subarray(h * lb * HD, (h + 1) * lb * HD), (h * (la + lb) + la) * HD);
  }
  return out;
}

test('appending positions equals concatenation, within and beyond the spare capacity', () => {
  let cache = KvCache.empty(L, KV, HD);
  let expected: KvLayer[] = Array.from({ length: L }, () => ({ key: new Float32Array(0), value: new Float32Array(0) }));
  // 300 single positions after a 5-position prefill cross the first capacity (5 + 256).
  const steps = [5, ...Array.from({ length: 300 }, () => 1), 7];
  for (const n of steps) {
    const added = Array.from({ length: L }, () => rows(n));
    expected = expected.map((e, l) => ({ key: concat(e.key, cache.length, added[l].key, n), value: concat(e.value, cache.length, added[l].value, n) }));
    cache = cache.appended(added, n);
  }
  assert.equal(cache.length, 312);
  for (let l = 0; l < L; l++) {
    assert.deepEqual(cache.layers[l].key, expected[l].key);
    assert.deepEqual(cache.layers[l].value, expected[l].value);
  }
});

test('a clone keeps its values when the original grows, and a grown-from cache refuses use', () => {
  const base = KvCache.empty(L, KV, HD).appended([rows(4), rows(4)], 4);
  const copy = base.clone();
  const before = copy.layers[1].value.slice();
  const grown = base.appended([rows(1), rows(1)], 1);
  assert.equal(grown.length, 5);
  assert.deepEqual(copy.layers[1].value, before);
  for (const use of [() => base.layers, () => base.read(0, 'key', 0), () => base.clone(), () => base.addAtPosition(0, 'value', 1, new Float32Array(KV * HD), 1), () => base.appended([rows(1), rows(1)], 1)]) {
    assert.throws(use, /extended in place/);
  }
  // Growing the clone is independent of the original's storage: the original's fifth position
  // keeps its values, and the clone's grown copy holds its own.
  const grownFifth = grown.read(0, 'key', 4).slice();
  const added = [rows(2), rows(2)];
  const other = copy.appended(added, 2);
  assert.equal(other.length, 6);
  assert.deepEqual(grown.read(0, 'key', 4), grownFifth);
  const wantFifth = Float32Array.from({ length: KV * HD }, (_, i) => added[0].key[(Math.floor(i / HD) * 2) * HD + (i % HD)]);
  assert.deepEqual(other.read(0, 'key', 4), wantFifth);
  assert.deepEqual(other.read(1, 'value', 3), copy.read(1, 'value', 3));
});
