/**
 * Weights of one linear layer in the forms our ONNX graphs use, with y = x·Wᵀ and W of shape
 * [rows = out features, cols = in features]:
 * - `float`: plain f32, multiplied with MatMul;
 * - `nbits`: packed 4- or 8-bit blocks of 32 for ONNX Runtime's MatMulNBits, whose value is
 *   scale·(q − zero) with the default zero point (8 or 128), plus an optional per-block `offsets`
 *   term. With offsets, ggml's Q4_1 (w = d·q + m) is exact: scale d and offset m + 8d.
 * Converters from ggml blocks live here too, as do the row operations (permute, concatenate) the
 * Llama import needs, which work on packed data without decoding it.
 */
import { f16ToF32 } from '../util/half';
import { GgmlType } from '../gguf/ggmlTypes';
import { dequantize, q4KValue, q5KValue, q5Value, scaleMinK4, unpackQ6K } from '../gguf/dequantize';
import { KvsteerError } from '../util/errors';
import { concatArrays } from '../util/concatArrays';
import { Steps, runSteps } from '../util/steps';

export type LinearWeight =
  | { kind: 'float'; rows: number; cols: number; data: Float32Array }
  | {
      kind: 'nbits';
      bits: 4 | 8;
      rows: number;
      cols: number;
      packed: Uint8Array;
      scales: Float32Array;
      offsets?: Float32Array;
      /** Values per scale: 32 (default), or 16 for Q6_K's sub-blocks. */
      blockSize?: 16 | 32;
      /** Zero point of every block: default 8 (4-bit) or 128 (8-bit). */
      zero?: number;
    };

export const NBITS_BLOCK = 32;

/** Bytes per row of packed blocks. */
function packedRowBytes(w: { bits: 4 | 8; cols: number }): number {
  return (w.cols / NBITS_BLOCK) * ((NBITS_BLOCK * w.bits) / 8);
}

/** Values per scale of a packed weight. */
export function blockLength(w: Extract<LinearWeight, { kind: 'nbits' }>): number {
  return w.blockSize ?? NBITS_BLOCK;
}

/** The zero point MatMulNBits subtracts from every stored value. */
export function zeroPoint(w: Extract<LinearWeight, { kind: 'nbits' }>): number {
  return w.zero ?? (w.bits === 4 ? 8 : 128);
}

/**
 * An 8-bit weight as two 4-bit ones whose sum it is, exactly: v = u − 128 = 16·hi + lo with
 * hi = v >> 4 in −8..7 (stored as hi + 8, zero point 8, scale 16·s) and lo = v & 15 (zero point 0,
 * scale s). ONNX Runtime's 8-bit MatMulNBits in f32 arithmetic is ~35× slower than f32 MatMul; two
 * 4-bit ones are a little faster than f32 and a quarter of its memory (SmolLM2's tied vocabulary
 * projection: 28 MB instead of 113 MB).
 */
export function splitEightBit(w: Extract<LinearWeight, { kind: 'nbits' }>): [LinearWeight, LinearWeight] {
  return runSteps(splitEightBitSteps(w));
}

/** splitEightBit, yielding every SLICE_BYTES of input. */
export function* splitEightBitSteps(w: Extract<LinearWeight, { kind: 'nbits' }>): Steps<[LinearWeight, LinearWeight]> {
  // Offsets, if any, go with the low half: s·(u − 128) + off = 16s·hi + (s·lo + off).
  if (w.bits !== 8 || zeroPoint(w) !== 128) throw new Error('splitEightBit: expects 8-bit blocks with zero point 128');
  const hi = new Uint8Array(w.packed.length / 2);
  const lo = new Uint8Array(w.packed.length / 2);
  for (let start = 0; start < w.packed.length; start += SLICE_BYTES) {
    if (start) yield;
    splitBytes(w.packed, hi, lo, start, Math.min(w.packed.length, start + SLICE_BYTES));
  }
  const base = { kind: 'nbits' as const, bits: 4 as const, rows: w.rows, cols: w.cols, blockSize: w.blockSize };
  return [
    { ...base, packed: hi, scales: w.scales.map((s) => 16 * s), zero: 8 },
    { ...base, packed: lo, scales: w.scales, zero: 0, offsets: w.offsets },
  ];
}

