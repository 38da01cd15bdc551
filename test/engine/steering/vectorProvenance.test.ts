/**
 * Which model a vector was extracted on, against the loaded one (vectorModelNote): a vector that
 * fits the shape and tokenizer but was made on another model is used with a note naming both; the
 * same model, loaded again from another path or as the folder its import made, gives none.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ask } from '../../../src/engine/ask';
import { loadModel, LoadedModel } from '../../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { createSteeringVector } from '../../../src/engine/steering/createVector';
import { parseReasoningItems } from '../../../src/engine/steering/contrastivePairs';
import { BUNDLED_EXAMPLES } from '../../../src/engine/steering/bundledExamples';
import { SteeringVector, vectorModelNote } from '../../../src/engine/steering/steeringVector';
import { encodeVector } from '../../../src/engine/steering/vectorFile';
import { sha256File } from '../../../src/engine/util/fileHash';
import { KvsteerError } from '../../../src/engine/util/errors';
import { loadTinyModel, tinyGgufPath } from '../../support/models';
import { fakeVector } from '../../support/fakeVector';
import { repoRoot } from '../../support/paths';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-prov-'));
const cacheDir = path.join(path.dirname(tinyGgufPath()), 'cache');
const modelP = loadTinyModel();
const opened: LoadedModel[] = [];
after(async () => {
  await (await modelP).dispose();
  for (const m of opened) await m.dispose();
});

/** Loads `spec` with the tiny model's cache, disposed after the file's tests. */
async function load(spec: string): Promise<LoadedModel> {
  const m = await loadModel(spec, { cacheDir, threads: 1 });
  opened.push(m);
  return m;
}

/** A vector made on `m` that records its GGUF's SHA-256, as extraction does. */
function hashedVector(m: LoadedModel): SteeringVector {
  const v = fakeVector(m);
  v.meta.model.sha256 = m.sha256;
  return v;
}

/** A copy of the tiny GGUF under another name and folder: the same file contents. */
function renamedCopy(): string {
  const file = path.join(dir, 'tiny-renamed.gguf');
  if (!fs.existsSync(file)) fs.copyFileSync(tinyGgufPath(), file);
  return file;
}

test('a GGUF model carries the SHA-256 of its file', async () => {
  const m = await modelP;
  assert.equal(m.sha256, await sha256File(tinyGgufPath()));
});

test('a vector made on the loaded model gives no note', async () => {
  const m = await modelP;
  assert.equal(vectorModelNote(fakeVector(m), m), undefined);
});

test('a vector extracted on another model of the same shape gives a note naming both', async () => {
  const m = await modelP;
  const v = fakeVector(m);
  v.meta.model = { ...v.meta.model, name: 'SmolLM2-135M', id: 'SmolLM2-135M' };
  const note = vectorModelNote(v, m);
  assert.match(note ?? '', /^steering vector "fake" was extracted on SmolLM2-135M, not on the loaded tiny; .*is used, but its directions may mean something else here$/);
  assert.match(vectorModelNote(v, m, 'my-vector') ?? '', /^steering vector "my-vector"/, 'the label the user gave names the vector');
});

test("the hub's model of a GGUF's weights (no SHA-256 to compare) is the same model: no note; its base model gets one", async () => {
  const m = await modelP;
  const v = fakeVector(m);
  // As the shipped vectors record the SmolLM2 GGUF they were extracted on.
  v.meta.model = { ...v.meta.model, name: 'SmolLM2-135M-Instruct.Q4_1', id: 'SmolLM2-135M-Instruct.Q4_1', sha256: 'b'.repeat(64) };
  const hub = (id: string) => ({ name: id, id });
  // kvsteer.model's default in the extension, an Ollama blob's general.name, an LM Studio file of another quantisation.
  for (const id of ['HuggingFaceTB/SmolLM2-135M-Instruct', 'SmolLM2 135M Instruct', 'SmolLM2-135M-Instruct-Q8_0', 'smollm2-135m-instruct-f16']) {
    assert.equal(vectorModelNote(v, hub(id)), undefined, id);
  }
  for (const id of ['HuggingFaceTB/SmolLM2-135M', 'HuggingFaceTB/SmolLM2-360M-Instruct', 'SmolLM2-135M-Instruct-DPO']) {
    assert.match(vectorModelNote(v, hub(id)) ?? '', /was extracted on SmolLM2-135M-Instruct\.Q4_1, not on the loaded/, id);
  }
  // Two GGUF files that both record a SHA-256: the hashes decide, names aside.
  assert.match(vectorModelNote(v, { ...hub('SmolLM2-135M-Instruct.Q8_0'), sha256: 'c'.repeat(64) }) ?? '', /GGUF sha256 bbbbbbbbbbbb…\), not on the loaded/);
});

