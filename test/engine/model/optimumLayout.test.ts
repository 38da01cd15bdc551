/**
 * Graphs in optimum's layout (hub models: `present.*` holds past and new cache rows together) take
 * the engine's other cache path: the whole cache comes back every call. The tiny model built in
 * that layout must give what the kvsteer layout gives: logits, cache, greedy tokens, and a steered
 * generation (the cache edit applies to either); loaded from a folder in that layout, it takes long
 * prompts in chunks as the kvsteer layout does, with one call's results.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { llamaSpecFromGguf, llamaWeightsFromGguf } from '../../../src/engine/gguf/llamaFromGguf';
import { buildLlamaGraph } from '../../../src/engine/onnx/llamaGraph';
import { OnnxBackend, OrtSessionLike } from '../../../src/engine/model/onnxBackend';
import { LoadedModel, loadModel } from '../../../src/engine/model/loadModel';
import { isCancellation } from '../../../src/engine/util/errors';
import { maxAbsDiff } from '../../support/arrays';
import { loadTinyModel, tinyGgufPath } from '../../support/models';
import { copyModelFolder } from '../../support/modelFolders';
import { countingRuns } from '../../support/sessionCalls';
import { assertOneCallResult } from '../../support/oneCallResult';
import { assertSameGenerations } from '../../support/sameGenerations';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-optimum-'));
const modelP = loadTinyModel();
let session: ort.InferenceSession | undefined;
let folderModel: Promise<LoadedModel> | undefined;
let workerFolderModel: Promise<LoadedModel> | undefined;
after(async () => {
  await session?.release();
  await (await folderModel)?.dispose();
  await (await workerFolderModel)?.dispose();
  await (await modelP).dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The tiny model with its backend swapped for one on the optimum-layout graph. */
async function optimumModel(): Promise<LoadedModel> {
  const m = await modelP;
  if (!session) {
    saveOptimumGraph(dir);
    session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), { intraOpNumThreads: 1 });
  }
  assert.ok(session.outputNames.includes('present.0.key') && !session.outputNames.includes('new_key_values.0.key'));
  const c = m.config;
  return { ...m, backend: new OnnxBackend(session as unknown as OrtSessionLike, c.numLayers, c.numKvHeads, c.headDim, c.vocabSize, c.hiddenSize) };
}

/** Writes the tiny model's graph in optimum's layout as `dest`/model.onnx (and its data). */
function saveOptimumGraph(dest: string): void {
  const gguf = openGguf(tinyGgufPath());
  const spec = llamaSpecFromGguf(gguf);
  buildLlamaGraph(spec, llamaWeightsFromGguf(gguf, spec), { cacheOutputs: 'present' }).save(dest, 'model.onnx');
}

let optimumFolder: Promise<string> | undefined;
/** The tiny model's folder with its graph replaced by the optimum-layout one. */
function optimumFolderPath(): Promise<string> {
  optimumFolder ??= modelP.then((m) =>
    copyModelFolder(m.folder, path.join(dir, 'optimum-folder'), (d) => {
      for (const f of fs.readdirSync(path.join(d, 'onnx'))) fs.rmSync(path.join(d, 'onnx', f));
      saveOptimumGraph(path.join(d, 'onnx'));
    }),
  );
  return optimumFolder;
}

/** That folder, loaded as any folder. */
function optimumFolderModel(): Promise<LoadedModel> {
  folderModel ??= optimumFolderPath().then((folder) => loadModel(folder, { cacheDir: path.join(dir, 'cache'), threads: 1 }));
  return folderModel;
}

/** Counts `backend`'s ONNX Runtime calls while `body` runs. */
const tokens = [1, 20, 77, 4, 150, 260, 33, 2, 198, 101, 55, 12];