/** Bytes start to end of splitEightBit. (Hot loops stay outside generators, which V8 optimises less.) */
function splitBytes(packed: Uint8Array, hi: Uint8Array, lo: Uint8Array, start: number, end: number): void {
  for (let i = start; i < end; i += 2) {
    const a = packed[i] - 128, b = packed[i + 1] - 128;
    hi[i >> 1] = ((a >> 4) + 8) | (((b >> 4) + 8) << 4);
    lo[i >> 1] = (a & 15) | ((b & 15) << 4);
  }
}

/**
 * Input bytes per slice of a long conversion (~5-10 ms of work here), between which the work
 * yields (util/steps). Even, so that 8-bit pairs never straddle two slices.
 */
export const SLICE_BYTES = 1 << 20;

/**
 * A weight of `rows` rows converted a slice of rows at a time by `convert(r0, r1)` (rows r0 to r1,
 * `bytesPerRow` bytes of input each), yielding between slices. The result is the one conversion of
 * all rows would give: every form maps a row's blocks to that row's values alone, and which form a
 * conversion picks depends on the type and the row length, not on the number of rows.
 */
export function* inRowSlices(rows: number, bytesPerRow: number, convert: (r0: number, r1: number) => LinearWeight): Steps<LinearWeight> {
  const per = Math.max(1, Math.floor(SLICE_BYTES / bytesPerRow));
  if (per >= rows) return convert(0, rows);
  const first = convert(0, per);
  const grown = <A extends Float32Array | Uint8Array>(a: A, make: (n: number) => A): A => {
    const out = make((a.length / per) * rows);
    out.set(a);
    return out;
  };
  const floats = (n: number) => new Float32Array(n);
  const data = first.kind === 'float' ? grown(first.data, floats) : undefined;
  const packed = first.kind === 'nbits' ? grown(first.packed, (n) => new Uint8Array(n)) : undefined;
  const scales = first.kind === 'nbits' ? grown(first.scales, floats) : undefined;
  const offsets = first.kind === 'nbits' && first.offsets ? grown(first.offsets, floats) : undefined;
  /** Copies slice `s`'s `part` to where row r0 starts in `all`. */
  const place = <A extends Float32Array | Uint8Array>(all: A | undefined, part: A | undefined, r0: number) => {
    if (!all || !part) return;
    all.set(part, (all.length / rows) * r0);
  };
  for (let r0 = per; r0 < rows; r0 += per) {
    yield;
    const s = convert(r0, Math.min(rows, r0 + per));
    if (s.kind !== first.kind) throw new Error('inRowSlices: slices converted to different forms');
    if (s.kind === 'float') place(data, s.data, r0);
    else {
      place(packed, s.packed, r0);
      place(scales, s.scales, r0);
      place(offsets, s.offsets, r0);
    }
  }
  return first.kind === 'float' ? { ...first, rows, data: data! } : { ...first, rows, packed: packed!, scales: scales!, offsets };
}

/** The weight's dense f32 values, row-major [rows, cols] (for tests and small fallbacks). */
export function denseValues(w: LinearWeight): Float32Array {
  if (w.kind === 'float') return w.data;
  const out = new Float32Array(w.rows * w.cols);
  const len = blockLength(w);
  const blocksPerRow = w.cols / len;
  const zero = zeroPoint(w);
  const rb = packedRowBytes(w);
  for (let r = 0; r < w.rows; r++) {
    for (let b = 0; b < blocksPerRow; b++) {
      const s = w.scales[r * blocksPerRow + b];
      const off = w.offsets ? w.offsets[r * blocksPerRow + b] : 0;
      for (let e = 0; e < len; e++) {
        const i = b * len + e; // element index within the row
        let q: number;
        if (w.bits === 8) q = w.packed[r * rb + i];
        else {
          const byte = w.packed[r * rb + (i >> 1)];
          q = i & 1 ? byte >> 4 : byte & 0xf;
        }
        out[r * w.cols + i] = s * (q - zero) + off;
      }
    }
  }
  return out;
}

