/**
 * Qwen2 GGUF files import through the same path as Llama ones: the tiny random Qwen2 model (Q/K/V
 * biases, NeoX RoPE, unpermuted Q/K rows, the qwen2 pre-tokenizer) computes exactly what an
 * independent reference forward pass computes, and its cache holds keys in the rotate-half layout
 * the steering vectors use.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { loadModel } from '../../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { generate } from '../../../src/engine/generation/generate';
import { ReferenceLlama } from '../../support/referenceLlama';
import { maxAbsDiff } from '../../support/arrays';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-qwen2-'));
const gguf = path.join(dir, 'tiny-qwen2.gguf');
writeTinyRandomGguf(gguf, { architecture: 'qwen2' });
const modelP = loadModel(gguf, { cacheDir: path.join(dir, 'cache'), threads: 1 });
after(async () => (await modelP).dispose());
const tokens = [1, 20, 77, 4, 150, 260, 33, 2, 198, 101, 55, 12];

test('a Qwen2 GGUF imports as a Qwen2 model with its biases applied', async () => {
  const m = await modelP;
  assert.equal(m.config.modelType, 'qwen2');
  const ref = new ReferenceLlama(openGguf(gguf)).forward(tokens);
  const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length });
  assert.ok(maxAbsDiff(r.logits, ref.logits) < 1e-4, `max |Δlogit| = ${maxAbsDiff(r.logits, ref.logits)}`);
  // Without the biases the logits would be far off: the check above can fail.
  const noBias = new ReferenceLlama(openGguf(gguf));
  for (const layer of (noBias as unknown as { layers: { bq?: Float32Array }[] }).layers) delete layer.bq;
  assert.ok(maxAbsDiff(r.logits, noBias.forward(tokens).logits) > 1e-2);
});

test("a Qwen2 model's cache holds keys after RoPE in the rotate-half layout, as the file's rows are", async () => {
  const m = await modelP;
  const ref = new ReferenceLlama(openGguf(gguf)).forward(tokens);
  const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  // f32 rounding relative to the largest entry (the biases make these keys larger than Llama's).
  const tol = (x: Float32Array) => 1e-5 * Math.max(1, ...Array.from(x, Math.abs));
  for (let l = 0; l < m.config.numLayers; l++) {
    const dk = maxAbsDiff(r.cache.layers[l].key, ref.keys[l]), dv = maxAbsDiff(r.cache.layers[l].value, ref.values[l]);
    assert.ok(dk < tol(ref.keys[l]), `keys of layer ${l}: max |Δ| ${dk}, max |k| ${Math.max(...Array.from(ref.keys[l], Math.abs))}`);
    assert.ok(dv < tol(ref.values[l]), `values of layer ${l}: max |Δ| ${dv}`);
  }
});

test('a Qwen2 model generates from a chat prompt and stops at its budget', async () => {
  const m = await modelP;
  const ids = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: 'the sea' }]));
  const a = await generate(m, { promptIds: ids, maxNewTokens: 8 });
  const b = await generate(m, { promptIds: ids, maxNewTokens: 8 });
  assert.ok(a.tokenIds.length > 0 && a.tokenIds.length <= 8);
  assert.deepEqual(a.tokenIds, b.tokenIds);
});
