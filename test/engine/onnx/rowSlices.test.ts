/**
 * A GGUF import converts large tensors a slice of rows at a time (so that it can yield to the event
 * loop between slices): the weights it builds must be byte for byte those of one conversion, for
 * every form a tensor can take (f32, 4-bit with offsets, 8-bit, Q6_K's blocks of 16).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { GgmlType, ggmlBlockLayout } from '../../../src/engine/gguf/ggmlTypes';
import { quantize } from '../../../src/engine/gguf/ggufWriter';
import { dequantize } from '../../../src/engine/gguf/dequantize';
import { LinearWeight, SLICE_BYTES, inRowSlices, linearFromGgml, splitEightBit } from '../../../src/engine/onnx/linearWeight';

const bytesOf = (a: Float32Array | Uint8Array | undefined) => (a ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : undefined);

function assertSameWeight(got: LinearWeight, want: LinearWeight): void {
  assert.equal(got.kind, want.kind);
  assert.equal(got.rows, want.rows);
  assert.equal(got.cols, want.cols);
  if (got.kind === 'float' && want.kind === 'float') {
    assert.ok(bytesOf(got.data)!.equals(bytesOf(want.data)!), 'f32 values differ');
    return;
  }
  assert.ok(got.kind === 'nbits' && want.kind === 'nbits');
  assert.deepEqual([got.bits, got.blockSize, got.zero], [want.bits, want.blockSize, want.zero]);
  assert.ok(bytesOf(got.packed)!.equals(bytesOf(want.packed)!), 'packed blocks differ');
  assert.ok(bytesOf(got.scales)!.equals(bytesOf(want.scales)!), 'scales differ');
  assert.deepEqual(bytesOf(got.offsets), bytesOf(want.offsets));
}

const cols = 1024;
for (const [type, convert] of [
  [GgmlType.Q4_1, (b: Uint8Array, rows: number) => linearFromGgml(GgmlType.Q4_1, b, rows, cols)],
  [GgmlType.Q8_0, (b: Uint8Array, rows: number) => linearFromGgml(GgmlType.Q8_0, b, rows, cols)],
  [GgmlType.Q6_K, (b: Uint8Array, rows: number) => linearFromGgml(GgmlType.Q6_K, b, rows, cols)],
  [GgmlType.F16, (b: Uint8Array, rows: number): LinearWeight => ({ kind: 'float', rows, cols, data: dequantize(GgmlType.F16, b, rows * cols) })],
] as const) {
  test(`a ${GgmlType[type]} weight converted in row slices is byte for byte the one-piece conversion`, () => {
    const layout = ggmlBlockLayout(type)!;
    const rowBytes = (cols / layout.blockSize) * layout.blockBytes;
    // Enough rows for several slices, and a last slice that is not full.
    const rows = Math.ceil((2.5 * SLICE_BYTES) / rowBytes) | 1;
    const values = Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 13)));
    const bytes = quantize(type, values);
    const steps = inRowSlices(rows, rowBytes, (r0, r1) => convert(bytes.subarray(r0 * rowBytes, r1 * rowBytes), r1 - r0));
    let yields = 0;
    let r = steps.next();
    for (; !r.done; r = steps.next()) yields++;
    assert.ok(yields >= 2, `only ${yields} yields`);
    assertSameWeight(r.value, convert(bytes, rows));
  });
}

test('an 8-bit weight split in slices into two 4-bit halves holds v = 16·hi + lo in every byte', () => {
  const rows = Math.ceil((2.5 * SLICE_BYTES) / cols);
  const w = linearFromGgml(GgmlType.Q8_0, quantize(GgmlType.Q8_0, Float32Array.from({ length: rows * cols }, (_, i) => Math.cos(i * 0.11) * (i % 5))), rows, cols);
  assert.ok(w.kind === 'nbits');
  const [hi, lo] = splitEightBit(w);
  assert.ok(hi.kind === 'nbits' && lo.kind === 'nbits');
  const nibble = (p: Uint8Array, i: number) => (i & 1 ? p[i >> 1] >> 4 : p[i >> 1] & 15);
  for (let i = 0; i < w.packed.length; i++) {
    if (w.packed[i] - 128 !== 16 * (nibble(hi.packed, i) - 8) + nibble(lo.packed, i)) assert.fail(`byte ${i}`);
  }
});
