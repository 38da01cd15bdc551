/**
 * Steering vector files and bad input: save → load is bit-exact, corrupt files and vectors made
 * for another model are refused with clear messages, bad strengths and empty or over-long prompts
 * are refused, and nothing is written half-way.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ask } from '../../../src/engine/ask';
import { loadModel } from '../../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { checkStrength, generateSteered, steerCache } from '../../../src/engine/steering/applySteering';
import { checkVectorFitsModel } from '../../../src/engine/steering/steeringVector';
import { encodeVector, loadVector, saveVector } from '../../../src/engine/steering/vectorFile';
import { findVectorForModel, resolveVector, resolveVectorFile } from '../../../src/engine/steering/findVector';
import { readManifest, saveListedVector, upsertManifest } from '../../../src/engine/steering/vectorManifest';
import { KvsteerError, KvsteerErrorCode } from '../../../src/engine/util/errors';
import { loadTinyModel } from '../../support/models';
import { fakeVector } from '../../support/fakeVector';
import { repoRoot } from '../../support/paths';
import { BUNDLED_EXAMPLES } from '../../../src/engine/steering/bundledExamples';
import { createSteeringVector } from '../../../src/engine/steering/createVector';
import { parseReasoningItems } from '../../../src/engine/steering/contrastivePairs';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-vec-'));
const is = (code: KvsteerErrorCode, re?: RegExp) => (e: unknown) => e instanceof KvsteerError && e.code === code && (!re || re.test(e.message));

test('extraction rows: GSM8K as published, with `solution`, or with steps give the same item; a row that is not an object is refused by line', () => {
  const solution = 'She sold 48/2 = <<48/2=24>>24 in May.\nIn all 48+24 = <<48+24=72>>72.\n#### 72';
  const rows = [
    { question: 'How many clips?', answer: solution },
    { question: 'How many clips?', solution, answer: 72 },
    { question: 'How many clips?', steps: 'She sold 48/2 = 24 in May. In all 48+24 = 72.', answer: '72' },
  ];
  const items = parseReasoningItems(rows.map((r) => JSON.stringify(r)).join('\n'), 'gsm8k.jsonl');
  assert.deepEqual(new Set(items.map((it) => JSON.stringify([it.question, it.steps, it.answer]))).size, 1);
  assert.equal(items[0].answer, '72');
  assert.equal(items[0].steps, 'She sold 48/2 = 24 in May. In all 48+24 = 72.');
  assert.throws(() => parseReasoningItems('null\n', 'rows.jsonl'), is('DATA_INVALID', /^rows\.jsonl:1: not a JSON object$/));
});

test('a saved vector loads back bit for bit, activation directions included', async () => {
  const m = await modelP;
  const H = m.config.hiddenSize;
  const v = { ...fakeVector(m), hidden: Array.from({ length: m.config.numLayers }, (_, l) => Float32Array.from({ length: H }, (_, i) => Math.cos(l + i / 3) / 7)) };
  const file = path.join(dir, 'v.safetensors');
  saveVector(file, v);
  const back = loadVector(file);
  assert.deepEqual(back.meta, v.meta);
  const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  assert.equal(back.hidden?.length, v.hidden.length, 'activation directions saved and read');
  for (let l = 0; l < v.keys.length; l++) {
    assert.deepEqual(bytes(back.keys[l]), bytes(v.keys[l]));
    assert.deepEqual(bytes(back.values[l]), bytes(v.values[l]));
    assert.deepEqual(bytes(back.hidden![l]), bytes(v.hidden[l]));
  }
});

test('the file is safetensors with F32 keys.L and values.L of shape [kv_heads, head_dim]', async () => {
  const m = await modelP;
  const bytes = Buffer.from(encodeVector(fakeVector(m)));
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + n));
  assert.deepEqual(header['keys.1'].shape, [m.config.numKvHeads, m.config.headDim]);
  assert.equal(header['values.0'].dtype, 'F32');
  assert.equal(JSON.parse(header.__metadata__.kvsteer).format, 'kvsteer-vector/1');
});

test('corrupt vector files are refused with the file name and the problem', async () => {
  const m = await modelP;
  const good = Buffer.from(encodeVector(fakeVector(m)));
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /too short/],
    ['truncated', good.subarray(0, good.length - 100), /lies outside the file/],
    ['garbage', Buffer.from('x'.repeat(64)), /bad header length|not JSON/],
  ];
  const nan = Buffer.from(good);
  nan.writeFloatLE(NaN, nan.length - 8);
  cases.push(['nan', nan, /NaN or Infinity/]);
  // Finite, but c·S overflows float32 in the cache: every later token would read NaN.
  const huge = Buffer.from(good);
  huge.writeFloatLE(1e30, huge.length - 8);
  cases.push(['huge', huge, /values\.1 holds numbers beyond ±1000000/]);
  for (const [name, bytes, re] of cases) {
    const file = path.join(dir, `${name}.safetensors`);
    fs.writeFileSync(file, bytes);
    assert.throws(() => loadVector(file), (e: unknown) => is('VECTOR_INVALID', re)(e) && (e as Error).message.includes(file), name);
  }
  assert.throws(() => loadVector(path.join(dir, 'missing.safetensors')), is('FILE_NOT_FOUND', /missing\.safetensors/));
});

/** `good` with its JSON header (and the kvsteer metadata inside it) changed by `edit`. */
function withHeader(good: Buffer, edit: (header: Record<string, any>, meta: Record<string, any>) => unknown): Buffer {
  const n = Number(good.readBigUInt64LE(0));
  const header = JSON.parse(good.toString('utf8', 8, 8 + n));
  const original = header.__metadata__.kvsteer;
  const meta = JSON.parse(original);
  const replaced = edit(header, meta);
  if (header.__metadata__.kvsteer === original) header.__metadata__.kvsteer = JSON.stringify(meta);
  const json = Buffer.from(JSON.stringify(replaced === undefined ? header : replaced));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, good.subarray(8 + n)]);
}

