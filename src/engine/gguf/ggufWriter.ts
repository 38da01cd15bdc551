/**
 * Writes GGUF (version 3) files, with reference quantizers for F32, F16, Q8_0, Q4_0 and Q4_1
 * blocks and simple ones for Q4_K and Q6_K (plain scales per sub-block, ggml's packing; not
 * ggml's search). kvsteer uses it to build its tiny random test models through the same import path as a
 * real GGUF, and tests use it to make deliberately broken files.
 */
import * as fs from 'node:fs';
import { f16ToF32, f32ToF16 } from '../util/half';
import { GgmlType, ggmlByteSize } from './ggmlTypes';

export type GgufWriteValue =
  | { type: 'u32'; value: number }
  | { type: 'u64'; value: bigint }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: string[] }
  | { type: 'i32[]'; value: number[] }
  | { type: 'f32[]'; value: number[] };

export interface GgufWriteTensor {
  name: string;
  /** ggml order: innermost first. */
  dims: number[];
  type: GgmlType;
  data: Uint8Array;
}

class ByteSink {
  private parts: Buffer[] = [];
  size = 0;
  push(b: Buffer): void { this.parts.push(b); this.size += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v: number): void { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v: number | bigint): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v: number): void { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  concat(): Buffer { return Buffer.concat(this.parts); }
}

const VT = { U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10 };

/** A metadata section copied verbatim from another GGUF file: its key count and bytes. */
export interface RawGgufMetadata {
  count: number;
  bytes: Uint8Array;
}

