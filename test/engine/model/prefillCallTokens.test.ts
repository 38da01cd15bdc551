/**
 * How long prompts are cut into ONNX Runtime calls: shorter calls as the cache grows, so that no
 * call keeps the extension host waiting much longer than another, and always the same cuts.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MIN_PREFILL_CALL_TOKENS, PREFILL_CALL_WORK, prefillCallTokens, prefillCalls } from '../../../src/engine/model/prefillCallTokens';
import { PREFILL_CHUNK } from '../../../src/engine/model/onnxBackend';

const smolLm2 = { numLayers: 30, hiddenSize: 576 };
const work = (past: number, tokens: number) => tokens * 8 * smolLm2.numLayers * smolLm2.hiddenSize * (3 * smolLm2.hiddenSize + past);

/** The sizes of the calls a prompt of `n` tokens goes in. */
const cuts = (n: number) => Array.from(prefillCalls(n, 0, smolLm2, PREFILL_CHUNK), ([start, end]) => end - start);

test("calls get shorter as the cache grows, over the whole of SmolLM2's context", () => {
  const sizes = cuts(8192);
  assert.equal(sizes[0], 217);
  for (let i = 1; i < sizes.length - 1; i++) assert.ok(sizes[i] <= sizes[i - 1], `call ${i}: ${sizes[i]} tokens after ${sizes[i - 1]}`);
  assert.ok(sizes.at(-2)! >= 36 && sizes.at(-2)! <= 40, `calls near the end of the context: ${sizes.at(-2)} tokens`);
  assert.equal(
    sizes.reduce((a, b) => a + b),
    8192,
  );
});

test('no call does more than one call of work, unless it is already at the fewest tokens a call takes', () => {
  let past = 0;
  for (const size of cuts(8192)) {
    assert.ok(work(past, size) <= PREFILL_CALL_WORK || size === MIN_PREFILL_CALL_TOKENS, `${size} tokens at ${past}: ${work(past, size)}`);
    past += size;
  }
  // A much larger model at the end of a long context: still the fewest, not fewer.
  assert.equal(prefillCallTokens(30_000, { numLayers: 80, hiddenSize: 8192 }, PREFILL_CHUNK), MIN_PREFILL_CALL_TOKENS);
});

test('a small model, or a smaller cap, takes calls of the cap', () => {
  assert.equal(prefillCallTokens(0, { numLayers: 2, hiddenSize: 64 }, PREFILL_CHUNK), PREFILL_CHUNK);
  assert.equal(prefillCallTokens(5000, { numLayers: 2, hiddenSize: 64 }, 5), 5);
  // A cap below the fewest tokens a call takes (the tests' tiny chunks) wins.
  assert.equal(prefillCallTokens(8000, smolLm2, 4), 4);
});

test('the same prompt is always cut in the same places', () => {
  assert.deepEqual(cuts(3157), cuts(3157));
  // A prompt is cut where a longer one with the same start is: the first calls do not depend on its length.
  assert.deepEqual(cuts(5000).slice(0, cuts(3157).length - 1), cuts(3157).slice(0, -1));
});