test('malformed headers and metadata are refused with the file name, never as a bare TypeError', async () => {
  const m = await modelP;
  const good = Buffer.from(encodeVector(fakeVector(m)));
  const cases: [string, Buffer, RegExp][] = [
    ['header-null', withHeader(good, () => null), /header is not a JSON object/],
    ['header-list', withHeader(good, () => [1, 2]), /header is not a JSON object/],
    ['meta-null', withHeader(good, (h) => void (h.__metadata__.kvsteer = 'null')), /unknown format null/],
    ['offsets-number', withHeader(good, (h) => void (h['keys.0'].data_offsets = 5)), /keys\.0 lies outside the file/],
    ['offsets-fraction', withHeader(good, (h) => void (h['keys.0'].data_offsets = [0.5, 4.5])), /keys\.0 lies outside the file/],
    ['layers-huge', withHeader(good, (_h, meta) => void (meta.model.fingerprint.numLayers = 1e12)), /gives 1000000000000 layers/],
    ['heads-text', withHeader(good, (_h, meta) => void (meta.model.fingerprint.numKvHeads = '2')), /model fingerprint is malformed/],
    ['no-offset-token', withHeader(good, (_h, meta) => void delete meta.recommended.offsetToken), /recommended offset token must be a non-empty string/],
    ['from-layer-text', withHeader(good, (_h, meta) => void (meta.recommended.fromLayer = 'one')), /recommended first layer must be a whole number/],
    ['from-layer-high', withHeader(good, (_h, meta) => void (meta.recommended.fromLayer = m.config.numLayers)), /first layer 2 is not below the model's 2 layers/],
    ['shape-transposed', withHeader(good, (h) => void (h['values.1'].shape = [m.config.headDim, m.config.numKvHeads])), /tensor values\.1 has shape \[\d+,\d+\], expected \[\d+,\d+\]/],
    ['shape-missing', withHeader(good, (h) => void delete h['keys.0'].shape), /tensor keys\.0 has shape undefined/],
  ];
  for (const [name, bytes, re] of cases) {
    const file = path.join(dir, `${name}.safetensors`);
    fs.writeFileSync(file, bytes);
    assert.throws(() => loadVector(file), (e: unknown) => is('VECTOR_INVALID', re)(e) && (e as Error).message.includes(file), name);
  }
  // The same edits that keep the file valid load: the cases above fail for the field they change.
  const file = path.join(dir, 'rewritten.safetensors');
  fs.writeFileSync(file, withHeader(good, () => undefined));
  assert.doesNotThrow(() => loadVector(file));
});

test('a vector made for another model is refused, naming both models', async () => {
  const m = await modelP;
  const otherPath = path.join(dir, 'three-layers.gguf');
  writeTinyRandomGguf(otherPath, { layers: 3 });
  const other = await loadModel(otherPath, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  try {
    const v = fakeVector(other);
    assert.throws(() => checkVectorFitsModel(v, m), is('VECTOR_MISMATCH', /made for three-layers \(3 layers.*but the loaded model tiny has 2 layers/));
    await assert.rejects(generateSteered(m, { messages: [{ role: 'user', content: 'hi' }], vector: v, strength: { cK: 0, cV: 1 }, maxNewTokens: 3 }), is('VECTOR_MISMATCH'));
  } finally {
    await other.dispose();
  }
  const v = fakeVector(m);
  v.meta.model.fingerprint = { ...v.meta.model.fingerprint, tokenizerDigest: '0000000000000000' };
  assert.throws(() => checkVectorFitsModel(v, m), is('VECTOR_MISMATCH', /tokenizer differs/));
});

test('NaN, Infinity, |c| > 100 and unknown layers are refused', () => {
  for (const [cK, cV] of [[NaN, 1], [0, Infinity], [0, 101], [-100.5, 0]]) assert.throws(() => checkStrength({ cK, cV }, 30), is('INVALID_ARGUMENT', /steering strength/));
  assert.throws(() => checkStrength({ cK: 0, cV: 1, layers: [30] }, 30), is('INVALID_ARGUMENT', /layer 30 does not exist/));
  assert.deepEqual(checkStrength({ cK: 0, cV: -100 }, 3), [1, 2]);
  assert.throws(() => checkStrength({ cK: 0, cV: 1, layers: [1, 2, 1] }, 3), is('INVALID_ARGUMENT', /layer 1 is listed twice/));
});

test("the default layers start at the vector's recommended first layer", async () => {
  const m = await modelP;
  assert.deepEqual(checkStrength({ cK: 0, cV: 1 }, 4, 0), [0, 1, 2, 3]);
  assert.deepEqual(checkStrength({ cK: 0, cV: 1 }, 4, 2), [2, 3]);
  const ids = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }], true));
  const { cache } = await m.backend.forward({ tokens: ids, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const edited = (fromLayer: number) => {
    const v = fakeVector(m);
    v.meta.recommended.fromLayer = fromLayer;
    const c = cache.clone();
    steerCache(c, v, { cK: 1, cV: 1 });
    return c.read(0, 'value', c.length - 1);
  };
  const before = cache.read(0, 'value', cache.length - 1);
  assert.deepEqual(edited(1), before, 'layer 0 edited though the vector starts at layer 1');
  assert.notDeepEqual(edited(0), before, 'layer 0 not edited though the vector starts there');
});

test('an edit of the wrong length and activation directions of another hidden size are refused', async () => {
  const m = await modelP;
  const ids = m.tokenizer.encode('hi');
  const { cache } = await m.backend.forward({ tokens: ids, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const short = fakeVector(m);
  short.values[1] = short.values[1].subarray(0, 4);
  assert.throws(() => steerCache(cache, short, { cK: 0, cV: 1 }), /value delta of layer 1 has 4 numbers; this cache needs/);
  const v = fakeVector(m);
  v.hidden = v.keys.map(() => new Float32Array(3));
  assert.throws(() => checkVectorFitsModel(v, m), is('VECTOR_MISMATCH', /activation directions of 3 numbers, but the loaded model tiny has hidden size/));
});

test('an empty question and a prompt longer than the context window are refused', async () => {
  const m = await modelP;
  const v = fakeVector(m);
  await assert.rejects(ask(m, { question: '   ', mode: 'compare', vector: v, maxNewTokens: 4 }), is('INVALID_ARGUMENT', /question is empty/));
  await assert.rejects(ask(m, { question: 'word '.repeat(600), mode: 'steered', vector: v, maxNewTokens: 4 }), is('PROMPT_TOO_LONG', /context window is 512/));
});

test('an invalid vector is never written, and an existing file survives a failed save', async () => {
  const m = await modelP;
  const file = path.join(dir, 'keep.safetensors');
  saveVector(file, fakeVector(m));
  const before = fs.readFileSync(file);
  const bad = fakeVector(m);
  bad.values[1][0] = NaN;
  assert.throws(() => saveVector(file, bad), is('VECTOR_INVALID'));
  assert.deepEqual(fs.readFileSync(file), before);
  assert.ok(!fs.readdirSync(dir).some((f) => f.includes('.tmp-')), 'no temp file left behind');
  assert.throws(() => saveVector(path.join(dir, 'new.safetensors'), bad), is('VECTOR_INVALID'));
  assert.ok(!fs.existsSync(path.join(dir, 'new.safetensors')));
});

test('the manifest lists saved vectors and resolves them by id', async () => {
  const m = await modelP;
  const v = fakeVector(m);
  saveVector(path.join(dir, 'listed.safetensors'), v);
  upsertManifest(dir, 'tiny-fake', 'listed.safetensors', v);
  assert.deepEqual(readManifest(dir).vectors.map((e) => e.id), ['tiny-fake']);
  assert.equal(resolveVector('tiny-fake', [dir], m).meta.name, 'fake');
  assert.throws(() => resolveVector('nope', [dir], m), is('VECTOR_INVALID', /unknown steering vector "nope" \(known: tiny-fake/));
});

test('a vector path starting ~/ or ~\\ is in the home folder, as a model path is', async (t) => {
  const m = await modelP;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-home-'));
  const was = process.env.HOME;
  process.env.HOME = home; // os.homedir() reads it on POSIX
  t.after(() => {
    process.env.HOME = was;
    fs.rmSync(home, { recursive: true, force: true });
  });
  if (os.homedir() !== home) return t.skip('os.homedir() does not follow HOME here');
  saveVector(path.join(home, 'mine.safetensors'), fakeVector(m));
  for (const spec of ['~/mine.safetensors', '~\\mine.safetensors']) {
    const { file, vector } = resolveVectorFile(spec, [], m);
    assert.equal(file, path.join(home, 'mine.safetensors'), spec);
    assert.equal(vector.meta.name, 'fake');
  }
});

test('when several vectors fit, the manifest default is chosen', async () => {
  const m = await modelP;
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-default-'));
  const a = fakeVector(m), b = fakeVector(m, 0.1);
  a.meta.name = 'a-first';
  b.meta.name = 'z-default';
  saveVector(path.join(d, 'a.safetensors'), a);
  saveVector(path.join(d, 'z.safetensors'), b);
  upsertManifest(d, 'a-first', 'a.safetensors', a);
  upsertManifest(d, 'z-default', 'z.safetensors', b);
  assert.equal(findVectorForModel([d], m)?.id, 'a-first');
  fs.writeFileSync(path.join(d, 'manifest.json'), JSON.stringify({ ...readManifest(d), default: 'z-default' }));
  assert.equal(findVectorForModel([d], m)?.id, 'z-default');
  upsertManifest(d, 'a-first', 'a.safetensors', a);
  assert.equal(readManifest(d).default, 'z-default', 'updating an entry keeps the default');
});

test("the examples offered for models without a vector are the shipped reasoning vector's, with its recipe", () => {
  const shipped = loadVector(path.join(repoRoot, 'vectors', 'smollm2-135m-reasoning.safetensors'));
  assert.equal(shipped.meta.extraction.dataset, BUNDLED_EXAMPLES.file);
  assert.equal(shipped.meta.extraction.demos, BUNDLED_EXAMPLES.demos);
  assert.ok(fs.existsSync(path.join(repoRoot, 'vectors', 'datasets', BUNDLED_EXAMPLES.file)));
});

test('an extraction records its offset token, and refuses one that is not a single token before it runs', async () => {
  const m = await modelP;
  const items = parseReasoningItems(fs.readFileSync(path.join(repoRoot, 'vectors', 'datasets', BUNDLED_EXAMPLES.file), 'utf8'), 'examples').slice(0, 3);
  const opts = { name: 'offset', datasetName: 'examples', datasetText: '', demos: 1, pairs: 1 };
  const v = await createSteeringVector(m, items, { ...opts, offsetToken: ' ' });
  assert.equal(v.meta.recommended.offsetToken, ' ');
  let pairsRun = 0;
  await assert.rejects(
    createSteeringVector(m, items, { ...opts, offsetToken: 'kvsteer offset', onProgress: () => pairsRun++ }),
    is('INVALID_ARGUMENT', /the offset token "kvsteer offset" is \d+ tokens for this model/),
  );
  assert.equal(pairsRun, 0, 'the extraction ran before the offset token was checked');
});

test('a manifest entry without an id or a file is refused naming the manifest, not as a bare TypeError', async () => {
  const m = await modelP;
  const cases: [string, unknown, RegExp][] = [
    ['no-file', { version: 1, vectors: [{ id: 'x', name: 'x' }] }, /vectors\[0\] has no "file"/],
    ['null-entry', { version: 1, vectors: [null] }, /vectors\[0\] is not an object/],
    ['id-number', { version: 1, vectors: [{ id: 7, file: 'x.safetensors' }] }, /vectors\[0\] has no "id"/],
    ['default-number', { version: 1, default: 3, vectors: [] }, /"default" must be a vector id/],
  ];
  for (const [name, manifest, re] of cases) {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `kvsteer-manifest-${name}-`));
    const file = path.join(d, 'manifest.json');
    fs.writeFileSync(file, JSON.stringify(manifest));
    const named = (e: unknown) => is('VECTOR_INVALID', re)(e) && (e as Error).message.startsWith(`${file}: `);
    assert.throws(() => findVectorForModel([d], m), named, name);
    assert.throws(() => resolveVector('x', [d], m), named, name);
  }
});

test('a corrupt or missing listed vector is an error naming its file, not a quiet fall-back to the next one', async () => {
  const m = await modelP;
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-broken-'));
  const a = fakeVector(m), b = fakeVector(m, 0.1);
  saveVector(path.join(d, 'a.safetensors'), a);
  saveVector(path.join(d, 'z.safetensors'), b);
  upsertManifest(d, 'a-other', 'a.safetensors', a);
  upsertManifest(d, 'z-default', 'z.safetensors', b);
  fs.writeFileSync(path.join(d, 'manifest.json'), JSON.stringify({ ...readManifest(d), default: 'z-default' }));
  const z = path.join(d, 'z.safetensors');
  fs.truncateSync(z, 100);
  assert.throws(() => findVectorForModel([d], m), (e: unknown) => is('VECTOR_INVALID')(e) && (e as Error).message.includes(z));
  fs.rmSync(z);
  assert.throws(() => findVectorForModel([d], m), (e: unknown) => is('FILE_NOT_FOUND')(e) && (e as Error).message.includes(z));
  // A vector made for another model is still passed over.
  const other = fakeVector(m);
  other.meta.model.fingerprint = { ...other.meta.model.fingerprint, tokenizerDigest: '0000000000000000' };
  saveVector(z, other);
  assert.equal(findVectorForModel([d], m)?.id, 'a-other');
});

test('a vector that would replace a listed file is undone when the manifest cannot take its entry: the previous file is back, bit for bit', async () => {
  const m = await modelP;
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-replace-'));
  saveListedVector(d, 'a', 'a.safetensors', fakeVector(m));
  const before = fs.readFileSync(path.join(d, 'a.safetensors'));
  fs.writeFileSync(path.join(d, 'manifest.json'), '{ broken');
  assert.throws(() => saveListedVector(d, 'b', 'a.safetensors', fakeVector(m, 0.1)), is('VECTOR_INVALID', /manifest\.json/));
  assert.deepEqual(fs.readFileSync(path.join(d, 'a.safetensors')), before);
  assert.deepEqual(fs.readdirSync(d).sort(), ['a.safetensors', 'manifest.json'], 'no temporary file left');
  fs.writeFileSync(path.join(d, 'manifest.json'), '{"version":1,"vectors":[]}');
  saveListedVector(d, 'b', 'a.safetensors', fakeVector(m, 0.1));
  assert.deepEqual(fs.readdirSync(d).sort(), ['a.safetensors', 'manifest.json']);
  assert.notDeepEqual(fs.readFileSync(path.join(d, 'a.safetensors')), before);
});

test('processes adding vectors to one manifest at once keep every entry; a lock left by a dead process is taken over', async () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-race-'));
  const writer = `
    const { upsertManifest } = require(${JSON.stringify(require.resolve('../../../src/engine/steering/vectorManifest'))});
    const v = { meta: { name: 'n', model: { name: 'm' }, recommended: { cK: 0, cV: 1, offsetToken: '\\n', fromLayer: 1 } } };
    for (let i = 0; i < 25; i++) upsertManifest(process.argv[1], 'w' + process.argv[2] + '-' + i, 'x.safetensors', v);`;
  const { spawn, spawnSync } = await import('node:child_process');
  const codes = await Promise.all(
    [1, 2, 3, 4].map((w) => new Promise<number | null>((resolve) => spawn(process.execPath, ['-e', writer, d, String(w)], { stdio: 'inherit' }).on('exit', resolve))),
  );
  assert.deepEqual(codes, [0, 0, 0, 0]);
  assert.equal(readManifest(d).vectors.length, 100, 'entries lost to concurrent writers');
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  fs.writeFileSync(path.join(d, '.manifest.json.lock'), String(dead));
  upsertManifest(d, 'after-crash', 'x.safetensors', fakeVector(await modelP));
  assert.equal(readManifest(d).vectors.length, 101);
  assert.deepEqual(fs.readdirSync(d), ['manifest.json'], 'no lock or temporary file left behind');
});
