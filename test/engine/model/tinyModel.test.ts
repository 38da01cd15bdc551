/**
 * The ONNX graph built from a GGUF computes the model exactly: logits and cache of the tiny random
 * model against an independent plain-JS forward pass (test/support/referenceLlama.ts), keys after
 * RoPE in the Hugging Face layout, and a split prefill equal to a single one.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { ReferenceLlama } from '../../support/referenceLlama';
import { maxAbsDiff } from '../../support/arrays';
import { loadTinyModel, tinyGgufPath } from '../../support/models';
import { PREFILL_CHUNK } from '../../../src/engine/model/onnxBackend';
import { isCancellation } from '../../../src/engine/util/errors';
import { countingRuns } from '../../support/sessionCalls';
import { assertOneCallResult } from '../../support/oneCallResult';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());
const tokens = [1, 20, 77, 4, 150, 260, 33, 2, 198 % 280, 101, 55, 12];

test('logits of the imported graph equal an independent reference forward pass', async () => {
  const m = await modelP;
  const ref = new ReferenceLlama(openGguf(tinyGgufPath())).forward(tokens);
  const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length });
  assert.ok(maxAbsDiff(r.logits, ref.logits) < 1e-4, `max |Δlogit| = ${maxAbsDiff(r.logits, ref.logits)}`);
});

test('the cache holds values as computed and keys after RoPE in the rotate-half layout', async () => {
  const m = await modelP;
  const ref = new ReferenceLlama(openGguf(tinyGgufPath())).forward(tokens);
  const r = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const { numKvHeads: kvh, headDim: hd } = m.config;
  const T = tokens.length;
  for (let l = 0; l < m.config.numLayers; l++) {
    assert.ok(maxAbsDiff(r.cache.layers[l].value, ref.values[l]) < 1e-5, `values of layer ${l}`);
    // The reference keeps llama.cpp's interleaved pairs (2i, 2i+1); ours are (i, i + hd/2).
    const permuted = new Float32Array(kvh * T * hd);
    for (let h = 0; h < kvh; h++) for (let t = 0; t < T; t++) for (let i = 0; i < hd / 2; i++) for (let j = 0; j < 2; j++) {
      permuted[(h * T + t) * hd + j * (hd / 2) + i] = ref.keys[l][(h * T + t) * hd + 2 * i + j];
    }
    assert.ok(maxAbsDiff(r.cache.layers[l].key, permuted) < 1e-5, `keys of layer ${l}`);
  }
});

test('prefilling all but the last token and then feeding it gives the same logits', async () => {
  const m = await modelP;
  const full = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const head = await m.backend.forward({ tokens: tokens.slice(0, -1), cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const last = await m.backend.forward({ tokens: tokens.slice(-1), cache: head.cache, logitsToKeep: 1 });
  const d = maxAbsDiff(full.logits, last.logits);
  assert.ok(d < 1e-4, `max |Δlogit| = ${d}`); // f32 sums in another order (one softmax over all positions vs past and new parts)
  assert.equal(last.cache.length, tokens.length);
});

test('decoding token by token grows the cache in place and matches one full forward pass', async () => {
  const m = await modelP;
  const full = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  let step = await m.backend.forward({ tokens: tokens.slice(0, 2), cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const first = step.cache;
  for (const t of tokens.slice(2)) step = await m.backend.forward({ tokens: [t], cache: step.cache, logitsToKeep: 1 });
  assert.ok(maxAbsDiff(full.logits, step.logits) < 1e-4);
  for (let l = 0; l < m.config.numLayers; l++) {
    assert.ok(maxAbsDiff(full.cache.layers[l].key, step.cache.layers[l].key) < 1e-5, `keys of layer ${l}`);
    assert.ok(maxAbsDiff(full.cache.layers[l].value, step.cache.layers[l].value) < 1e-5, `values of layer ${l}`);
  }
  // A cache that was extended in place is no longer usable: an error, not stale numbers.
  assert.throws(() => first.read(0, 'value', 0), /extended in place/);
});

test('the tokenizer built from the GGUF keeps chat special tokens whole and round-trips text', async () => {
  const m = await modelP;
  const prompt = m.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi there' }]);
  assert.equal(prompt, '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n');
  const ids = m.tokenizer.encode(prompt);
  assert.equal(ids[0], 1);
  assert.equal(ids.filter((i) => i === 2).length, 2);
  for (const s of ['the theater', 'naïve café 42', 'tabs\tand\nnewlines', '日本語']) assert.equal(m.tokenizer.decode(m.tokenizer.encode(s)), s);
  // BPE merges apply: " the" is one token (Ġthe).
  assert.equal(m.tokenizer.encode(' the').length, 1);
});

test('a prompt fed in chunks gives the logits, cache and hidden states of one call', async () => {
  const m = await modelP;
  const layers = [0, m.config.numLayers - 1];
  const whole = await m.backend.forward({ tokens, cache: m.backend.emptyCache(), logitsToKeep: tokens.length, hiddenStateLayers: layers });
  const chunked = m.backend.withPrefillChunk(5);
  for (const keep of [tokens.length, 7, 1]) {
    const r = await chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: keep, hiddenStateLayers: layers });
    assertOneCallResult(r, whole, { tokens: tokens.length, keep, vocabSize: m.config.vocabSize, numLayers: m.config.numLayers });
    for (const l of layers) assert.ok(maxAbsDiff(r.hiddenStates.get(l)!, whole.hiddenStates.get(l)!) < 1e-5, `hidden states after block ${l}`);
  }
});

test('cancelling stops a long prompt between its chunks, and the model stays usable', async () => {
  const m = await modelP;
  const chunked = m.backend.withPrefillChunk(4);
  // Count the ONNX Runtime calls: 12 tokens in chunks of 4 are 3 of them.
  await countingRuns(chunked, async (calls) => {
    const ac = new AbortController();
    // The first chunk is already running when the signal fires; the second one does not start.
    const run = chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: 1, signal: ac.signal, cancelled: 'the test prompt' });
    ac.abort();
    await assert.rejects(run, (e: unknown) => isCancellation(e) && /the test prompt was cancelled/.test((e as Error).message));
    assert.equal(calls(), 1, 'chunks ran after the cancel');
    const r = await chunked.forward({ tokens, cache: chunked.emptyCache(), logitsToKeep: 1, signal: new AbortController().signal });
    assert.equal(r.cache.length, tokens.length);
    assert.equal(calls(), 1 + tokens.length / 4);
  });
});

test('a prompt longer than a prefill chunk, and decoding after it, give the reference logits', async () => {
  const m = await modelP;
  const V = m.config.vocabSize;
  const n = PREFILL_CHUNK + 8;
  const long = Array.from({ length: n }, (_, i) => (i * 37 + 11) % V);
  const ref = new ReferenceLlama(openGguf(tinyGgufPath())).forward(long);
  const at = (logits: Float32Array, i: number) => logits.subarray(i * V, (i + 1) * V);
  // Logits reach |38| here, and f32 sums over ~260 positions in another order than the reference's
  // differ by ~1e-5 of that (measured 4e-4). A wrong mask or cache read is O(1).
  const tol = 1e-3;
  // One call over all n tokens, and the same prompt in two chunks (the second reads the first's cache).
  for (const backend of [m.backend.withPrefillChunk(n), m.backend]) {
    const r = await backend.forward({ tokens: long, cache: backend.emptyCache(), logitsToKeep: n });
    assert.ok(maxAbsDiff(r.logits, ref.logits) < tol, `max |Δlogit| = ${maxAbsDiff(r.logits, ref.logits)}`);
  }
  // Decoding token by token past the chunk length.
  let step = await m.backend.forward({ tokens: long.slice(0, PREFILL_CHUNK - 4), cache: m.backend.emptyCache(), logitsToKeep: 1 });
  for (let i = PREFILL_CHUNK - 4; i < n; i++) {
    step = await m.backend.forward({ tokens: [long[i]], cache: step.cache, logitsToKeep: 1 });
    const d = maxAbsDiff(step.logits, at(ref.logits, i));
    assert.ok(d < tol, `decode at position ${i}: max |Δlogit| = ${d}`);
  }
});
