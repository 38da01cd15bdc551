/**
 * Reads a GGUF file (versions 2 and 3): the key/value metadata, the tensor directory, and tensor
 * bytes on demand. The parser is our own rather than a library's so that every way a file can be
 * wrong (not GGUF, truncated header, tensor data past the end of the file, an unknown tensor type)
 * becomes one KvsteerError naming the file and the problem.
 */
import * as fs from 'node:fs';
import { KvsteerError } from '../util/errors';
import { Steps, inSlices, runSteps } from '../util/steps';
import { ggmlBlockLayout, ggmlTypeName } from './ggmlTypes';

/** A metadata array of fixed-size numbers, kept as the file stores it (one byte per u8, not a JS number each). */
export type GgufNumberArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
  | Float32Array | Float64Array | BigUint64Array | BigInt64Array;

export type GgufValue = number | bigint | string | boolean | GgufNumberArray | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** Dimensions in ggml order: innermost (contiguous) first. */
  dims: number[];
  type: number;
  /** Absolute byte offset of the tensor's data in the file. */
  fileOffset: number;
  byteSize: number;
  elements: number;
}

export interface GgufFile {
  path: string;
  version: number;
  fileSize: number;
  metadata: Map<string, GgufValue>;
  /** Where the metadata section lies in the file (after the 24-byte header), for verbatim copies. */
  metadataBytes: { start: number; end: number };
  tensors: Map<string, GgufTensorInfo>;
  /**
   * Only from `openGguf(file, { stringArrays: 'count' })`: the arrays of strings (the vocabulary,
   * the merges) that were counted, not read, key → number of strings; they are not in `metadata`.
   */
  stringArrayLengths?: Map<string, number>;
}

export interface OpenGgufOptions {
  /**
   * 'read' (default) reads every metadata value. 'count' steps over the texts of arrays of strings
   * and keeps only their lengths (`stringArrayLengths`): enough to tell whether kvsteer can load
   * the file (checkGgufHeader), without decoding a vocabulary of 50,000 to 150,000 tokens.
   */
  stringArrays?: 'read' | 'count';
}

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const MAX_STRING = 1 << 26;
const MAX_ARRAY = 1 << 26;
const MAX_ARRAY_DEPTH = 8;

/** Value type ids of GGUF metadata. */
enum ValueType { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 }

