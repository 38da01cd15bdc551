/**
 * Block decoders against gguf-py (llama.cpp's reference Python package): fixed blocks of every
 * supported type, decoded by both, must agree. Also checks that the MatMulNBits repacking of
 * Q4_0, Q4_1, Q4_K and Q8_0 represents exactly the values the blocks decode to.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dequantize } from '../../../src/engine/gguf/dequantize';
import { GgmlType } from '../../../src/engine/gguf/ggmlTypes';
import { quantize } from '../../../src/engine/gguf/ggufWriter';
import { LinearWeight, denseValues, linearFromGgml, rowsFromQ6K, splitEightBit } from '../../../src/engine/onnx/linearWeight';
import { repoRoot } from '../../support/paths';
import { KvsteerError } from '../../../src/engine/util/errors';

interface Case { type: number; name: string; elements: number; bytes: string; values: number[] }
const fixture = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'quant-blocks.json'), 'utf8')) as { cases: Case[] };

for (const c of fixture.cases) {
  test(`${c.name} blocks decode to the same values as gguf-py`, () => {
    const bytes = new Uint8Array(Buffer.from(c.bytes, 'base64'));
    const got = dequantize(c.type, bytes, c.elements);
    for (let i = 0; i < c.elements; i++) {
      const want = c.values[i];
      assert.ok(Math.abs(got[i] - want) <= 1e-6 * Math.max(1, Math.abs(want)), `${c.name}[${i}]: got ${got[i]}, want ${want}`);
    }
  });
}

test('every type the importer promises is covered by a gguf-py fixture', () => {
  const covered = new Set(fixture.cases.map((c) => c.type));
  for (const t of [GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q5_K, GgmlType.Q6_K]) assert.ok(covered.has(t), GgmlType[t]);
});

for (const type of [GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0]) {
  test(`${GgmlType[type]} repacked for MatMulNBits holds exactly the decoded values`, () => {
    const rows = 8, cols = type === GgmlType.Q4_K ? 512 : 96;
    const v = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
    const bytes = quantize(type, v);
    const lin = linearFromGgml(type, bytes, rows, cols);
    assert.equal(lin.kind, 'nbits');
    const dense = denseValues(lin);
    const ref = dequantize(type, bytes, rows * cols);
    for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(dense[i] - ref[i]) <= 1e-6 * Math.max(1, Math.abs(ref[i])), `index ${i}: ${dense[i]} vs ${ref[i]}`);
  });
}

test("Q4_K blocks made by gguf-py, repacked for MatMulNBits, hold gguf-py's values", () => {
  const c = fixture.cases.find((x) => x.type === GgmlType.Q4_K)!;
  const bytes = new Uint8Array(Buffer.from(c.bytes, 'base64'));
  const lin = linearFromGgml(GgmlType.Q4_K, bytes, c.elements / 256, 256);
  assert.equal(lin.kind, 'nbits');
  const dense = denseValues(lin);
  for (let i = 0; i < c.elements; i++) assert.ok(Math.abs(dense[i] - c.values[i]) <= 1e-6 * Math.max(1, Math.abs(c.values[i])), `index ${i}: ${dense[i]} vs ${c.values[i]}`);
});

for (const type of [GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q5_K]) {
  test(`${GgmlType[type]} blocks made by gguf-py, repacked as 8-bit blocks for MatMulNBits, hold gguf-py's values`, () => {
    const c = fixture.cases.find((x) => x.type === type)!;
    const cols = type === GgmlType.Q5_K ? 256 : 32;
    const lin = linearFromGgml(type, new Uint8Array(Buffer.from(c.bytes, 'base64')), c.elements / cols, cols);
    assert.ok(lin.kind === 'nbits' && lin.bits === 8);
    const dense = denseValues(lin);
    for (let i = 0; i < c.elements; i++) assert.ok(Math.abs(dense[i] - c.values[i]) <= 1e-6 * Math.max(1, Math.abs(c.values[i])), `index ${i}: ${dense[i]} vs ${c.values[i]}`);
  });
}

test("Q6_K blocks made by gguf-py, as 8-bit blocks of 16, hold gguf-py's values", () => {
  const c = fixture.cases.find((x) => x.type === GgmlType.Q6_K)!;
  const bytes = new Uint8Array(Buffer.from(c.bytes, 'base64'));
  const rows = rowsFromQ6K(bytes, c.elements / 256, 256);
  assert.equal(rows.kind === 'nbits' && rows.blockSize, 16);
  const dense = denseValues(rows);
  for (let i = 0; i < c.elements; i++) assert.ok(Math.abs(dense[i] - c.values[i]) <= 1e-6 * Math.max(1, Math.abs(c.values[i])), `index ${i}: ${dense[i]} vs ${c.values[i]}`);
});

test('an 8-bit weight split into two 4-bit ones sums to its values exactly (Q8_0, Q5_K with offsets, Q6_K blocks of 16)', () => {
  const q8 = fixture.cases.find((x) => x.type === GgmlType.Q8_0)!;
  const q6 = fixture.cases.find((x) => x.type === GgmlType.Q6_K)!;
  const q8w = linearFromGgml(GgmlType.Q8_0, new Uint8Array(Buffer.from(q8.bytes, 'base64')), q8.elements / 32, 32);
  const q6w = rowsFromQ6K(new Uint8Array(Buffer.from(q6.bytes, 'base64')), q6.elements / 256, 256);
  const q5k = fixture.cases.find((x) => x.type === GgmlType.Q5_K)!;
  const q5kw = linearFromGgml(GgmlType.Q5_K, new Uint8Array(Buffer.from(q5k.bytes, 'base64')), q5k.elements / 256, 256);
  // Every stored byte value, the extremes included, in one row of 256.
  const all: LinearWeight = { kind: 'nbits', bits: 8, rows: 1, cols: 256, packed: Uint8Array.from({ length: 256 }, (_, i) => i), scales: Float32Array.from({ length: 8 }, (_, b) => (3 * (b + 1)) / 1024) };
  for (const w of [q8w, q6w, q5kw, all]) {
    assert.ok(w.kind === 'nbits' && w.bits === 8);
    const len = w.blockSize ?? 32;
    const [hi, lo] = splitEightBit(w);
    assert.ok(hi.kind === 'nbits' && hi.bits === 4 && lo.kind === 'nbits' && lo.bits === 4);
    const h = denseValues(hi), l = denseValues(lo);
    for (let i = 0; i < h.length; i++) {
      // The value the block stores, in exact (double) arithmetic: scale · (u − 128) + offset.
      const exact: number = w.scales[Math.floor(i / len)] * (w.packed[i] - 128) + (w.offsets?.[Math.floor(i / len)] ?? 0);
      assert.ok(h[i] + l[i] === exact, `index ${i}: ${h[i]} + ${l[i]} vs ${exact}`);
    }
  }
});

test('reference quantizers round-trip within one quantization step', () => {
  const v = Float32Array.from({ length: 256 }, (_, i) => Math.cos(i));
  for (const [type, tol] of [[GgmlType.Q8_0, 0.01], [GgmlType.Q4_1, 0.08], [GgmlType.Q4_0, 0.15], [GgmlType.Q4_K, 0.15], [GgmlType.Q5_K, 0.08], [GgmlType.Q6_K, 0.05], [GgmlType.Q5_0, 0.07], [GgmlType.Q5_1, 0.04], [GgmlType.F16, 0.001]] as const) {
    const back = dequantize(type, quantize(type, v), v.length);
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(back[i] - v[i]) <= tol, `${GgmlType[type]}[${i}]`);
  }
});

test('an undecodable type is refused with a clear error', () => {
  assert.throws(() => dequantize(GgmlType.IQ2_XXS, new Uint8Array(66), 256), (e: unknown) => e instanceof KvsteerError && e.code === 'GGUF_UNSUPPORTED' && /IQ2_XXS/.test(e.message));
});
