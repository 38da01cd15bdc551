/**
 * Reading GGUF files and importing them: the writer/reader round trip, and every way a file can be
 * wrong (missing, not GGUF, truncated, unsupported architecture or tensor type) giving one clear
 * error that names the file and the problem, with nothing left in the import cache.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { openGguf, readTensorBytes } from '../../../src/engine/gguf/ggufFile';
import { GgmlType } from '../../../src/engine/gguf/ggmlTypes';
import { GgufWriteTensor, quantize, writeGguf } from '../../../src/engine/gguf/ggufWriter';
import { importGguf, CONVERTER_VERSION } from '../../../src/engine/gguf/importGguf';
import { TinyModelOptions, writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { KvsteerError, KvsteerErrorCode } from '../../../src/engine/util/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-gguf-'));
const good = path.join(tmp, 'tiny.gguf');
writeTinyRandomGguf(good);

function expectError(code: KvsteerErrorCode, pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof KvsteerError, `expected a KvsteerError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  };
}

function cacheEntries(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f !== 'hash-index.json') : [];
}

test('a written GGUF reads back with its metadata and tensors', () => {
  const f = openGguf(good);
  assert.equal(f.version, 3);
  assert.equal(f.metadata.get('general.architecture'), 'llama');
  const embd = f.tensors.get('token_embd.weight')!;
  assert.equal(embd.type, GgmlType.Q8_0);
  assert.deepEqual(embd.dims.slice(0, 1), [64]);
  assert.equal(readTensorBytes(f, embd).length, embd.byteSize);
});

test('a missing file is reported by name', async () => {
  const p = path.join(tmp, 'nope.gguf');
  await assert.rejects(importGguf(p, { cacheDir: path.join(tmp, 'c0') }), expectError('FILE_NOT_FOUND', /nope\.gguf: no such file/));
});

test('a file that is not GGUF is refused', async () => {
  const p = path.join(tmp, 'text.gguf');
  fs.writeFileSync(p, 'this is not a model, just some text that is long enough');
  await assert.rejects(importGguf(p, { cacheDir: path.join(tmp, 'c1') }), expectError('GGUF_CORRUPT', /text\.gguf: not a GGUF file/));
});

test('a truncated GGUF names the file and the missing bytes, and caches nothing', async () => {
  const p = path.join(tmp, 'truncated.gguf');
  const bytes = fs.readFileSync(good);
  fs.writeFileSync(p, bytes.subarray(0, bytes.length - 1000));
  const cache = path.join(tmp, 'c2');
  await assert.rejects(importGguf(p, { cacheDir: cache }), expectError('GGUF_CORRUPT', /truncated\.gguf: the file is truncated: tensor .* needs bytes up to \d+ but the file has \d+/));
  assert.deepEqual(cacheEntries(cache), []);
});

test('a GGUF cut inside its header is reported as truncated', async () => {
  const p = path.join(tmp, 'header.gguf');
  fs.writeFileSync(p, fs.readFileSync(good).subarray(0, 5000));
  await assert.rejects(importGguf(p, { cacheDir: path.join(tmp, 'c3') }), expectError('GGUF_CORRUPT', /header\.gguf: the GGUF header is truncated/));
});

test('an alignment that is not a power of two, or arrays nested without end, are refused as corrupt', () => {
  for (const [name, value] of [['zero', 0], ['three', 3]] as const) {
    const p = path.join(tmp, `align-${name}.gguf`);
    writeTinyRandomGguf(p, { metadata: { 'general.alignment': { type: 'u32', value } } });
    assert.throws(() => openGguf(p), (e: unknown) => expectError('GGUF_CORRUPT', new RegExp(`align-${name}\\.gguf: general\\.alignment is ${value}, not a power of two`))(e));
  }
  // A crafted header: one metadata key holding an array of an array of … 100,000 deep.
  const parts: Buffer[] = [Buffer.from('GGUF')];
  const u32 = (v: number) => parts.push(Buffer.from(new Uint32Array([v]).buffer));
  const u64 = (v: number) => parts.push(Buffer.from(new BigUint64Array([BigInt(v)]).buffer));
  u32(3), u64(0), u64(1), u64(1), parts.push(Buffer.from('a')), u32(9);
  for (let i = 0; i < 100_000; i++) u32(9), u64(1);
  u32(0), u64(0);
  const nested = path.join(tmp, 'nested.gguf');
  fs.writeFileSync(nested, Buffer.concat(parts));
  assert.throws(() => openGguf(nested), (e: unknown) => expectError('GGUF_CORRUPT', /nested\.gguf: metadata arrays nested more than 8 deep/)(e));
});

/** An F32 tensor of zeros for crafted files. */
function f32Tensor(name: string, n: number): GgufWriteTensor {
  return { name, dims: [n], type: GgmlType.F32, data: quantize(GgmlType.F32, new Float32Array(n)) };
}