export function writeGguf(file: string, metadata: Record<string, GgufWriteValue> | RawGgufMetadata, tensors: GgufWriteTensor[], alignment = 32): void {
  const s = new ByteSink();
  s.push(Buffer.from('GGUF', 'ascii'));
  s.u32(3);
  s.u64(tensors.length);
  const raw = isRaw(metadata) ? metadata : undefined;
  s.u64(raw ? raw.count : Object.keys(metadata).length);
  if (raw) s.push(Buffer.from(raw.bytes));
  for (const [key, v] of raw ? [] : Object.entries(metadata as Record<string, GgufWriteValue>)) {
    s.str(key);
    switch (v.type) {
      case 'u32': s.u32(VT.U32); s.u32(v.value); break;
      case 'u64': s.u32(VT.U64); s.u64(v.value); break;
      case 'i32': s.u32(VT.I32); s.i32(v.value); break;
      case 'f32': s.u32(VT.F32); s.f32(v.value); break;
      case 'bool': s.u32(VT.BOOL); s.push(Buffer.from([v.value ? 1 : 0])); break;
      case 'string': s.u32(VT.STRING); s.str(v.value); break;
      case 'string[]': s.u32(VT.ARRAY); s.u32(VT.STRING); s.u64(v.value.length); v.value.forEach((x) => s.str(x)); break;
      case 'i32[]': s.u32(VT.ARRAY); s.u32(VT.I32); s.u64(v.value.length); v.value.forEach((x) => s.i32(x)); break;
      case 'f32[]': s.u32(VT.ARRAY); s.u32(VT.F32); s.u64(v.value.length); v.value.forEach((x) => s.f32(x)); break;
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    if (ggmlByteSize(t.type, elements) !== t.data.length) throw new Error(`tensor ${t.name}: ${t.data.length} bytes do not match its type and shape`);
    offset = Math.ceil(offset / alignment) * alignment;
    offsets.push(offset);
    offset += t.data.length;
    s.str(t.name);
    s.u32(t.dims.length);
    t.dims.forEach((d) => s.u64(d));
    s.u32(t.type);
    s.u64(offsets[offsets.length - 1]);
  }
  const headerEnd = Math.ceil(s.size / alignment) * alignment;
  s.push(Buffer.alloc(headerEnd - s.size));
  const out = [s.concat()];
  let at = 0;
  tensors.forEach((t, i) => {
    if (offsets[i] > at) out.push(Buffer.alloc(offsets[i] - at));
    out.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    at = offsets[i] + t.data.length;
  });
  fs.writeFileSync(file, Buffer.concat(out));
}

function isRaw(m: Record<string, GgufWriteValue> | RawGgufMetadata): m is RawGgufMetadata {
  return (m as RawGgufMetadata).bytes instanceof Uint8Array && typeof (m as RawGgufMetadata).count === 'number';
}

/** Encodes f32 values as ggml blocks of `type` with ggml's reference (non-SIMD) quantizers. */
export function quantize(type: GgmlType, values: Float32Array): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(ggmlByteSize(type, n));
  const dv = new DataView(out.buffer);
  switch (type) {
    case GgmlType.F32:
      for (let i = 0; i < n; i++) dv.setFloat32(i * 4, values[i], true);
      return out;
    case GgmlType.F16:
      for (let i = 0; i < n; i++) dv.setUint16(i * 2, f32ToF16(values[i]), true);
      return out;
    case GgmlType.Q8_0:
      for (let b = 0; b < n / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[b * 32 + j]));
        const d = amax / 127, id = d ? 1 / d : 0;
        dv.setUint16(b * 34, f32ToF16(d), true);
        for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.round(values[b * 32 + j] * id));
      }
      return out;
    case GgmlType.Q4_0:
      for (let b = 0; b < n / 32; b++) {
        let amax = 0, max = 0;
        for (let j = 0; j < 32; j++) {
          const v = values[b * 32 + j];
          if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
        }
        const d = max / -8, id = d ? 1 / d : 0;
        dv.setUint16(b * 18, f32ToF16(d), true);
        for (let j = 0; j < 16; j++) {
          const x0 = Math.min(15, Math.trunc(values[b * 32 + j] * id + 8.5));
          const x1 = Math.min(15, Math.trunc(values[b * 32 + 16 + j] * id + 8.5));
          out[b * 18 + 2 + j] = x0 | (x1 << 4);
        }
      }
      return out;
    case GgmlType.Q4_1:
      for (let b = 0; b < n / 32; b++) {
        let min = Infinity, max = -Infinity;
        for (let j = 0; j < 32; j++) { min = Math.min(min, values[b * 32 + j]); max = Math.max(max, values[b * 32 + j]); }
        const d = (max - min) / 15, id = d ? 1 / d : 0;
        dv.setUint16(b * 20, f32ToF16(d), true);
        dv.setUint16(b * 20 + 2, f32ToF16(min), true);
        for (let j = 0; j < 16; j++) {
          const x0 = Math.min(15, Math.trunc((values[b * 32 + j] - min) * id + 0.5));
          const x1 = Math.min(15, Math.trunc((values[b * 32 + 16 + j] - min) * id + 0.5));
          out[b * 20 + 4 + j] = x0 | (x1 << 4);
        }
      }
      return out;
    case GgmlType.Q5_0:
    case GgmlType.Q5_1: {
      // ggml's quantize_row_q5_0_ref / q5_1_ref: 5-bit values, low nibbles then a mask of 5th bits.
      const q51 = type === GgmlType.Q5_1, stride = q51 ? 24 : 22;
      for (let b = 0; b < n / 32; b++) {
        const x = values.subarray(b * 32, (b + 1) * 32), o = b * stride;
        let d: number, base: number;
        if (q51) {
          const min = Math.min(...x), max = Math.max(...x);
          d = (max - min) / 31;
          base = min;
          dv.setUint16(o + 2, f32ToF16(min), true);
        } else {
          let amax = 0, max = 0;
          for (const v of x) if (Math.abs(v) > amax) { amax = Math.abs(v); max = v; }
          d = max / -16;
          base = 0;
        }
        dv.setUint16(o, f32ToF16(d), true);
        const id = d ? 1 / d : 0;
        let qh = 0;
        for (let j = 0; j < 32; j++) {
          const q = q51 ? Math.min(31, Math.trunc((x[j] - base) * id + 0.5)) : Math.min(31, Math.trunc(x[j] * id + 16.5));
          if (q & 16) qh |= 1 << j;
          out[o + (q51 ? 8 : 6) + (j & 15)] |= (q & 15) << (j < 16 ? 0 : 4);
        }
        dv.setUint32(o + (q51 ? 4 : 2), qh >>> 0, true);
      }
      return out;
    }
    case GgmlType.Q4_K:
      for (let b = 0; b < n / 256; b++) quantizeKBlock(values.subarray(b * 256, (b + 1) * 256), out.subarray(b * 144, (b + 1) * 144), 4);
      return out;
    case GgmlType.Q5_K:
      for (let b = 0; b < n / 256; b++) quantizeKBlock(values.subarray(b * 256, (b + 1) * 256), out.subarray(b * 176, (b + 1) * 176), 5);
      return out;
    case GgmlType.Q6_K:
      for (let b = 0; b < n / 256; b++) quantizeQ6KBlock(values.subarray(b * 256, (b + 1) * 256), out.subarray(b * 210, (b + 1) * 210));
      return out;
    default:
      throw new Error(`no quantizer for ${GgmlType[type]}`);
  }
}