test('a graph returning present.* gives the logits and cache of the kvsteer layout, in one call and step by step', async () => {
  const m = await modelP;
  const o = await optimumModel();
  const ours = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length });
  let step = await o.backend.forward({ tokens: tokens.slice(0, 5), cache: o.backend.emptyCache(), logitsToKeep: 5 });
  const V = m.config.vocabSize;
  assert.ok(maxAbsDiff(step.logits, ours.logits.subarray(0, 5 * V)) < 1e-5, 'prefill logits');
  for (const [i, t] of tokens.slice(5).entries()) {
    step = await o.backend.forward({ tokens: [t], cache: step.cache, logitsToKeep: 1 });
    assert.ok(maxAbsDiff(step.logits, ours.logits.subarray((5 + i) * V, (6 + i) * V)) < 1e-4, `logits at ${5 + i}`);
  }
  assert.equal(step.cache.length, tokens.length);
  for (let l = 0; l < m.config.numLayers; l++) {
    assert.ok(maxAbsDiff(step.cache.layers[l].key, ours.cache.layers[l].key) < 1e-5, `keys of layer ${l}`);
    assert.ok(maxAbsDiff(step.cache.layers[l].value, ours.cache.layers[l].value) < 1e-5, `values of layer ${l}`);
  }
});

test('greedy and steered generations are the same token for token in both layouts', async () => {
  const { greedy, steered } = await assertSameGenerations(await optimumModel(), await modelP);
  // The edit changed something, so both paths were steered.
  assert.notDeepEqual(steered, greedy);
});

test('a folder in optimum layout whose session runs in a worker thread gives the same greedy and steered tokens', async () => {
  workerFolderModel ??= optimumFolderPath().then((folder) => loadModel(folder, { cacheDir: path.join(dir, 'cache'), threads: 1, sessionThread: 'worker' }));
  const w = await workerFolderModel;
  assert.ok((w.backend as unknown as { session: OrtSessionLike }).session.forwardInWorker, 'the session is in a worker');
  // The whole cache comes back from the worker's session every call (present.*), and stays there.
  await assertSameGenerations(w, await modelP);
});

test('a folder in optimum layout takes a long prompt in chunks, with the logits and cache of one call', async () => {
  const o = await optimumFolderModel();
  assert.ok((o.backend as unknown as { session: OrtSessionLike }).session.outputNames.includes('present.0.key'));
  const whole = await o.backend.withPrefillChunk(tokens.length).forward({ tokens, cache: o.backend.emptyCache(), logitsToKeep: tokens.length });
  const chunked = o.backend.withPrefillChunk(5);
  for (const keep of [tokens.length, 7, 1]) {
    // 12 tokens in chunks of 5 are 3 calls.
    const { result: r, calls } = await countingRuns(chunked, () => chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: keep }));
    assert.equal(calls, 3, `keep ${keep}`);
    assertOneCallResult(r, whole, { tokens: tokens.length, keep, vocabSize: o.config.vocabSize, numLayers: o.config.numLayers });
  }
  // Decoding goes on from the chunked prefill as from one call's.
  const next = [40, 41];
  let a = await chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: 1 });
  let b = whole;
  for (const t of next) {
    a = await chunked.forward({ tokens: [t], cache: a.cache, logitsToKeep: 1 });
    b = await o.backend.forward({ tokens: [t], cache: b.cache, logitsToKeep: 1 });
    assert.ok(maxAbsDiff(a.logits, b.logits) < 1e-4, `decode ${t}`);
  }
});

test('cancelling stops a long prompt to a folder in optimum layout between its chunks, and the model stays usable', async () => {
  const o = await optimumFolderModel();
  const chunked = o.backend.withPrefillChunk(4);
  const { calls } = await countingRuns(chunked, async () => {
    const ac = new AbortController();
    // The first chunk is already running when the signal fires; the second one does not start.
    const run = chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: 1, signal: ac.signal, cancelled: 'the test prompt' });
    ac.abort();
    await assert.rejects(run, (e: unknown) => isCancellation(e) && /the test prompt was cancelled/.test((e as Error).message));
  });
  assert.equal(calls, 1, 'chunks ran after the cancel');
  const r = await chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: 1, signal: new AbortController().signal });
  assert.equal(r.cache.length, tokens.length);
});