/** The byte offset of the u64 data offset in tensor `name`'s 1-D directory entry. */
function offsetFieldOf(bytes: Buffer, name: string): number {
  const entry = Buffer.concat([Buffer.from(new BigUint64Array([BigInt(name.length)]).buffer), Buffer.from(name), Buffer.from(new Uint32Array([1]).buffer)]);
  const at = bytes.indexOf(entry);
  assert.ok(at > 0, `tensor ${name} found in the directory`);
  return at + entry.length + 8 + 4; // past its one dimension and its type
}

test('a tensor listed twice is refused by name instead of the second replacing the first', () => {
  const p = path.join(tmp, 'twice.gguf');
  writeGguf(p, { 'general.architecture': { type: 'string', value: 'llama' } }, [f32Tensor('blk.0.attn_norm.weight', 8), f32Tensor('blk.0.attn_norm.weight', 16)]);
  assert.throws(() => openGguf(p), (e: unknown) => expectError('GGUF_CORRUPT', /twice\.gguf: tensor blk\.0\.attn_norm\.weight is listed twice/)(e));
});

test('a metadata key given twice is refused by name instead of the last value winning', () => {
  const key = 'general.architecture';
  const entry = (value: string) => {
    const str = (s: string) => Buffer.concat([Buffer.from(new BigUint64Array([BigInt(Buffer.byteLength(s))]).buffer), Buffer.from(s)]);
    return Buffer.concat([str(key), Buffer.from(new Uint32Array([8]).buffer), str(value)]);
  };
  const p = path.join(tmp, 'key-twice.gguf');
  writeGguf(p, { count: 2, bytes: Buffer.concat([entry('llama'), entry('qwen2')]) }, [f32Tensor('x', 8)]);
  assert.throws(() => openGguf(p), (e: unknown) => expectError('GGUF_CORRUPT', /key-twice\.gguf: metadata key general\.architecture appears twice/)(e));
});

test('tensors whose data overlap, or that start off the alignment, are refused by name', () => {
  const p = path.join(tmp, 'layout.gguf');
  writeGguf(p, {}, [f32Tensor('a', 16), f32Tensor('b', 16)]);
  const bytes = fs.readFileSync(p);
  const field = offsetFieldOf(bytes, 'b');
  assert.equal(bytes.readBigUInt64LE(field), 64n, 'b follows a');
  const variants: [string, bigint, RegExp][] = [
    ['overlap', 32n, /overlap\.gguf: tensors a and b overlap/],
    ['same-start', 0n, /same-start\.gguf: tensors (a and b|b and a) overlap/],
    ['misaligned', 68n, /misaligned\.gguf: tensor b starts at data offset 68, not a multiple of the alignment 32/],
  ];
  for (const [name, offset, pattern] of variants) {
    const q = path.join(tmp, `${name}.gguf`);
    const copy = Buffer.from(bytes);
    copy.writeBigUInt64LE(offset, field);
    fs.writeFileSync(q, copy);
    assert.throws(() => openGguf(q), (e: unknown) => expectError('GGUF_CORRUPT', pattern)(e));
  }
  assert.equal(openGguf(p).tensors.size, 2, 'the unedited file opens');
});

