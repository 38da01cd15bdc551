/**
 * Behaviour of the engine on the real SmolLM2-135M-Instruct GGUF: a sensible answer, reproducible
 * seeded sampling, timings, and the stop on repetition. (The import cache is tested on tiny files in
 * test/engine/gguf/ggufFile.test.ts; every real-model test here loads through it.)
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ask } from '../../../src/engine/ask';
import { hasWordLoop } from '../../../src/engine/generation/repetition';
import { loadRealModel, realModelSkip } from '../../support/models';

const sample = (seed: number) => ({ kind: 'sample' as const, temperature: 0.7, topP: 0.9, topK: 50, seed });

test('the real model answers "What is the capital of France?" with Paris', { skip: realModelSkip }, async () => {
  const m = await loadRealModel();
  const r = await ask(m, { question: 'What is the capital of France?', mode: 'baseline', maxNewTokens: 48 });
  assert.match(r.baseline!.text, /Paris/, r.baseline!.text);
});

test('seeded sampling on the real model gives the same text twice and different seeds can differ', { skip: realModelSkip }, async () => {
  const m = await loadRealModel();
  const q = { question: 'Write one sentence about the ocean.', mode: 'baseline' as const, maxNewTokens: 32 };
  const a = await ask(m, { ...q, decoding: sample(42) });
  const b = await ask(m, { ...q, decoding: sample(42) });
  assert.equal(a.baseline!.text, b.baseline!.text);
  assert.deepEqual(a.baseline!.tokens, b.baseline!.tokens);
  const others = await Promise.all([43, 44].map((s) => ask(m, { ...q, decoding: sample(s) })));
  assert.ok(others.some((o) => o.baseline!.text !== a.baseline!.text), 'three seeds gave the same text');
});

test('the real model reports load and per-token timings', { skip: realModelSkip }, async () => {
  const m = await loadRealModel();
  assert.ok(m.timings.loadMs > 0);
  const r = await ask(m, { question: 'Say hello.', mode: 'baseline', maxNewTokens: 8 });
  assert.ok(r.baseline!.prefillMs > 0 && r.baseline!.msPerToken > 0 && r.baseline!.totalMs >= r.baseline!.prefillMs);
});

test('an answer that falls into a loop stops there when asked to, and runs on to the budget otherwise', { skip: realModelSkip }, async () => {
  const m = await loadRealModel();
  const q = { question: 'Write the word hello twenty times.', mode: 'baseline' as const, maxNewTokens: 80 };
  const full = (await ask(m, q)).baseline!;
  const cut = (await ask(m, { ...q, stopOnRepetition: true })).baseline!;
  assert.equal(full.stopReason, 'max-tokens', full.text);
  assert.equal(cut.stopReason, 'repetition', cut.text);
  assert.ok(hasWordLoop(cut.text) && cut.tokens.length < full.tokens.length);
  // It stops at the first token that completes the loop: one token earlier there was none.
  assert.deepEqual(cut.tokens, full.tokens.slice(0, cut.tokens.length));
  assert.ok(!hasWordLoop(m.tokenizer.decode(cut.tokens.slice(0, -1))));
});
