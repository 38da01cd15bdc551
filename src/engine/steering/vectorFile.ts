/**
 * Reads and writes steering vectors as safetensors files: F32 tensors `keys.{l}` and `values.{l}`
 * of shape [kv_heads, head_dim], and the metadata as JSON under `__metadata__.kvsteer`. Writes are
 * atomic; reads check every length, shape, offset and number and name the file and the problem.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from '../util/atomicWrite';
import { KvsteerError } from '../util/errors';
import { MAX_VECTOR_LAYERS, SteeringVector, SteeringVectorMeta, validateVector } from './steeringVector';

export function encodeVector(v: SteeringVector): Uint8Array {
  validateVector(v, v.meta.name);
  const { numKvHeads, headDim } = v.meta.model.fingerprint;
  const header: Record<string, unknown> = { __metadata__: { kvsteer: JSON.stringify(v.meta) } };
  const chunks: Float32Array[] = [];
  let offset = 0;
  const add = (name: string, data: Float32Array, shape = [numKvHeads, headDim]) => {
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
    chunks.push(data);
  };
  v.keys.forEach((k, l) => add(`keys.${l}`, k));
  v.values.forEach((val, l) => add(`values.${l}`, val));
  v.hidden?.forEach((h, l) => add(`hidden.${l}`, h, [h.length]));
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hb = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hb.length + offset);
  out.writeBigUInt64LE(BigInt(hb.length), 0);
  hb.copy(out, 8);
  let at = 8 + hb.length;
  for (const c of chunks) {
    Buffer.from(c.buffer, c.byteOffset, c.byteLength).copy(out, at);
    at += c.byteLength;
  }
  return out;
}

export function saveVector(file: string, v: SteeringVector): void {
  writeFileAtomic(file, encodeVector(v));
}

export function decodeVector(bytes: Uint8Array, label: string): SteeringVector {
  const bad = (why: string) => new KvsteerError('VECTOR_INVALID', `${label}: not a valid kvsteer vector file (${why})`);
  try {
    return decodeVectorBytes(bytes, label, bad);
  } catch (e) {
    // Any shape the checks below did not foresee still names the file, not a bare TypeError.
    if (e instanceof KvsteerError) throw e;
    throw bad(e instanceof Error ? e.message : String(e));
  }
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function decodeVectorBytes(bytes: Uint8Array, label: string, bad: (why: string) => KvsteerError): SteeringVector {
  if (bytes.length < 8) throw bad('too short');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(buf.readBigUInt64LE(0));
  if (n <= 0 || 8 + n > buf.length) throw bad('bad header length');
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', 8, 8 + n));
  } catch {
    throw bad('the header is not JSON');
  }
  if (!isRecord(header)) throw bad('the header is not a JSON object');
  const metaRaw = isRecord(header.__metadata__) ? header.__metadata__.kvsteer : undefined;
  if (typeof metaRaw !== 'string') throw bad('no kvsteer metadata');
  let meta: SteeringVectorMeta;
  try {
    meta = JSON.parse(metaRaw) as SteeringVectorMeta;
  } catch {
    throw bad('the metadata is not JSON');
  }
  if (!isRecord(meta) || meta.format !== 'kvsteer-vector/1' || !isRecord(meta.model) || !isRecord(meta.model.fingerprint)) throw bad(`unknown format ${isRecord(meta) ? String(meta.format) : 'null'}`);
  const dataStart = 8 + n;
  const shapes = new Map<string, unknown>();
  const tensor = (name: string): Float32Array => {
    const t = header[name];
    if (!isRecord(t)) throw bad(`tensor ${name} is missing`);
    if (t.dtype !== 'F32') throw bad(`tensor ${name} is ${String(t.dtype)}, expected F32`);
    const [b, e] = Array.isArray(t.data_offsets) && t.data_offsets.length === 2 ? t.data_offsets : [-1, -1];
    if (!(Number.isSafeInteger(b) && Number.isSafeInteger(e) && b >= 0 && e >= b && dataStart + e <= buf.length && (e - b) % 4 === 0)) throw bad(`tensor ${name} lies outside the file`);
    const out = new Float32Array((e - b) / 4);
    shapes.set(name, t.shape);
    for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(dataStart + b + i * 4);
    return out;
  };
  const L = meta.model.fingerprint.numLayers;
  if (!Number.isInteger(L) || L < 1 || L > MAX_VECTOR_LAYERS) throw bad(`the metadata gives ${JSON.stringify(L)} layers`);
  const v: SteeringVector = {
    keys: Array.from({ length: L }, (_, l) => tensor(`keys.${l}`)),
    values: Array.from({ length: L }, (_, l) => tensor(`values.${l}`)),
    hidden: 'hidden.0' in header ? Array.from({ length: L }, (_, l) => tensor(`hidden.${l}`)) : undefined,
    meta,
  };
  validateVector(v, label);
  // The lengths fit (checked above); the declared shape must too, or the numbers are laid out
  // otherwise than [kv_heads, head_dim] (a transposed export has the same length).
  const { numKvHeads, headDim } = meta.model.fingerprint;
  for (const [name, shape] of shapes) {
    const want = name.startsWith('hidden.') ? [v.hidden![0].length] : [numKvHeads, headDim];
    if (JSON.stringify(shape) !== JSON.stringify(want)) throw bad(`tensor ${name} has shape ${JSON.stringify(shape)}, expected ${JSON.stringify(want)}`);
  }
  return v;
}

export function loadVector(file: string): SteeringVector {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new KvsteerError('FILE_NOT_FOUND', `${file}: cannot read the vector file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return decodeVector(bytes, file);
}