test('a large numeric metadata array costs about its size in the file, not a JS value per element', () => {
  // A crafted header: one key holding 32 M u8 values, the kind of array nothing reads.
  const n = 32 << 20;
  const head = Buffer.alloc(4 + 4 + 8 + 8 + 8 + 3 + 4 + 4 + 8);
  let o = head.write('GGUF');
  o = head.writeUInt32LE(3, o);
  o = head.writeBigUInt64LE(0n, o); // tensors
  o = head.writeBigUInt64LE(1n, o); // metadata keys
  o = head.writeBigUInt64LE(3n, o);
  o += head.write('big', o);
  o = head.writeUInt32LE(9, o); // array
  o = head.writeUInt32LE(0, o); // of u8
  head.writeBigUInt64LE(BigInt(n), o);
  const values = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4099) values[i] = i % 251;
  const p = path.join(tmp, 'big-array.gguf');
  fs.writeFileSync(p, Buffer.concat([head, values]));
  const used = () => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
  const before = used();
  const f = openGguf(p);
  const grew = used() - before;
  const big = f.metadata.get('big') as Uint8Array;
  assert.equal(big.length, n);
  assert.ok(Buffer.from(big.buffer, big.byteOffset, big.byteLength).equals(values), 'the values read back as written');
  // Before: 1.2 GB for a 64 MB array (a JS number per element, in a dictionary-mode array).
  assert.ok(grew < 3 * n, `opening a ${n >> 20} MB array grew memory by ${(grew / 2 ** 20).toFixed(0)} MB`);
});

test('a token type or score list of another length than the vocabulary is refused by name', async () => {
  const p = path.join(tmp, 'short-types.gguf');
  writeTinyRandomGguf(p, { metadata: { 'tokenizer.ggml.token_type': { type: 'i32[]', value: [1, 1, 1] } } });
  await assert.rejects(importGguf(p, { cacheDir: path.join(tmp, 'c4d') }), expectError('GGUF_CORRUPT', /short-types\.gguf: metadata tokenizer\.ggml\.token_type has 3 entries, not \d+/));
});

