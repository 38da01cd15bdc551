/** ask() on the tiny model: what a comparison returns when it is cancelled. */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { ask, AskSideResult } from '../../src/engine/ask';
import { PrefillCache } from '../../src/engine/generation/prefillCache';
import { loadTinyModel } from '../support/models';
import { fakeVector } from '../support/fakeVector';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());

test('a comparison cancelled after its baseline finished returns the baseline, not a cancellation error', async () => {
  const m = await modelP;
  const ac = new AbortController();
  let done: AskSideResult | undefined;
  const r = await ask(m, {
    question: 'tell me a story',
    mode: 'compare',
    vector: fakeVector(m),
    maxNewTokens: 6,
    signal: ac.signal,
    onSideDone: (side, res) => {
      if (side === 'baseline') {
        done = res;
        ac.abort();
      }
    },
  });
  assert.ok(done);
  assert.deepEqual(r.baseline, done);
  assert.equal(r.steered, undefined);
});

test("a comparison cancelled as its steered side starts (before that side's first token) returns the baseline", async () => {
  const m = await modelP;
  const ac = new AbortController();
  const r = await ask(m, {
    question: 'tell me a story',
    mode: 'compare',
    vector: fakeVector(m),
    maxNewTokens: 6,
    signal: ac.signal,
    // Too small to keep the baseline's prefill: the steered side runs its own, and sees the abort there.
    prefillCache: new PrefillCache(1),
    onSideStart: (side) => side === 'steered' && ac.abort(),
  });
  assert.equal(r.baseline?.tokens.length, 6);
  assert.equal(r.steered, undefined);
});