/** Reads a little-endian stream from a file descriptor, refilling a buffer as it goes. */
class Cursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  pos = 0;
  constructor(private readonly fd: number, readonly fileSize: number, private readonly file: string) {}

  private need(n: number): void {
    if (this.pos + n > this.fileSize) {
      throw new KvsteerError('GGUF_CORRUPT', `${this.file}: the GGUF header is truncated (needs byte ${this.pos + n}, file has ${this.fileSize})`);
    }
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const size = Math.min(Math.max(n, 1 << 20), this.fileSize - this.pos);
    this.buf = Buffer.alloc(size);
    fs.readSync(this.fd, this.buf, 0, size, this.pos);
    this.bufStart = this.pos;
  }
  /** Offset of the next n bytes in `buf`; call it before reading `buf`, since it may refill it. */
  private at(n: number): number {
    this.need(n);
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }
  u8(): number { const o = this.at(1); return this.buf.readUInt8(o); }
  i8(): number { const o = this.at(1); return this.buf.readInt8(o); }
  u16(): number { const o = this.at(2); return this.buf.readUInt16LE(o); }
  i16(): number { const o = this.at(2); return this.buf.readInt16LE(o); }
  u32(): number { const o = this.at(4); return this.buf.readUInt32LE(o); }
  i32(): number { const o = this.at(4); return this.buf.readInt32LE(o); }
  f32(): number { const o = this.at(4); return this.buf.readFloatLE(o); }
  f64(): number { const o = this.at(8); return this.buf.readDoubleLE(o); }
  u64(): bigint { const o = this.at(8); return this.buf.readBigUInt64LE(o); }
  i64(): bigint { const o = this.at(8); return this.buf.readBigInt64LE(o); }
  /** A u64 that must fit a JS number (counts, offsets). */
  count(what: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.u64();
    if (v > BigInt(max)) throw new KvsteerError('GGUF_CORRUPT', `${this.file}: implausible ${what} (${v}) at byte ${this.pos - 8}`);
    return Number(v);
  }
  str(): string {
    const n = this.count('string length', MAX_STRING);
    const o = this.at(n);
    return this.buf.toString('utf8', o, o + n);
  }
  /**
   * Steps over n strings without decoding them. Lengths within the buffer are read in place (a
   * BigInt and a bounds check each made this several times slower for 150k strings); the rest,
   * and every error, take the checked path.
   */
  skipStrs(n: number): void {
    for (let i = 0; i < n; i++) {
      const buf = this.buf;
      const o = this.pos - this.bufStart;
      if (o >= 0 && o + 8 <= buf.length && buf.readUInt32LE(o + 4) === 0) {
        const len = buf.readUInt32LE(o);
        if (len <= MAX_STRING && this.pos + 8 + len <= this.fileSize) {
          this.pos += 8 + len;
          continue;
        }
      }
      this.at(this.count('string length', MAX_STRING));
    }
  }
  /** The next n bytes in a fresh (aligned) ArrayBuffer, read straight from the file when large. */
  bytes(n: number): ArrayBuffer {
    if (this.pos + n > this.fileSize) this.need(n); // throws the truncation error
    const out = new ArrayBuffer(n);
    const view = new Uint8Array(out);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) {
      const o = this.pos - this.bufStart;
      view.set(this.buf.subarray(o, o + n));
    } else {
      for (let done = 0; done < n; ) {
        const got = fs.readSync(this.fd, view, done, n - done, this.pos + done);
        if (got === 0) this.need(n);
        done += got;
      }
    }
    this.pos += n;
    return out;
  }
}

/** Typed-array constructors for the fixed-size numeric value types (GGUF is little-endian, as are the hosts Node runs on here). */
const NUMBER_ARRAYS: Partial<Record<number, { BYTES_PER_ELEMENT: number; new (b: ArrayBuffer): GgufNumberArray }>> = {
  [ValueType.U8]: Uint8Array, [ValueType.I8]: Int8Array, [ValueType.U16]: Uint16Array, [ValueType.I16]: Int16Array,
  [ValueType.U32]: Uint32Array, [ValueType.I32]: Int32Array, [ValueType.F32]: Float32Array, [ValueType.F64]: Float64Array,
  [ValueType.U64]: BigUint64Array, [ValueType.I64]: BigInt64Array,
};

function readValue(c: Cursor, type: number, file: string, depth = 0): GgufValue {
  switch (type) {
    case ValueType.U8: return c.u8();
    case ValueType.I8: return c.i8();
    case ValueType.U16: return c.u16();
    case ValueType.I16: return c.i16();
    case ValueType.U32: return c.u32();
    case ValueType.I32: return c.i32();
    case ValueType.F32: return c.f32();
    case ValueType.BOOL: return c.u8() !== 0;
    case ValueType.STRING: return c.str();
    case ValueType.U64: return c.u64();
    case ValueType.I64: return c.i64();
    case ValueType.F64: return c.f64();
    case ValueType.ARRAY:
      return runSteps(readArraySteps(c, file, depth));
    default:
      throw new KvsteerError('GGUF_CORRUPT', `${file}: unknown metadata value type ${type} at byte ${c.pos - 4}`);
  }
}

/** Array items read between two yields of readArraySteps (a vocabulary holds 50,000 to 150,000). */
const ARRAY_SLICE = 8192;