test('tensors whose shapes disagree with the metadata are refused before conversion, leaving nothing in the cache', async () => {
  // Built for heads of 32 dims, while the metadata says 16.
  const p = path.join(tmp, 'shape.gguf');
  const sixteen = { type: 'u32' as const, value: 16 };
  writeTinyRandomGguf(p, { headDim: 32, metadata: { 'llama.attention.key_length': sixteen, 'llama.attention.value_length': sixteen, 'llama.rope.dimension_count': sixteen } });
  const cache = path.join(tmp, 'c-shape');
  await assert.rejects(importGguf(p, { cacheDir: cache }), expectError('GGUF_CORRUPT', /shape\.gguf: tensor blk\.0\.attn_q\.weight is \d+ × \d+, but the metadata's sizes make it \d+ × \d+/));
  assert.deepEqual(cacheEntries(cache), []);
});

test('hyper-parameters that contradict each other or cannot describe a model are refused by name', async () => {
  const u32 = (value: number) => ({ type: 'u32' as const, value });
  const f32 = (value: number) => ({ type: 'f32' as const, value });
  const cases: [string, TinyModelOptions['metadata'], RegExp][] = [
    ['eps-nan', { 'llama.attention.layer_norm_rms_epsilon': f32(NaN) }, /metadata llama\.attention\.layer_norm_rms_epsilon is NaN, not a positive number/],
    ['eps-negative', { 'llama.attention.layer_norm_rms_epsilon': f32(-1) }, /metadata llama\.attention\.layer_norm_rms_epsilon is -1, not a positive number/],
    ['theta-zero', { 'llama.rope.freq_base': f32(0) }, /metadata llama\.rope\.freq_base is 0, not a positive number/],
    ['context-zero', { 'llama.context_length': u32(0) }, /metadata llama\.context_length is 0, not a positive whole number/],
    ['kv-zero', { 'llama.attention.head_count_kv': u32(0) }, /metadata llama\.attention\.head_count_kv is 0, not a positive whole number/],
    ['kv-uneven', { 'llama.attention.head_count_kv': u32(3) }, /4 attention heads cannot share 3 key\/value heads evenly/],
    ['heads-uneven', { 'llama.attention.head_count': u32(3), 'llama.attention.head_count_kv': u32(3) }, /3 attention heads do not divide the embedding size 64/],
    ['no-blocks', { 'llama.block_count': u32(0) }, /metadata llama\.block_count is 0, not a positive whole number/],
    // A 2-layer file that declares 1 loaded as a 1-layer model.
    ['fewer-blocks', { 'llama.block_count': u32(1) }, /tensor blk\.1\.\S+ lies beyond the 1 blocks llama\.block_count declares/],
  ];
  for (const [name, metadata, pattern] of cases) {
    const p = path.join(tmp, `hp-${name}.gguf`);
    writeTinyRandomGguf(p, { metadata });
    const cache = path.join(tmp, `c-hp-${name}`);
    await assert.rejects(importGguf(p, { cacheDir: cache }), expectError('GGUF_CORRUPT', new RegExp(`hp-${name}\\.gguf: ${pattern.source}`)), name);
    assert.deepEqual(cacheEntries(cache), [], name);
  }
});

/** The tiny GGUF rewritten with its token embedding replaced (and, with `head`, a separate output head added). */
function withEmbedding(name: string, dims: number[], head: boolean): string {
  const src = path.join(tmp, `${name}-src.gguf`);
  writeTinyRandomGguf(src);
  const f = openGguf(src);
  const { start, end } = f.metadataBytes;
  const meta = fs.readFileSync(src).subarray(start, end);
  const f32 = (d: number[]) => ({ dims: d, type: GgmlType.F32, data: new Uint8Array(new Float32Array(d.reduce((a, b) => a * b, 1)).fill(0.01).buffer) });
  const vocab = f.tensors.get('token_embd.weight')!.dims[1];
  const tensors: GgufWriteTensor[] = [...f.tensors.values()].map((t) =>
    t.name === 'token_embd.weight' ? { name: t.name, ...f32(dims) } : { name: t.name, dims: t.dims, type: t.type, data: readTensorBytes(f, t) },
  );
  if (head) tensors.push({ name: 'output.weight', ...f32([64, vocab]) });
  const p = path.join(tmp, `${name}.gguf`);
  writeGguf(p, { count: f.metadata.size, bytes: meta }, tensors, 32);
  return p;
}

test('a token embedding of another width than the metadata, or not 2-D, is refused by name, also beside a separate output head', async () => {
  const cache = path.join(tmp, 'c-embd');
  // With a separate head nothing else reads the embedding's width: it failed in the graph writer, without the file or a code.
  const wide = withEmbedding('embd-wide', [96, 288], true);
  await assert.rejects(importGguf(wide, { cacheDir: cache }), expectError('GGUF_CORRUPT', /embd-wide\.gguf: tensor token_embd\.weight is 288 × 96, but the metadata's sizes make it 288 × 64/));
  const flat = withEmbedding('embd-flat', [64 * 288], false);
  await assert.rejects(importGguf(flat, { cacheDir: cache }), expectError('GGUF_CORRUPT', /embd-flat\.gguf: tensor token_embd\.weight should be 2-D/));
  assert.deepEqual(cacheEntries(cache), []);
  // The same file with the embedding's own shape imports: the check is on the shape, not on the head.
  await importGguf(withEmbedding('embd-right', [64, 288], true), { cacheDir: path.join(tmp, 'c-embd-ok') });
});

test('a BPE merge that is not two vocabulary tokens joining into a third is refused by name', async () => {
  // "q z" made "qz", which is no token: "qz" in a prompt was dropped without a trace.
  for (const [name, merge] of [['outside', 'q z'], ['one-part', 'he'], ['three-parts', 'h e r']] as const) {
    const p = path.join(tmp, `merge-${name}.gguf`);
    writeTinyRandomGguf(p, { metadata: { 'tokenizer.ggml.merges': { type: 'string[]', value: ['h e', merge] } } });
    const pattern = new RegExp(`merge-${name}\\.gguf: tokenizer\\.ggml\\.merges entry 1 \\(${JSON.stringify(merge)}\\) does not join two vocabulary tokens into a third`);
    await assert.rejects(importGguf(p, { cacheDir: path.join(tmp, `c-merge-${name}`) }), expectError('GGUF_CORRUPT', pattern), name);
  }
});

test('an unsupported architecture is refused by name', async () => {
  const p = path.join(tmp, 'mamba.gguf');
  writeTinyRandomGguf(p, { metadata: { 'general.architecture': { type: 'string', value: 'mamba' } } });
  await assert.rejects(importGguf(p, { cacheDir: path.join(tmp, 'c4') }), expectError('GGUF_UNSUPPORTED', /mamba\.gguf: architecture "mamba" is not supported/));
});

test('an unsupported RoPE scaling type is refused by name', async () => {
  const p = path.join(tmp, 'yarn.gguf');
  writeTinyRandomGguf(p, { metadata: { 'llama.rope.scaling.type': { type: 'string', value: 'yarn' } } });
  await assert.rejects(importGguf(p, { cacheDir: path.join(tmp, 'c4c') }), expectError('GGUF_UNSUPPORTED', /yarn\.gguf: rope scaling "yarn" is not supported \(only none and linear\)/));
});

test('a base model without a chat template, or one part of a split GGUF, is refused by name before anything is imported', async () => {
  const cache = path.join(tmp, 'c4e');
  const base = path.join(tmp, 'base-model.gguf');
  writeTinyRandomGguf(base, { metadata: { 'tokenizer.chat_template': { type: 'string', value: ' ' } } });
  await assert.rejects(importGguf(base, { cacheDir: cache }), expectError('GGUF_UNSUPPORTED', /base-model\.gguf: no chat template \(tokenizer\.chat_template\): kvsteer needs an instruction-tuned \(chat\) model/));
  const shard = path.join(tmp, 'model-00001-of-00003.gguf');
  writeTinyRandomGguf(shard, { metadata: { 'split.count': { type: 'u32', value: 3 }, 'split.no': { type: 'u32', value: 0 } } });
  await assert.rejects(importGguf(shard, { cacheDir: cache }), expectError('GGUF_UNSUPPORTED', /model-00001-of-00003\.gguf: part 1 of a GGUF split into 3 files; kvsteer reads single-file GGUFs/));
  assert.deepEqual(cacheEntries(path.join(cache)), []);
});

test('an unsupported tokenizer model is refused by name', async () => {
  const p = path.join(tmp, 'rwkv-vocab.gguf');
  writeTinyRandomGguf(p, { metadata: { 'tokenizer.ggml.model': { type: 'string', value: 'rwkv' } } });
  await assert.rejects(importGguf(p, { cacheDir: path.join(tmp, 'c4b') }), expectError('GGUF_UNSUPPORTED', /rwkv-vocab\.gguf: tokenizer model "rwkv" is not supported/));
});

test('an unsupported tensor type fails the import and leaves nothing in the cache', async () => {
  const p = path.join(tmp, 'iq.gguf');
  writeTinyRandomGguf(p);
  // Retype one Q4_1 matrix as IQ4_NL (same 32-element blocks, 18 bytes) by patching its type id
  // in the header: the header stays valid, but the tensor data no longer matches, so shrink it.
  const f = openGguf(p);
  const t = f.tensors.get('blk.1.ffn_down.weight')!;
  const buf = fs.readFileSync(p);
  const nameAt = buf.indexOf(Buffer.from('blk.1.ffn_down.weight'));
  const typeAt = nameAt + 'blk.1.ffn_down.weight'.length + 4 + 8 * t.dims.length;
  assert.equal(buf.readUInt32LE(typeAt), GgmlType.Q4_1);
  buf.writeUInt32LE(GgmlType.IQ4_NL, typeAt);
  fs.writeFileSync(p, buf);
  const cache = path.join(tmp, 'c5');
  await assert.rejects(importGguf(p, { cacheDir: cache }), expectError('GGUF_UNSUPPORTED', /iq\.gguf: tensor blk\.1\.ffn_down\.weight: tensor type IQ4_NL is not supported/));
  assert.deepEqual(cacheEntries(cache), []);
});

test("a tensor of more than 4 dimensions, of a type id ggml does not define, or of ggml's MXFP4 fails the import by name and leaves nothing in the cache", async () => {
  const cache = path.join(tmp, 'c5b');
  const fiveD = path.join(tmp, 'five-dims.gguf');
  writeGguf(fiveD, { 'general.architecture': { type: 'string', value: 'llama' } }, [{ ...f32Tensor('blk.0.attn_norm.weight', 32), dims: [2, 2, 2, 2, 2] }]);
  await assert.rejects(importGguf(fiveD, { cacheDir: cache }), expectError('GGUF_CORRUPT', /five-dims\.gguf: tensor blk\.0\.attn_norm\.weight has 5 dimensions \(at most 4 allowed\)/));
  // The tiny model with one F32 norm's type id patched: to 99, which no ggml version defines, and to
  // 39, ggml's MXFP4 (gpt-oss), which was "unknown" too rather than a type kvsteer cannot decode.
  const name = 'blk.0.attn_norm.weight';
  const retyped = (type: number) => {
    const p = path.join(tmp, `type-${type}.gguf`);
    writeTinyRandomGguf(p);
    const buf = fs.readFileSync(p);
    const typeAt = buf.indexOf(Buffer.from(name)) + name.length + 4 + 8;
    assert.equal(buf.readUInt32LE(typeAt), GgmlType.F32);
    buf.writeUInt32LE(type, typeAt);
    fs.writeFileSync(p, buf);
    return p;
  };
  await assert.rejects(importGguf(retyped(99), { cacheDir: cache }), expectError('GGUF_UNSUPPORTED', /type-99\.gguf: tensor blk\.0\.attn_norm\.weight has unknown ggml type 99/));
  await assert.rejects(importGguf(retyped(39), { cacheDir: cache }), expectError('GGUF_UNSUPPORTED', /type-39\.gguf: tensor blk\.0\.attn_norm\.weight: tensor type MXFP4 is not supported/));
  assert.deepEqual(cacheEntries(cache), []);
});

test("a tensor of ggml's newer types (NVFP4, Q1_0, Q2_0) is refused by the type's name, not as an unknown id", async () => {
  const cache = path.join(tmp, 'c5c');
  // A Q4_1 matrix of 128 x 64 retyped: whole blocks of each, and fewer bytes than it had.
  const name = 'blk.1.ffn_down.weight';
  for (const [type, typeName] of [[40, 'NVFP4'], [41, 'Q1_0'], [42, 'Q2_0']] as const) {
    const p = path.join(tmp, `type-${type}.gguf`);
    writeTinyRandomGguf(p);
    const buf = fs.readFileSync(p);
    const typeAt = buf.indexOf(Buffer.from(name)) + name.length + 4 + 8 * 2;
    assert.equal(buf.readUInt32LE(typeAt), GgmlType.Q4_1);
    buf.writeUInt32LE(type, typeAt);
    fs.writeFileSync(p, buf);
    await assert.rejects(importGguf(p, { cacheDir: cache }), expectError('GGUF_UNSUPPORTED', new RegExp(`type-${type}\\.gguf: tensor blk\\.1\\.ffn_down\\.weight: tensor type ${typeName} is not supported`)));
  }
  assert.deepEqual(cacheEntries(cache), []);
});

test('a cancelled import leaves nothing in the cache', async () => {
  const cache = path.join(tmp, 'c6');
  const ac = new AbortController();
  const run = importGguf(good, {
    cacheDir: cache,
    signal: ac.signal,
    onProgress: (p) => {
      if (p.stage === 'weights') ac.abort();
    },
  });
  await assert.rejects(run, expectError('CANCELLED', /cancelled/));
  assert.deepEqual(cacheEntries(cache), []);
});

test("an import removes what dead processes' imports left half-built and this file's imports by older converters", async () => {
  const cache = path.join(tmp, 'c7b');
  const hash = crypto.createHash('sha256').update(fs.readFileSync(good)).digest('hex').slice(0, 16);
  const folder = `gguf-${hash}-exact-v${CONVERTER_VERSION}`;
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
  const stale = path.join(cache, `.${folder}.tmp-${deadPid}-0badc0de`);
  const live = path.join(cache, `.${folder}.tmp-${process.ppid}-0123abcd`); // a running process's
  const older = path.join(cache, `gguf-${hash}-exact-v${CONVERTER_VERSION - 1}`);
  const otherFile = path.join(cache, `gguf-0000000000000000-exact-v${CONVERTER_VERSION - 1}`);
  const otherPrecision = path.join(cache, `gguf-${hash}-fast-v${CONVERTER_VERSION - 1}`);
  for (const d of [stale, live, older, otherFile, otherPrecision]) {
    fs.mkdirSync(path.join(d, 'onnx'), { recursive: true });
    fs.writeFileSync(path.join(d, 'onnx', 'model.onnx_data'), 'weights');
  }
  const r = await importGguf(good, { cacheDir: cache });
  assert.equal(r.folder, path.join(cache, folder));
  const left = fs.readdirSync(cache).sort();
  assert.deepEqual(left, [path.basename(live), folder, path.basename(otherFile), path.basename(otherPrecision), 'hash-index.json'].sort());
});

test('a cached import with a file cut short, missing or an unreadable record (a crash before the disk had it all) is imported again, not used as it is', async () => {
  const cache = path.join(tmp, 'c7c');
  const { folder } = await importGguf(good, { cacheDir: cache });
  const data = path.join(folder, 'onnx', 'model.onnx_data');
  const size = fs.statSync(data).size;
  const damages: [string, () => void][] = [
    ['weights cut short', () => fs.truncateSync(data, 1000)],
    ['weights empty', () => fs.truncateSync(data, 0)],
    ['tokenizer missing', () => fs.rmSync(path.join(folder, 'tokenizer.json'))],
    ['record torn', () => fs.truncateSync(path.join(folder, 'kvsteer-import.json'), 10)],
  ];
  for (const [what, damage] of damages) {
    damage();
    const again = await importGguf(good, { cacheDir: cache });
    assert.equal(again.converted, true, what);
    assert.equal(again.folder, folder);
    assert.equal(fs.statSync(data).size, size, what);
    assert.ok(fs.existsSync(path.join(folder, 'tokenizer.json')), what);
  }
  assert.equal((await importGguf(good, { cacheDir: cache })).converted, false, 'a whole import is used as it is');
});

test('a second import of the same file comes from the cache', async () => {
  const cache = path.join(tmp, 'c7');
  const first = await importGguf(good, { cacheDir: cache });
  const second = await importGguf(good, { cacheDir: cache });
  assert.equal(first.converted, true);
  assert.equal(second.converted, false);
  assert.equal(second.folder, first.folder);
  for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'onnx/model.onnx_data']) {
    assert.ok(fs.existsSync(path.join(first.folder, f)), f);
  }
});

test('an import that another process finishes first keeps that folder and drops its own', async () => {
  // Two VS Code windows (or the CLI and the editor) importing one file at once: the one that ends
  // second must not delete the folder the first may be loading from.
  const donor = await importGguf(good, { cacheDir: path.join(tmp, 'c8-donor') });
  const cache = path.join(tmp, 'c8');
  const target = path.join(cache, path.basename(donor.folder));
  let theirs: { ino: number; marker: string } | undefined;
  const ours = await importGguf(good, {
    cacheDir: cache,
    onProgress: (p) => {
      if (p.stage !== 'writing') return;
      fs.cpSync(donor.folder, target, { recursive: true });
      theirs = { ino: fs.statSync(target).ino, marker: fs.readFileSync(path.join(target, 'kvsteer-import.json'), 'utf8') };
    },
  });
  assert.ok(theirs, 'the other import finished during ours');
  assert.equal(ours.folder, target);
  assert.equal(ours.converted, false);
  assert.equal(fs.statSync(target).ino, theirs.ino, 'the finished folder was replaced');
  assert.equal(fs.readFileSync(path.join(target, 'kvsteer-import.json'), 'utf8'), theirs.marker);
  assert.deepEqual(cacheEntries(cache), [path.basename(target)], 'our temporary folder is gone');
});

test("stringArrays 'count' keeps every other value and the tensors as read, and only the lengths of the string arrays", () => {
  const p = path.join(tmp, 'counted.gguf');
  writeTinyRandomGguf(p, { seed: 21 });
  const read = openGguf(p);
  const counted = openGguf(p, { stringArrays: 'count' });
  const strings = [...read.metadata].filter(([, v]) => Array.isArray(v) && v.every((x) => typeof x === 'string'));
  assert.deepEqual(strings.map(([k]) => k).sort(), ['tokenizer.ggml.merges', 'tokenizer.ggml.tokens']);
  assert.deepEqual([...counted.stringArrayLengths!], strings.map(([k, v]) => [k, (v as string[]).length]));
  assert.deepEqual(counted.metadata, new Map([...read.metadata].filter(([k]) => !counted.stringArrayLengths!.has(k))));
  assert.deepEqual(counted.tensors, read.tensors);
  assert.deepEqual(counted.metadataBytes, read.metadataBytes);
  assert.equal(read.stringArrayLengths, undefined);
});
