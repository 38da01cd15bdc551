/**
 * Qwen2, Qwen3 and Gemma 3 GGUF files import through the same path as Llama ones: their tiny
 * random models (NeoX RoPE on unpermuted Q/K rows; Qwen2 with Q/K/V biases, Qwen3 with a norm on
 * every query and key head and heads wider than hidden / heads, Gemma 3 with those and norms after
 * attention and feed-forward, scaled embeddings, GELU and a sliding window on its local layer)
 * compute exactly what an independent reference forward pass computes, and their caches hold keys
 * in the rotate-half layout the steering vectors use.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { loadModel } from '../../../src/engine/model/loadModel';
import { TINY_SPEC, writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { generate } from '../../../src/engine/generation/generate';
import { ReferenceLlama } from '../../support/referenceLlama';
import { maxAbsDiff } from '../../support/arrays';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-qwen-'));
const tokens = [1, 20, 77, 4, 150, 260, 33, 2, 198, 101, 55, 12];

type RefLayer = { bq?: Float32Array; qNorm?: Float32Array; postAttnNorm?: Float32Array };
// Heads twice as wide as hidden / heads, as Qwen3's (128 dims with hidden 1024 and 16 heads) and Gemma 3's.
const WIDE_HEADS = (2 * TINY_SPEC.hidden) / TINY_SPEC.heads;
const VARIANTS = [
  { architecture: 'qwen2' as const, modelType: 'qwen2', name: 'Qwen2', what: 'biases', headDim: undefined, drop: (l: RefLayer) => delete l.bq },
  { architecture: 'qwen3' as const, modelType: 'qwen3', name: 'Qwen3', what: 'query and key head norms', headDim: WIDE_HEADS, drop: (l: RefLayer) => delete l.qNorm },
  { architecture: 'gemma3' as const, modelType: 'gemma3_text', name: 'Gemma 3', what: 'norms after attention', headDim: WIDE_HEADS, drop: (l: RefLayer) => delete l.postAttnNorm },
];
const gemmaFile = path.join(dir, 'tiny-gemma3.gguf');

for (const { architecture, modelType, name, what, headDim, drop } of VARIANTS) {
  const gguf = path.join(dir, `tiny-${architecture}.gguf`);
  writeTinyRandomGguf(gguf, { architecture, headDim });
  const modelP = loadModel(gguf, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  after(async () => (await modelP).dispose());

  test(`a ${name} GGUF imports as a ${name} model with its ${what} applied`, async () => {
    const m = await modelP;
    assert.equal(m.config.modelType, modelType);
    assert.equal(m.config.headDim, headDim ?? TINY_SPEC.hidden / TINY_SPEC.heads);
    const ref = new ReferenceLlama(openGguf(gguf)).forward(tokens);
    const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length });
    assert.ok(maxAbsDiff(r.logits, ref.logits) < 1e-4, `max |Δlogit| = ${maxAbsDiff(r.logits, ref.logits)}`);
    // Without them the logits would be far off: the check above can fail.
    const without = new ReferenceLlama(openGguf(gguf));
    for (const layer of (without as unknown as { layers: RefLayer[] }).layers) drop(layer);
    assert.ok(maxAbsDiff(r.logits, without.forward(tokens).logits) > 1e-2);
  });

  test(`a ${name} model's cache holds keys after RoPE in the rotate-half layout, as the file's rows are`, async () => {
    const m = await modelP;
    const ref = new ReferenceLlama(openGguf(gguf)).forward(tokens);
    const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1 });
    // f32 rounding relative to the largest entry (Qwen2's biases make its keys larger than Llama's).
    const tol = (x: Float32Array) => 1e-5 * Math.max(1, ...Array.from(x, Math.abs));
    for (let l = 0; l < m.config.numLayers; l++) {
      const dk = maxAbsDiff(r.cache.layers[l].key, ref.keys[l]), dv = maxAbsDiff(r.cache.layers[l].value, ref.values[l]);
      assert.ok(dk < tol(ref.keys[l]), `keys of layer ${l}: max |Δ| ${dk}, max |k| ${Math.max(...Array.from(ref.keys[l], Math.abs))}`);
      assert.ok(dv < tol(ref.values[l]), `values of layer ${l}: max |Δ| ${dv}`);
    }
  });

  test(`a ${name} model generates from a chat prompt and stops at its budget`, async () => {
    const m = await modelP;
    const ids = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: 'the sea' }]));
    const a = await generate(m, { promptIds: ids, maxNewTokens: 8 });
    const b = await generate(m, { promptIds: ids, maxNewTokens: 8 });
    assert.ok(a.tokenIds.length > 0 && a.tokenIds.length <= 8);
    assert.deepEqual(a.tokenIds, b.tokenIds);
  });
}

test("a Gemma 3 model decoding past its local layer's window sees only the window there, as the reference does", async () => {
  const m = await loadModel(gemmaFile, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  try {
    // 12 tokens against a window of 8: the last steps read past keys that must stay hidden.
    const ref = new ReferenceLlama(openGguf(gemmaFile)).forward(tokens);
    const V = m.config.vocabSize;
    let r = await m.backend.forward({ tokens: tokens.slice(0, 3), cache: m.backend.emptyCache(), logitsToKeep: 3 });
    let worst = maxAbsDiff(r.logits, ref.logits.subarray(0, 3 * V));
    for (let i = 3; i < tokens.length; i++) {
      r = await m.backend.forward({ tokens: [tokens[i]], cache: r.cache, logitsToKeep: 1 });
      worst = Math.max(worst, maxAbsDiff(r.logits, ref.logits.subarray(i * V, (i + 1) * V)));
    }
    assert.ok(worst < 1e-4, `max |Δlogit| = ${worst}`);
    // Without the window the last positions differ: the check above can fail.
    const unwindowed = new ReferenceLlama(openGguf(gemmaFile));
    (unwindowed as unknown as { gemma: { window: number } }).gemma.window = 1000;
    const last = (x: Float32Array) => x.subarray((tokens.length - 1) * V);
    assert.ok(maxAbsDiff(last(ref.logits), last(unwindowed.forward(tokens).logits)) > 1e-3);
  } finally {
    await m.dispose();
  }
});

test("a chat template's thinking switch (Qwen3's enable_thinking) renders with thinking off", async () => {
  const gguf = path.join(dir, 'tiny-qwen3-thinking.gguf');
  const template =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}";
  writeTinyRandomGguf(gguf, { architecture: 'qwen3', metadata: { 'tokenizer.chat_template': { type: 'string', value: template } } });
  const m = await loadModel(gguf, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  try {
    assert.equal(m.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]), '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
  } finally {
    await m.dispose();
  }
});