/** An array value (after its type), yielding every ARRAY_SLICE items. */
function* readArraySteps(c: Cursor, file: string, depth: number): Steps<GgufValue> {
  // GGUF metadata nests arrays one level deep at most in practice; a deeper file is crafted
  // (and would exhaust the stack long before a useful error).
  if (depth >= MAX_ARRAY_DEPTH) throw new KvsteerError('GGUF_CORRUPT', `${file}: metadata arrays nested more than ${MAX_ARRAY_DEPTH} deep at byte ${c.pos}`);
  const itemType = c.u32();
  const n = c.count('array length', MAX_ARRAY);
  // Numbers stay in a typed array: a JS array costs 8 to 20 bytes per element, so a crafted
  // 64 MB array of u8 took 1.2 GB before anything looked at it.
  const numbers = NUMBER_ARRAYS[itemType];
  if (numbers) return new numbers(c.bytes(n * numbers.BYTES_PER_ELEMENT));
  // Grown by push: `new Array(n)` for a large n is a slow dictionary, not a packed array.
  const out: GgufValue[] = [];
  yield* inSlices(n, ARRAY_SLICE, (start, end) => {
    for (let i = start; i < end; i++) out.push(readValue(c, itemType, file, depth + 1));
  });
  return out;
}

/** Steps over an array of strings, returning its length; any other array is left unread (undefined). */
function skipStringArray(c: Cursor): number | undefined {
  const start = c.pos;
  if (c.u32() !== ValueType.STRING) {
    c.pos = start;
    return undefined;
  }
  const n = c.count('array length', MAX_ARRAY);
  c.skipStrs(n);
  return n;
}