test('an extraction records the GGUF SHA-256 of its model', async () => {
  const m = await modelP;
  const items = parseReasoningItems(fs.readFileSync(path.join(repoRoot, 'vectors', 'datasets', BUNDLED_EXAMPLES.file), 'utf8'), 'examples').slice(0, 3);
  const v = await createSteeringVector(m, items, { name: 'recorded', datasetName: 'examples', datasetText: '', demos: 1, pairs: 1 });
  assert.deepEqual({ name: v.meta.model.name, id: v.meta.model.id, sha256: v.meta.model.sha256 }, { name: m.name, id: m.id, sha256: m.sha256 });
});

test('the same GGUF under another name and path gives no note to a vector recording its SHA-256', async () => {
  const m = await modelP;
  const copy = await load(renamedCopy());
  assert.equal(copy.id, 'tiny-renamed');
  assert.equal(copy.sha256, m.sha256);
  const v = hashedVector(m);
  assert.equal(vectorModelNote(v, copy), undefined);
});

test('without a recorded SHA-256 the ids decide: a renamed copy of the GGUF gets a note', async () => {
  const m = await modelP;
  const copy = await load(renamedCopy());
  assert.match(vectorModelNote(fakeVector(m), copy) ?? '', /extracted on tiny, not on the loaded tiny-renamed/);
});

test('the folder a GGUF was imported into, loaded as a folder, is the same model', async () => {
  const m = await modelP;
  const folder = await load(m.folder);
  assert.equal(folder.sha256, m.sha256);
  const v = hashedVector(m);
  assert.equal(vectorModelNote(v, folder), undefined);
});

test('another GGUF file of the same name gets a note giving both SHA-256s', async () => {
  const m = await modelP;
  const otherDir = fs.mkdtempSync(path.join(dir, 'other-'));
  writeTinyRandomGguf(path.join(otherDir, 'tiny.gguf'), { seed: 99 });
  const other = await load(path.join(otherDir, 'tiny.gguf'));
  assert.equal(other.id, m.id);
  const v = hashedVector(m);
  const note = vectorModelNote(v, other) ?? '';
  assert.ok(note.includes(`extracted on tiny (GGUF sha256 ${m.sha256!.slice(0, 12)}…), not on the loaded tiny (GGUF sha256 ${other.sha256!.slice(0, 12)}…)`), note);
});

test('a steered answer carries the note, and its side says it when it starts', async () => {
  const m = await modelP;
  const v = fakeVector(m);
  v.meta.model = { ...v.meta.model, name: 'SmolLM2-135M', id: 'SmolLM2-135M' };
  const started: unknown[] = [];
  const r = await ask(m, { question: 'hi', mode: 'steered', vector: v, maxNewTokens: 2, onSideStart: (_side, info) => started.push(info?.vectorNote) });
  assert.equal(r.steered?.vectorNote, vectorModelNote(v, m));
  assert.deepEqual(started, [vectorModelNote(v, m)]);
  const plain = await ask(m, { question: 'hi', mode: 'steered', vector: fakeVector(m), maxNewTokens: 2 });
  assert.ok(!('vectorNote' in plain.steered!), 'a vector made on this model has no note field');
});

test('a vector file recording a malformed model SHA-256 is refused', async () => {
  const m = await modelP;
  const v = fakeVector(m);
  v.meta.model.sha256 = 'not-a-digest';
  assert.throws(() => encodeVector(v), (e: unknown) => e instanceof KvsteerError && e.code === 'VECTOR_INVALID' && /the model it was made for is malformed/.test(e.message));
});
