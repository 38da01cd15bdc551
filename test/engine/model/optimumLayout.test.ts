/**
 * Graphs in optimum's layout (hub models: `present.*` holds past and new cache rows together) take
 * the engine's other cache path: the whole cache comes back every call, and long prompts go in one
 * call. The tiny model built in that layout must give what the kvsteer layout gives: logits, cache,
 * greedy tokens, and a steered generation (the cache edit applies to either).
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
import { LoadedModel } from '../../../src/engine/model/loadModel';
import { generate } from '../../../src/engine/generation/generate';
import { generateSteered } from '../../../src/engine/steering/applySteering';
import { maxAbsDiff } from '../../support/arrays';
import { fakeVector } from '../../support/fakeVector';
import { loadTinyModel, tinyGgufPath } from '../../support/models';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-optimum-'));
const modelP = loadTinyModel();
let session: ort.InferenceSession | undefined;
after(async () => {
  await session?.release();
  await (await modelP).dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The tiny model with its backend swapped for one on the optimum-layout graph. */
async function optimumModel(): Promise<LoadedModel> {
  const m = await modelP;
  if (!session) {
    const gguf = openGguf(tinyGgufPath());
    const spec = llamaSpecFromGguf(gguf);
    buildLlamaGraph(spec, llamaWeightsFromGguf(gguf, spec), { cacheOutputs: 'present' }).save(dir, 'model.onnx');
    session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), { intraOpNumThreads: 1 });
  }
  assert.ok(session.outputNames.includes('present.0.key') && !session.outputNames.includes('new_key_values.0.key'));
  const c = m.config;
  return { ...m, backend: new OnnxBackend(session as unknown as OrtSessionLike, c.numLayers, c.numKvHeads, c.headDim, c.vocabSize, c.hiddenSize) };
}

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
  const m = await modelP;
  const o = await optimumModel();
  const messages = [{ role: 'user' as const, content: 'tell me about the sea' }];
  const promptIds = m.tokenizer.encode(m.tokenizer.applyChatTemplate(messages));
  assert.deepEqual((await generate(o, { promptIds, maxNewTokens: 24 })).tokenIds, (await generate(m, { promptIds, maxNewTokens: 24 })).tokenIds);
  const vector = fakeVector(m, 3);
  const steer = (model: LoadedModel) => generateSteered(model, { messages, vector, strength: { cK: 2, cV: 8 }, maxNewTokens: 24 });
  const [a, b] = [await steer(o), await steer(m)];
  assert.deepEqual(a.tokenIds, b.tokenIds);
  // The edit changed something, so both paths were steered.
  assert.notDeepEqual(b.tokenIds, (await generate(m, { promptIds, maxNewTokens: 24 })).tokenIds);
});
