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

test('a cache moved to another thread comes back on first use, with its contents and spare room', () => {
  const base = KvCache.empty(L, KV, HD).appended([rows(3), rows(3)], 3);
  const want = base.clone();
  let there: KvCache | undefined;
  let reclaims = 0;
  const owner = {};
  const gone = { owner: {}, id: -1, reclaim: () => 'stale' as const, drop: () => undefined };
  const loan = base.moveOut({ owner, id: 7, reclaim: () => (reclaims++, there!.moveOut(gone)), drop: () => assert.fail('not freed') });
  // Each layer's key and value storage, once: the views lie on the storage.
  assert.equal(loan.buffers.length, 2 * L);
  const moved = structuredClone(loan, { transfer: loan.buffers });
  assert.ok(loan.buffers.every((b) => b.byteLength === 0), 'the buffers were transferred, not copied');
  there = KvCache.fromLoan(moved);
  for (let l = 0; l < L; l++) for (const w of ['key', 'value'] as const) assert.deepEqual(there.layers[l][w], want.layers[l][w]);
  assert.equal(base.length, 3);
  assert.equal(base.numLayers, L);
  assert.deepEqual(base.residence, { owner, id: 7 });
  assert.equal(reclaims, 0);
  // The first read brings the contents back; later ones are local.
  assert.deepEqual(base.read(1, 'value', 2), want.read(1, 'value', 2));
  assert.deepEqual(base.read(0, 'key', 0), want.read(0, 'key', 0));
  assert.equal(reclaims, 1);
  assert.equal(base.residence, undefined);
  // Still the same storage with spare room: growing reuses it (the old cache goes stale).
  const grown = base.appended([rows(1), rows(1)], 1);
  assert.throws(() => base.layers, /extended in place/);
  assert.deepEqual(grown.read(1, 'value', 2), want.read(1, 'value', 2));
});

test('a cache living in another thread is stale there when a later pass grew it, and a failed reclaim leaves it there', () => {
  const stale = KvCache.elsewhere(L, KV, HD, 4, { owner: {}, id: 1, reclaim: () => 'stale', drop: () => undefined });
  assert.equal(stale.length, 4);
  assert.throws(() => stale.read(0, 'key', 0), /extended in place/);
  assert.throws(() => stale.layers, /extended in place/);
  let busy = true;
  const there = KvCache.empty(L, KV, HD).appended([rows(4), rows(4)], 4);
  const want = there.clone();
  const away = KvCache.elsewhere(L, KV, HD, 4, {
    owner: {},
    id: 2,
    reclaim: () => {
      if (busy) throw new Error('this KV cache is in use by a forward pass in the worker');
      return there.moveOut({ owner: {}, id: -1, reclaim: () => 'stale', drop: () => undefined });
    },
    drop: () => undefined,
  });
  assert.throws(() => away.clone(), /in use by a forward pass/);
  assert.ok(away.residence, 'still there');
  busy = false;
  assert.deepEqual(away.clone().layers[1].key, want.layers[1].key);
});

test('a freed cache refuses use, and one living in another thread is freed there at once', () => {
  const local = KvCache.empty(L, KV, HD).appended([rows(2), rows(2)], 2);
  local.free();
  assert.throws(() => local.read(0, 'key', 0), /was freed/);
  const drops: number[] = [];
  const away = KvCache.elsewhere(L, KV, HD, 4, { owner: {}, id: 9, reclaim: () => assert.fail('a freed cache is not fetched'), drop: () => drops.push(9) });
  away.free();
  assert.deepEqual(drops, [9]);
  assert.equal(away.residence, undefined);
  assert.throws(() => away.layers, /was freed/);
});