/**
 * Converts a ggml tensor of `rows` × `cols` (cols contiguous) into a LinearWeight: Q4_0, Q4_1,
 * Q4_K, Q5_0, Q5_1, Q5_K, Q8_0 and Q6_K are repacked exactly for MatMulNBits; every other type is
 * decoded to f32.
 */
export function linearFromGgml(type: number, bytes: Uint8Array, rows: number, cols: number): LinearWeight {
  if (type === GgmlType.Q4_K && cols % 256 === 0) return linearFromQ4K(bytes, rows, cols);
  if (type === GgmlType.Q6_K && cols % 256 === 0) return rowsFromQ6K(bytes, rows, cols);
  if ((type === GgmlType.Q5_0 || type === GgmlType.Q5_1) && cols % NBITS_BLOCK === 0) return linearFromQ5(type, bytes, rows, cols);
  if (type === GgmlType.Q5_K && cols % 256 === 0) return linearFromQ5K(bytes, rows, cols);
  const fast = cols % NBITS_BLOCK === 0 && (type === GgmlType.Q4_0 || type === GgmlType.Q4_1 || type === GgmlType.Q8_0);
  if (!fast) return { kind: 'float', rows, cols, data: dequantize(type, bytes, rows * cols) };
  const blocks = (rows * cols) / NBITS_BLOCK;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scales = new Float32Array(blocks);
  if (type === GgmlType.Q8_0) {
    const packed = new Uint8Array(blocks * 32);
    for (let b = 0; b < blocks; b++) {
      scales[b] = f16ToF32(dv.getUint16(b * 34, true));
      // int8 q → uint8 q + 128, so that scale·(u − 128) = d·q with the default zero point.
      for (let j = 0; j < 32; j++) packed[b * 32 + j] = bytes[b * 34 + 2 + j] ^ 0x80;
    }
    return { kind: 'nbits', bits: 8, rows, cols, packed, scales };
  }
  const isQ41 = type === GgmlType.Q4_1;
  const stride = isQ41 ? 20 : 18;
  const head = isQ41 ? 4 : 2;
  const packed = new Uint8Array(blocks * 16);
  const offsets = isQ41 ? new Float32Array(blocks) : undefined;
  for (let b = 0; b < blocks; b++) {
    const o = b * stride;
    const d = f16ToF32(dv.getUint16(o, true));
    scales[b] = d;
    if (offsets) offsets[b] = f16ToF32(dv.getUint16(o + 2, true)) + 8 * d;
    // ggml: element j<16 is the low nibble of byte j, element j+16 its high nibble.
    // MatMulNBits: element 2i is the low nibble of byte i, element 2i+1 its high nibble.
    for (let i = 0; i < 16; i++) {
      const e0 = 2 * i, e1 = 2 * i + 1;
      const lo = e0 < 16 ? bytes[o + head + e0] & 0xf : bytes[o + head + e0 - 16] >> 4;
      const hi = e1 < 16 ? bytes[o + head + e1] & 0xf : bytes[o + head + e1 - 16] >> 4;
      packed[b * 16 + i] = lo | (hi << 4);
    }
  }
  return { kind: 'nbits', bits: 4, rows, cols, packed, scales, offsets };
}

/**
 * 5-bit blocks of 32 as 8-bit ones: q in 0..31 with value = s·q + o is stored as u = q + 112 (so
 * u − 128 = q − 16) with scale s and offset o + 16·s. Q5_0 (o = −16·d) needs no offsets.
 */
function fiveBitWeight(rows: number, cols: number, withOffsets: boolean) {
  const blocks = (rows * cols) / NBITS_BLOCK;
  return {
    w: {
      kind: 'nbits' as const,
      bits: 8 as const,
      rows,
      cols,
      packed: new Uint8Array(rows * cols),
      scales: new Float32Array(blocks),
      offsets: withOffsets ? new Float32Array(blocks) : undefined,
    },
    /** Block `b` of 32: its scale, offset (value of q = 0) and the 32 q values via `q(e)`. */
    set(b: number, scale: number, offset: number, q: (e: number) => number) {
      this.w.scales[b] = scale;
      if (this.w.offsets) this.w.offsets[b] = offset + 16 * scale;
      for (let e = 0; e < NBITS_BLOCK; e++) this.w.packed[b * NBITS_BLOCK + e] = q(e) + 112;
    },
  };
}

