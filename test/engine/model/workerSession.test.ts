/**
 * A model whose ONNX Runtime session runs in a worker thread (sessionThread 'worker', what the
 * extension host uses) computes exactly what the same session on the calling thread computes:
 * logits and cache bit for bit, greedy and steered tokens. The cache travels to the worker and back
 * by transfer; a failed pass gives it back, a broken graph is one clear error, a released session
 * refuses work, and an idle worker does not keep a process alive.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { LoadedModel } from '../../../src/engine/model/loadModel';
import { WorkerSession } from '../../../src/engine/model/workerSession';
import { ForwardResult, OrtSessionLike } from '../../../src/engine/model/onnxBackend';
import { generate } from '../../../src/engine/generation/generate';
import { generateSteered } from '../../../src/engine/steering/applySteering';
import { isCancellation, isKvsteerError } from '../../../src/engine/util/errors';
import { PrefillCache } from '../../../src/engine/generation/prefillCache';
import { fakeVector } from '../../support/fakeVector';
import { loadTinyModel, tinyGgufPath } from '../../support/models';
import { assertSameGenerations } from '../../support/sameGenerations';

const mainP = loadTinyModel();
const workerP = loadTinyModel({ sessionThread: 'worker' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-worker-'));
after(async () => {
  await (await mainP).dispose();
  await (await workerP).dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const tokens = [1, 20, 77, 4, 150, 260, 33, 2, 198, 101, 55, 12];

function assertSameResult(a: ForwardResult, b: ForwardResult, what: string): void {
  assert.deepEqual(a.logits, b.logits, `${what}: logits`);
  assert.equal(a.cache.length, b.cache.length, `${what}: cache length`);
  a.cache.layers.forEach((l, i) => {
    assert.deepEqual(l.key, b.cache.layers[i].key, `${what}: keys of layer ${i}`);
    assert.deepEqual(l.value, b.cache.layers[i].value, `${what}: values of layer ${i}`);
  });
}

test('the worker thread holds the session: the model has no session of its own on this thread', async () => {
  const w = await workerP;
  assert.ok((w.backend as unknown as { session: OrtSessionLike }).session instanceof WorkerSession);
  assert.ok(!((await mainP).backend as unknown as { session: OrtSessionLike }).session.forwardInWorker, 'the default stays on the calling thread');
});

test('a session in a worker gives the logits and cache of one on the calling thread, bit for bit, in chunks and step by step', async () => {
  const [m, w] = [await mainP, await workerP];
  const forward = (x: LoadedModel, chunk: number, cache = x.backend.emptyCache(), ids = tokens) => x.backend.withPrefillChunk(chunk).forward({ tokens: ids, cache, logitsToKeep: 3 });
  // 12 tokens in chunks of 5: three passes, each lending the cache to the worker and getting it back.
  let a = await forward(m, 5);
  let b = await forward(w, 5);
  assertSameResult(b, a, 'prefill');
  for (const t of [40, 41, 42]) {
    a = await forward(m, 5, a.cache, [t]);
    b = await forward(w, 5, b.cache, [t]);
    assertSameResult(b, a, `decode ${t}`);
  }
});

test('greedy and steered generations in a worker are token for token those of the calling thread', async () => {
  await assertSameGenerations(await workerP, await mainP);
});

test('generation leaves no cache behind in the worker, steered or not, and a kept prefill lives here', async () => {
  const w = await workerP;
  const session = (w.backend as unknown as { session: WorkerSession }).session;
  const before = session.cachesHeld();
  const messages = [{ role: 'user' as const, content: 'tell me about the sea' }];
  const promptIds = w.tokenizer.encode(w.tokenizer.applyChatTemplate(messages));
  const prefillCache = new PrefillCache();
  await generate(w, { promptIds, maxNewTokens: 24, prefillCache });
  await generateSteered(w, { messages, vector: fakeVector(w, 3), strength: { cK: 2, cV: 8 }, maxNewTokens: 24, prefillCache });
  const ac = new AbortController();
  const cancelled = generate(w, { promptIds, maxNewTokens: 24, signal: ac.signal, onToken: () => ac.abort() });
  assert.equal((await cancelled).stopReason, 'cancelled');
  assert.equal(session.cachesHeld(), before);
});

test('cancelling stops a long prompt in the worker between its chunks, and the model stays usable', async () => {
  const w = await workerP;
  const chunked = w.backend.withPrefillChunk(2);
  const ac = new AbortController();
  const run = chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: 1, signal: ac.signal, cancelled: 'the test prompt' });
  ac.abort();
  await assert.rejects(run, (e: unknown) => isCancellation(e) && /the test prompt was cancelled/.test((e as Error).message));
  const r = await chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: 1 });
  assert.equal(r.cache.length, tokens.length);
});

test('a pass that fails in the worker is an error, and the cache it was given comes back usable', async () => {
  const [m, w] = [await mainP, await workerP];
  const prefill = await w.backend.forward({ tokens, cache: w.backend.emptyCache(), logitsToKeep: 1 });
  // A token id past the vocabulary: ONNX Runtime's Gather refuses it.
  await assert.rejects(w.backend.forward({ tokens: [w.config.vocabSize + 5], cache: prefill.cache, logitsToKeep: 1 }), /out of (data )?bounds|indices/i);
  const next = await w.backend.forward({ tokens: [40], cache: prefill.cache, logitsToKeep: 1 });
  const ref = await m.backend.forward({ tokens: [40], cache: (await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1 })).cache, logitsToKeep: 1 });
  assertSameResult(next, ref, 'after the failed pass');
});

test('a graph the worker cannot open is one clear error naming the file', async () => {
  const missing = path.join(dir, 'missing', 'model.onnx');
  await assert.rejects(WorkerSession.open(missing, {}), (e: unknown) => isKvsteerError(e) && e.code === 'MODEL_LOAD_FAILED' && e.message.includes(missing));
  const corrupt = path.join(dir, 'corrupt.onnx');
  fs.writeFileSync(corrupt, 'this is not a protobuf graph');
  await assert.rejects(WorkerSession.open(corrupt, {}), (e: unknown) => isKvsteerError(e) && e.message.startsWith(`ONNX Runtime cannot open ${corrupt}:`));
});

test('a released worker session refuses further passes with a clear error', async () => {
  const m = await loadTinyModel({ sessionThread: 'worker' });
  const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  await m.dispose();
  await m.dispose(); // twice is harmless
  await assert.rejects(m.backend.forward({ tokens: [40], cache: r.cache, logitsToKeep: 1 }), /was released/);
});

test('an idle worker does not keep the process alive (a CLI that forgets to free the model still exits)', () => {
  const loadModelJs = path.join(__dirname, '..', '..', '..', 'src', 'engine', 'model', 'loadModel.js');
  const script = `
    const { loadModel } = require(${JSON.stringify(loadModelJs)});
    loadModel(${JSON.stringify(tinyGgufPath())}, { cacheDir: ${JSON.stringify(path.join(path.dirname(tinyGgufPath()), 'cache'))}, threads: 1, sessionThread: 'worker' })
      .then((m) => m.backend.forward({ tokens: [1, 2, 3], cache: m.backend.emptyCache(), logitsToKeep: 1 }))
      .then((r) => console.log('logits', r.logits.length));`;
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(res.error, undefined, `the process did not exit: ${res.error?.message}`);
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /^logits \d+$/m);
});

// Last in this file: once Atomics.wait has thrown, this thread polls for good.
test('where the host forbids Atomics.wait on its thread, a cache still comes back from the worker (by polling)', async () => {
  const [m, w] = [await mainP, await workerP];
  const a = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const b = await w.backend.forward({ tokens, cache: w.backend.emptyCache(), logitsToKeep: 1 });
  const wait = Atomics.wait;
  let refused = 0;
  Atomics.wait = () => {
    refused++;
    throw new TypeError('Atomics.wait cannot be called in this context');
  };
  try {
    assertSameResult(b, a, 'polled back');
  } finally {
    Atomics.wait = wait;
  }
  assert.equal(refused, 1);
});