/** Whether `file` starts with the GGUF magic (for files without the .gguf extension, such as Ollama's blobs). */
export function hasGgufMagic(file: string): boolean {
  const head = Buffer.alloc(4);
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    return fs.readSync(fd, head, 0, 4, 0) === 4 && head.readUInt32LE(0) === GGUF_MAGIC;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Parses the header of a GGUF file; tensor data is read later with `readTensorBytes`. */
export function openGguf(file: string, opts: OpenGgufOptions = {}): GgufFile {
  return runSteps(openGgufSteps(file, opts));
}

/** openGguf as steps (util/steps): it yields within long metadata arrays (the vocabulary, its merges). */
export function* openGgufSteps(file: string, opts: OpenGgufOptions = {}): Steps<GgufFile> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KvsteerError('FILE_NOT_FOUND', `${file}: no such file`);
    throw new KvsteerError('FILE_NOT_FOUND', `${file}: cannot open (${code ?? String(e)})`, { cause: e });
  }
  try {
    const fileSize = fs.fstatSync(fd).size;
    const c = new Cursor(fd, fileSize, file);
    if (fileSize < 24 || c.u32() !== GGUF_MAGIC) {
      throw new KvsteerError('GGUF_CORRUPT', `${file}: not a GGUF file (the magic bytes "GGUF" are missing)`);
    }
    const version = c.u32();
    if (version !== 2 && version !== 3) {
      throw new KvsteerError('GGUF_UNSUPPORTED', `${file}: GGUF version ${version} is not supported (only 2 and 3)`);
    }
    const tensorCount = c.count('tensor count', 1 << 20);
    const kvCount = c.count('metadata count', 1 << 20);
    const metadata = new Map<string, GgufValue>();
    const counted = opts.stringArrays === 'count' ? new Map<string, number>() : undefined;
    const metadataStart = c.pos;
    for (let i = 0; i < kvCount; i++) {
      const at = c.pos;
      const key = c.str();
      // llama.cpp refuses a repeated key; keeping the last one would load a file llama.cpp will not.
      if (metadata.has(key) || counted?.has(key)) throw new KvsteerError('GGUF_CORRUPT', `${file}: metadata key ${key} appears twice (the second at byte ${at})`);
      const type = c.u32();
      const length = counted && type === ValueType.ARRAY ? skipStringArray(c) : undefined;
      if (length !== undefined) counted!.set(key, length);
      else metadata.set(key, type === ValueType.ARRAY ? yield* readArraySteps(c, file, 0) : readValue(c, type, file));
    }
    const metadataBytes = { start: metadataStart, end: c.pos };
    const raw: { name: string; dims: number[]; type: number; offset: number }[] = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const name = c.str();
      const nDims = c.u32();
      if (nDims > 4) throw new KvsteerError('GGUF_CORRUPT', `${file}: tensor ${name} has ${nDims} dimensions (at most 4 allowed)`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) dims.push(c.count(`dimension of ${name}`, 2 ** 31));
      const type = c.u32();
      // Else the second silently replaces the first (llama.cpp refuses such a file).
      if (names.has(name)) throw new KvsteerError('GGUF_CORRUPT', `${file}: tensor ${name} is listed twice`);
      names.add(name);
      raw.push({ name, dims, type, offset: c.count(`offset of ${name}`) });
    }
    const alignment = metadata.get('general.alignment') ?? 32;
    // llama.cpp accepts only a power of two; 0 or a string would put every tensor at NaN.
    if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0) {
      throw new KvsteerError('GGUF_CORRUPT', `${file}: general.alignment is ${JSON.stringify(alignment)}, not a power of two`);
    }
    const dataStart = Math.ceil(c.pos / alignment) * alignment;
    const tensors = new Map<string, GgufTensorInfo>();
    for (const t of raw) {
      const layout = ggmlBlockLayout(t.type);
      if (!layout) throw new KvsteerError('GGUF_UNSUPPORTED', `${file}: tensor ${t.name} has unknown ggml type ${t.type}`);
      const elements = t.dims.reduce((a, b) => a * b, 1);
      if (elements % layout.blockSize !== 0) {
        throw new KvsteerError('GGUF_CORRUPT', `${file}: tensor ${t.name} (${elements} elements) is not whole ${ggmlTypeName(t.type)} blocks`);
      }
      const byteSize = (elements / layout.blockSize) * layout.blockBytes;
      if (t.offset % alignment !== 0) {
        throw new KvsteerError('GGUF_CORRUPT', `${file}: tensor ${t.name} starts at data offset ${t.offset}, not a multiple of the alignment ${alignment}`);
      }
      const fileOffset = dataStart + t.offset;
      if (fileOffset + byteSize > fileSize) {
        throw new KvsteerError(
          'GGUF_CORRUPT',
          `${file}: the file is truncated: tensor ${t.name} needs bytes up to ${fileOffset + byteSize} but the file has ${fileSize}`,
        );
      }
      tensors.set(t.name, { name: t.name, dims: t.dims, type: t.type, fileOffset, byteSize, elements });
    }
    // Tensors sharing bytes would load as weights nobody wrote; llama.cpp refuses them too.
    const byStart = [...tensors.values()].sort((a, b) => a.fileOffset - b.fileOffset);
    for (let i = 1; i < byStart.length; i++) {
      const prev = byStart[i - 1], t = byStart[i];
      if (t.fileOffset < prev.fileOffset + prev.byteSize) {
        throw new KvsteerError('GGUF_CORRUPT', `${file}: tensors ${prev.name} and ${t.name} overlap (bytes ${t.fileOffset} to ${prev.fileOffset + prev.byteSize})`);
      }
    }
    return { path: file, version, fileSize, metadata, metadataBytes, tensors, ...(counted ? { stringArrayLengths: counted } : {}) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads one tensor's raw (possibly quantized) bytes, or `length` of them from byte `start` of it. */
export function readTensorBytes(file: GgufFile, tensor: GgufTensorInfo, range?: { start: number; length: number }): Uint8Array {
  const from = tensor.fileOffset + (range?.start ?? 0);
  const out = Buffer.alloc(range?.length ?? tensor.byteSize);
  const fd = fs.openSync(file.path, 'r');
  try {
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(fd, out, done, out.length - done, from + done);
      if (n === 0) throw new KvsteerError('GGUF_CORRUPT', `${file.path}: unexpected end of file while reading tensor ${tensor.name}`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Typed metadata accessors that name the file and key when a value is missing or mistyped. */
export function metaNumber(f: GgufFile, key: string, fallback?: number): number {
  const v = f.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new KvsteerError('GGUF_CORRUPT', `${f.path}: required metadata ${key} is missing`);
  }
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new KvsteerError('GGUF_CORRUPT', `${f.path}: metadata ${key} should be a number`);
}

export function metaString(f: GgufFile, key: string, fallback?: string): string {
  const v = f.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new KvsteerError('GGUF_CORRUPT', `${f.path}: required metadata ${key} is missing`);
  }
  if (typeof v === 'string') return v;
  throw new KvsteerError('GGUF_CORRUPT', `${f.path}: metadata ${key} should be a string`);
}

/** An array-valued key; with `length`, one of another length is refused before it is copied out. */
export function metaArray<T extends GgufValue>(f: GgufFile, key: string, check: (x: GgufValue) => x is T, length?: number): T[] | undefined {
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (Array.isArray(v) || isNumberArray(v)) checkArrayLength(f, key, v.length, length);
  const items: GgufValue[] | undefined = Array.isArray(v) ? v : isNumberArray(v) ? Array.from<number | bigint>(v) : undefined;
  if (!items || !items.every(check)) throw wrongType(f, key);
  return items as T[];
}

/** Whether metaArray(f, key, isNumber, length) would return an array (refusing what it refuses), without copying it out. */
export function hasNumberArray(f: GgufFile, key: string, length?: number): boolean {
  // Texts only counted (stringArrays: 'count') are an array of the wrong type, as metaArray finds them read.
  const counted = f.stringArrayLengths?.get(key);
  if (counted !== undefined) {
    checkArrayLength(f, key, counted, length);
    throw wrongType(f, key);
  }
  const v = f.metadata.get(key);
  if (v === undefined) return false;
  if (Array.isArray(v) || isNumberArray(v)) checkArrayLength(f, key, v.length, length);
  const numbers = isNumberArray(v) ? !(v instanceof BigInt64Array || v instanceof BigUint64Array) : Array.isArray(v) && v.every((x) => typeof x === 'number');
  if (!numbers) throw wrongType(f, key);
  return true;
}

/** Refuses an array of `actual` entries where `length` (when given) are needed. */
function checkArrayLength(f: GgufFile, key: string, actual: number, length: number | undefined): void {
  if (length !== undefined && actual !== length) throw new KvsteerError('GGUF_CORRUPT', `${f.path}: metadata ${key} has ${actual} entries, not ${length}`);
}

/** The error for a key of the wrong type; with `expected`, it says which type it has and which it needs. */
export function wrongType(f: GgufFile, key: string, expected?: string): KvsteerError {
  const v = f.metadata.get(key);
  const detail = expected && v !== undefined ? ` (${valueKind(v)}, expected ${expected})` : '';
  return new KvsteerError('GGUF_CORRUPT', `${f.path}: metadata ${key} has the wrong type${detail}`);
}

/** The kind of a metadata value as the GGUF type names call it, as far as the value tells. */
function valueKind(v: GgufValue): string {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'bigint') return 'a 64-bit integer';
  if (typeof v === 'number') return 'a number';
  return 'an array';
}

/**
 * The number of strings in an array-valued key, whether its texts were read or only counted
 * (`stringArrays: 'count'`); undefined when the key is absent. Refuses another type as metaArray does.
 */
export function stringArrayLength(f: GgufFile, key: string): number | undefined {
  const counted = f.stringArrayLengths?.get(key);
  if (counted !== undefined) return counted;
  const v = f.metadata.get(key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw wrongType(f, key);
  return v.length;
}

export function isNumberArray(v: GgufValue): v is GgufNumberArray {
  return ArrayBuffer.isView(v);
}