/** Q5_0 (d, 32 × 5 bits: value d·(q − 16)) and Q5_1 (d, m: value d·q + m). */
function linearFromQ5(type: number, bytes: Uint8Array, rows: number, cols: number): LinearWeight {
  const isQ51 = type === GgmlType.Q5_1;
  const stride = isQ51 ? 24 : 22;
  const blocks = (rows * cols) / NBITS_BLOCK;
  if (bytes.length < blocks * stride) throw new KvsteerError('GGUF_CORRUPT', `${isQ51 ? 'Q5_1' : 'Q5_0'} data holds ${bytes.length} bytes, too few for ${rows * cols} values`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = fiveBitWeight(rows, cols, isQ51);
  for (let b = 0; b < blocks; b++) {
    const o = b * stride, d = f16ToF32(dv.getUint16(o, true));
    const offset = isQ51 ? f16ToF32(dv.getUint16(o + 2, true)) : -16 * d;
    const qh = dv.getUint32(o + (isQ51 ? 4 : 2), true), qs = o + (isQ51 ? 8 : 6);
    out.set(b, d, offset, (e) => q5Value(bytes, qs, qh, e));
  }
  return out.w;
}

/** Q5_K (in Q5_K_M files): super-blocks of 256 with 8 sub-blocks of 32, value = (d·sc)·q − dmin·m, q in 0..31. */
function linearFromQ5K(bytes: Uint8Array, rows: number, cols: number): LinearWeight {
  const superBlocks = (rows * cols) / 256;
  if (bytes.length < superBlocks * 176) throw new KvsteerError('GGUF_CORRUPT', `Q5_K data holds ${bytes.length} bytes, too few for ${rows * cols} values`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = fiveBitWeight(rows, cols, true);
  for (let b = 0; b < superBlocks; b++) {
    const o = b * 176, d = f16ToF32(dv.getUint16(o, true)), dmin = f16ToF32(dv.getUint16(o + 2, true));
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(bytes, o + 4, j);
      out.set(b * 8 + j, d * sc, -dmin * m, (l) => q5KValue(bytes, o, j, l));
    }
  }
  return out.w;
}

/**
 * Q4_K (the bulk of llama.cpp's Q4_K_M files): each super-block of 256 holds 8 sub-blocks of 32
 * with value = (d·sc)·q − dmin·m, q in 0..15, i.e. 4-bit blocks of 32 with scale d·sc and offset
 * −dmin·m (+ 8·scale for MatMulNBits' zero point 8). d·sc and dmin·m are exact in f32 (an f16 times
 * a 6-bit integer).
 */
function linearFromQ4K(bytes: Uint8Array, rows: number, cols: number): LinearWeight {
  const superBlocks = (rows * cols) / 256;
  if (bytes.length < superBlocks * 144) throw new KvsteerError('GGUF_CORRUPT', `Q4_K data holds ${bytes.length} bytes, too few for ${rows * cols} values`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const packed = new Uint8Array(superBlocks * 8 * 16);
  const scales = new Float32Array(superBlocks * 8);
  const offsets = new Float32Array(superBlocks * 8);
  for (let b = 0; b < superBlocks; b++) {
    const o = b * 144, d = f16ToF32(dv.getUint16(o, true)), dmin = f16ToF32(dv.getUint16(o + 2, true));
    for (let j = 0; j < 8; j++) {
      const [sc, m] = scaleMinK4(bytes, o + 4, j);
      const blk = b * 8 + j;
      scales[blk] = d * sc;
      offsets[blk] = -dmin * m + 8 * d * sc;
      for (let i = 0; i < 16; i++) packed[blk * 16 + i] = q4KValue(bytes, o, j, 2 * i) | (q4KValue(bytes, o, j, 2 * i + 1) << 4);
    }
  }
  return { kind: 'nbits', bits: 4, rows, cols, packed, scales, offsets };
}

/**
 * Q6_K as 8-bit blocks of 16: value = (d·sc)·(q − 32) with q in 0..63 and sc a signed 8-bit
 * scale per 16 values, i.e. q + 96 read with zero point 128 and scale d·sc (exact in f32). Used
 * for token embeddings, which the graph gathers with GatherBlockQuantized, and for block weights.
 */
export function rowsFromQ6K(bytes: Uint8Array, rows: number, cols: number): LinearWeight {
  const superBlocks = (rows * cols) / 256;
  if (cols % 256 !== 0 || bytes.length < superBlocks * 210) throw new KvsteerError('GGUF_CORRUPT', `Q6_K data holds ${bytes.length} bytes, too few for ${rows * cols} values`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const packed = new Uint8Array(rows * cols);
  const scales = new Float32Array((rows * cols) / 16);
  for (let b = 0; b < superBlocks; b++) {
    const o = b * 210, d = f16ToF32(dv.getUint16(o + 208, true));
    for (let j = 0; j < 16; j++) scales[b * 16 + j] = d * dv.getInt8(o + 192 + j);
    const q = packed.subarray(b * 256, (b + 1) * 256);
    unpackQ6K(bytes, o, q);
    for (let i = 0; i < 256; i++) q[i] += 96;
  }
  return { kind: 'nbits', bits: 8, rows, cols, packed, scales, blockSize: 16 };
}

/** Returns W with its rows reordered: row r of the result is row `perm[r]` of `w`. */
export function permuteRows(w: LinearWeight, perm: number[]): LinearWeight {
  if (w.kind === 'float') {
    const data = new Float32Array(w.data.length);
    perm.forEach((src, r) => data.set(w.data.subarray(src * w.cols, (src + 1) * w.cols), r * w.cols));
    return { ...w, data };
  }
  const rb = packedRowBytes(w);
  const bpr = w.cols / blockLength(w);
  const packed = new Uint8Array(w.packed.length);
  const scales = new Float32Array(w.scales.length);
  const offsets = w.offsets ? new Float32Array(w.offsets.length) : undefined;
  perm.forEach((src, r) => {
    packed.set(w.packed.subarray(src * rb, (src + 1) * rb), r * rb);
    scales.set(w.scales.subarray(src * bpr, (src + 1) * bpr), r * bpr);
    offsets?.set(w.offsets!.subarray(src * bpr, (src + 1) * bpr), r * bpr);
  });
  return { ...w, packed, scales, offsets };
}

/** Stacks weights with equal `cols` and the same form into one [Σrows, cols] weight, or undefined. */
export function concatRows(ws: LinearWeight[]): LinearWeight | undefined {
  const first = ws[0];
  const rows = ws.reduce((a, w) => a + w.rows, 0);
  if (!ws.every((w) => w.cols === first.cols && w.kind === first.kind)) return undefined;
  const floats = (parts: Float32Array[]) => concatArrays(parts, (n) => new Float32Array(n));
  if (first.kind === 'float') return { kind: 'float', rows, cols: first.cols, data: floats((ws as Extract<LinearWeight, { kind: 'float' }>[]).map((w) => w.data)) };
  const nb = ws as Extract<LinearWeight, { kind: 'nbits' }>[];
  if (!nb.every((w) => w.bits === first.bits && !!w.offsets === !!first.offsets && blockLength(w) === blockLength(first) && zeroPoint(w) === zeroPoint(first))) return undefined;
  return {
    kind: 'nbits',
    bits: first.bits,
    rows,
    cols: first.cols,
    packed: concatArrays(nb.map((w) => w.packed), (n) => new Uint8Array(n)),
    scales: floats(nb.map((w) => w.scales)),
    offsets: first.offsets ? floats(nb.map((w) => w.offsets!)) : undefined,
    blockSize: first.blockSize,
    zero: first.zero,
  };
}