/**
 * One Q4_K (bits 4: 256 values → 144 bytes) or Q5_K (bits 5: → 176 bytes) super-block: d, dmin
 * (f16), 12 bytes of 6-bit sub-block scales and mins, for Q5_K 32 bytes of 5th bits, then 128 bytes
 * of low nibbles; value = d·sc·q − dmin·m for each sub-block of 32.
 */
function quantizeKBlock(x: Float32Array, out: Uint8Array, bits: 4 | 5): void {
  const top = (1 << bits) - 1;
  const scale = new Float64Array(8), min = new Float64Array(8);
  for (let j = 0; j < 8; j++) {
    let lo = 0, hi = -Infinity; // the min is never above 0: ggml stores it as a subtraction
    for (let l = 0; l < 32; l++) { lo = Math.min(lo, x[32 * j + l]); hi = Math.max(hi, x[32 * j + l]); }
    scale[j] = Math.max(0, (hi - lo) / top);
    min[j] = -lo;
  }
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const d = f16ToF32Round(Math.max(...scale) / 63), dmin = f16ToF32Round(Math.max(...min) / 63);
  dv.setUint16(0, f32ToF16(d), true);
  dv.setUint16(2, f32ToF16(dmin), true);
  const ls = new Uint8Array(8), lm = new Uint8Array(8);
  for (let j = 0; j < 8; j++) {
    ls[j] = d ? Math.min(63, Math.round(scale[j] / d)) : 0;
    lm[j] = dmin ? Math.min(63, Math.round(min[j] / dmin)) : 0;
  }
  const sc = out.subarray(4, 16);
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      sc[j] = ls[j];
      sc[j + 4] = lm[j];
    } else {
      sc[j + 4] = (ls[j] & 0xf) | ((lm[j] & 0xf) << 4);
      sc[j - 4] |= (ls[j] >> 4) << 6;
      sc[j] |= (lm[j] >> 4) << 6;
    }
  }
  const q = new Uint8Array(256);
  for (let j = 0; j < 8; j++) {
    const s = d * ls[j], m = dmin * lm[j];
    for (let l = 0; l < 32; l++) q[32 * j + l] = s ? Math.max(0, Math.min(top, Math.round((x[32 * j + l] + m) / s))) : 0;
  }
  // Q5_K: bit j of byte l of qh is the 5th bit of value l of sub-block j.
  const qs = bits === 5 ? 48 : 16;
  if (bits === 5) for (let j = 0; j < 8; j++) for (let l = 0; l < 32; l++) out[16 + l] |= (q[32 * j + l] >> 4) << j;
  for (let c = 0; c < 4; c++) for (let l = 0; l < 32; l++) out[qs + 32 * c + l] = (q[64 * c + l] & 0xf) | ((q[64 * c + 32 + l] & 0xf) << 4);
}

/**
 * One Q6_K super-block (256 values → 210 bytes): 128 bytes of low nibbles, 64 of high bit pairs,
 * 16 signed 8-bit sub-block scales, d (f16); value = d·sc·(q − 32) for each sub-block of 16.
 */
function quantizeQ6KBlock(x: Float32Array, out: Uint8Array): void {
  const scale = new Float64Array(16);
  for (let j = 0; j < 16; j++) {
    let amax = 0;
    for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[16 * j + l]));
    scale[j] = amax / 31;
  }
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const d = f16ToF32Round(Math.max(...scale) / 127);
  dv.setUint16(208, f32ToF16(d), true);
  const q = new Uint8Array(256);
  for (let j = 0; j < 16; j++) {
    const sc = d ? Math.max(-128, Math.min(127, Math.round(scale[j] / d))) : 0;
    dv.setInt8(192 + j, sc);
    const s = d * sc;
    for (let l = 0; l < 16; l++) q[16 * j + l] = (s ? Math.max(-32, Math.min(31, Math.round(x[16 * j + l] / s))) : 0) + 32;
  }
  for (let n = 0; n < 2; n++) {
    for (let l = 0; l < 32; l++) {
      const [q1, q2, q3, q4] = [q[128 * n + l], q[128 * n + 32 + l], q[128 * n + 64 + l], q[128 * n + 96 + l]];
      out[64 * n + l] = (q1 & 0xf) | ((q3 & 0xf) << 4);
      out[64 * n + l + 32] = (q2 & 0xf) | ((q4 & 0xf) << 4);
      out[128 + 32 * n + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
  }
}

/** The value an f16 field will hold, so quantization uses the rounded scale. */
function f16ToF32Round(v: number): number {
  return f16ToF32(f32ToF16(v));
}
