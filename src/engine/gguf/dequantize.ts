/**
 * Turns ggml tensor bytes into f32 values, block format by block format, following the reference
 * decoders in ggml (ggml-quants.c) and gguf-py (quants.py). Used for norms, for weights whose type
 * has no exact ONNX Runtime kernel (the K-quants), and by tests as the ground truth for the packed
 * formats the graph uses directly.
 */
import { KvsteerError } from '../util/errors';
import { bf16ToF32, f16ToF32 } from '../util/half';
import { GgmlType, ggmlBlockLayout, ggmlTypeName } from './ggmlTypes';

export const DEQUANTIZABLE = new Set<number>([
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
  GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
]);

/** Decodes `elements` values of `type` from `bytes`. */
export function dequantize(type: number, bytes: Uint8Array, elements: number): Float32Array {
  const layout = ggmlBlockLayout(type);
  if (!layout || !DEQUANTIZABLE.has(type)) {
    throw new KvsteerError('GGUF_UNSUPPORTED', `tensor type ${ggmlTypeName(type)} is not supported`);
  }
  const blocks = elements / layout.blockSize;
  if (!Number.isInteger(blocks) || bytes.length < blocks * layout.blockBytes) {
    throw new KvsteerError('GGUF_CORRUPT', `${ggmlTypeName(type)} data holds ${bytes.length} bytes, too few for ${elements} values`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(elements);
  const h = (o: number) => f16ToF32(dv.getUint16(o, true));
  switch (type) {
    case GgmlType.F32:
      for (let i = 0; i < elements; i++) out[i] = dv.getFloat32(i * 4, true);
      break;
    case GgmlType.F16:
      for (let i = 0; i < elements; i++) out[i] = h(i * 2);
      break;
    case GgmlType.BF16:
      for (let i = 0; i < elements; i++) out[i] = bf16ToF32(dv.getUint16(i * 2, true));
      break;
    case GgmlType.Q4_0:
      for (let b = 0; b < blocks; b++) {
        const o = b * 18, d = h(o), y = b * 32;
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j];
          out[y + j] = ((q & 0xf) - 8) * d;
          out[y + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      break;
    case GgmlType.Q4_1:
      for (let b = 0; b < blocks; b++) {
        const o = b * 20, d = h(o), m = h(o + 2), y = b * 32;
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 4 + j];
          out[y + j] = (q & 0xf) * d + m;
          out[y + j + 16] = (q >> 4) * d + m;
        }
      }
      break;
    case GgmlType.Q5_0:
      for (let b = 0; b < blocks; b++) {
        const o = b * 22, d = h(o), qh = dv.getUint32(o + 2, true);
        for (let e = 0; e < 32; e++) out[b * 32 + e] = (q5Value(bytes, o + 6, qh, e) - 16) * d;
      }
      break;
    case GgmlType.Q5_1:
      for (let b = 0; b < blocks; b++) {
        const o = b * 24, d = h(o), m = h(o + 2), qh = dv.getUint32(o + 4, true);
        for (let e = 0; e < 32; e++) out[b * 32 + e] = q5Value(bytes, o + 8, qh, e) * d + m;
      }
      break;
    case GgmlType.Q8_0:
      for (let b = 0; b < blocks; b++) {
        const o = b * 34, d = h(o), y = b * 32;
        for (let j = 0; j < 32; j++) out[y + j] = dv.getInt8(o + 2 + j) * d;
      }
      break;
    case GgmlType.Q4_K:
      for (let b = 0; b < blocks; b++) {
        const o = b * 144, d = h(o), dmin = h(o + 2);
        for (let j = 0; j < 8; j++) {
          const [sc, m] = scaleMinK4(bytes, o + 4, j);
          const dj = d * sc, mj = dmin * m;
          for (let l = 0; l < 32; l++) out[b * 256 + 32 * j + l] = dj * q4KValue(bytes, o, j, l) - mj;
        }
      }
      break;
    case GgmlType.Q5_K:
      for (let b = 0; b < blocks; b++) {
        const o = b * 176, d = h(o), dmin = h(o + 2);
        for (let j = 0; j < 8; j++) {
          const [sc, m] = scaleMinK4(bytes, o + 4, j);
          const dj = d * sc, mj = dmin * m;
          for (let l = 0; l < 32; l++) out[b * 256 + 32 * j + l] = dj * q5KValue(bytes, o, j, l) - mj;
        }
      }
      break;
    case GgmlType.Q6_K: {
      const q = new Uint8Array(256);
      for (let b = 0; b < blocks; b++) {
        const o = b * 210, d = h(o + 208);
        unpackQ6K(bytes, o, q);
        // One signed 8-bit scale per 16 values.
        for (let i = 0; i < 256; i++) out[b * 256 + i] = d * dv.getInt8(o + 192 + (i >> 4)) * (q[i] - 32);
      }
      break;
    }
    default:
      throw new KvsteerError('GGUF_UNSUPPORTED', `tensor type ${ggmlTypeName(type)} is not supported`);
  }
  return out;
}

/**
 * q (0..31) of element e of a Q5_0/Q5_1 block: the low nibble of byte e of the 16 at `qs` (for
 * e ≥ 16 the high nibble of byte e − 16), the 5th bit is bit e of the 32-bit mask `qh`.
 */
export function q5Value(bytes: Uint8Array, qs: number, qh: number, e: number): number {
  return (e < 16 ? bytes[qs + e] & 0xf : bytes[qs + e - 16] >> 4) | (((qh >>> e) & 1) << 4);
}

/**
 * q (0..15) of value l of sub-block j (0..7) of the Q4_K super-block at byte `o`: the 128 bytes of
 * nibbles after d, dmin and the 12 scale bytes hold 32 bytes per pair of sub-blocks, even j in the
 * low nibbles, odd j in the high ones.
 */
export function q4KValue(bytes: Uint8Array, o: number, j: number, l: number): number {
  return (bytes[o + 16 + 32 * (j >> 1) + l] >> ((j & 1) * 4)) & 0xf;
}

/**
 * q (0..31) of value l of sub-block j (0..7) of the Q5_K super-block at byte `o`: the low nibbles
 * laid out as Q4_K's, after 32 more bytes (qh), and the 5th bit is bit j of qh byte l.
 */
export function q5KValue(bytes: Uint8Array, o: number, j: number, l: number): number {
  return q4KValue(bytes, o + 32, j, l) | (((bytes[o + 16 + l] >> j) & 1) << 4);
}

/**
 * The 256 six-bit values (0..63, stored value + 32) of the Q6_K super-block at byte `o`, in element
 * order, into `q`. ggml's layout: two halves of 128, each from 64 bytes of low nibbles and 32 bytes
 * of high bit pairs.
 */
export function unpackQ6K(bytes: Uint8Array, o: number, q: Uint8Array): void {
  for (let n = 0; n < 2; n++) {
    const ql = o + 64 * n, qh = o + 128 + 32 * n, y = 128 * n;
    for (let l = 0; l < 32; l++) {
      q[y + l] = (bytes[ql + l] & 0xf) | ((bytes[qh + l] & 3) << 4);
      q[y + l + 32] = (bytes[ql + l + 32] & 0xf) | (((bytes[qh + l] >> 2) & 3) << 4);
      q[y + l + 64] = (bytes[ql + l] >> 4) | (((bytes[qh + l] >> 4) & 3) << 4);
      q[y + l + 96] = (bytes[ql + l + 32] >> 4) | (((bytes[qh + l] >> 6) & 3) << 4);
    }
  }
}

/** Sub-block j's 6-bit scale and min of a Q4_K/Q5_K super-block whose 12 packed bytes start at o. */
export function scaleMinK4(q: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63];
  return [(q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4), (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4)];
}
