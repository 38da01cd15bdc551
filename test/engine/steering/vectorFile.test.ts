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
import { checkStrength, generateSteered } from '../../../src/engine/steering/applySteering';
import { checkVectorFitsModel } from '../../../src/engine/steering/steeringVector';
import { encodeVector, loadVector, saveVector } from '../../../src/engine/steering/vectorFile';
import { findVectorForModel, resolveVector } from '../../../src/engine/steering/findVector';
import { readManifest, upsertManifest } from '../../../src/engine/steering/vectorManifest';
import { KvsteerError, KvsteerErrorCode } from '../../../src/engine/util/errors';
import { loadTinyModel } from '../../support/models';
import { fakeVector } from '../../support/fakeVector';
import { repoRoot } from '../../support/paths';
import { BUNDLED_EXAMPLES } from '../../../src/engine/steering/bundledExamples';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-vec-'));
const is = (code: KvsteerErrorCode, re?: RegExp) => (e: unknown) => e instanceof KvsteerError && e.code === code && (!re || re.test(e.message));

test('a saved vector loads back bit for bit', async () => {
  const m = await modelP;
  const v = fakeVector(m);
  const file = path.join(dir, 'v.safetensors');
  saveVector(file, v);
  const back = loadVector(file);
  assert.deepEqual(back.meta, v.meta);
  for (let l = 0; l < v.keys.length; l++) {
    assert.deepEqual(Buffer.from(back.keys[l].buffer), Buffer.from(v.keys[l].buffer));
    assert.deepEqual(Buffer.from(back.values[l].buffer), Buffer.from(v.values[l].buffer));
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
  for (const [name, bytes, re] of cases) {
    const file = path.join(dir, `${name}.safetensors`);
    fs.writeFileSync(file, bytes);
    assert.throws(() => loadVector(file), (e: unknown) => is('VECTOR_INVALID', re)(e) && (e as Error).message.includes(file), name);
  }
  assert.throws(() => loadVector(path.join(dir, 'missing.safetensors')), is('FILE_NOT_FOUND', /missing\.safetensors/));
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
