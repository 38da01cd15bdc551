/**
 * The generation loop on the tiny model: determinism, seeded sampling, budgets, stop strings,
 * streaming, cancellation (the model stays usable) and bad input.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { Prefill, generate } from '../../../src/engine/generation/generate';
import { KvsteerError } from '../../../src/engine/util/errors';
import { penalizeRepeats } from '../../../src/engine/generation/repeatPenalty';
import { loadTinyModel } from '../../support/models';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());
const sample = (seed: number) => ({ kind: 'sample' as const, temperature: 1, topP: 0.95, topK: 50, seed });

async function prompt() {
  const m = await modelP;
  return m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: 'tell me a story' }]));
}

test('greedy decoding is deterministic and honours the token budget', async () => {
  const m = await modelP;
  const ids = await prompt();
  const a = await generate(m, { promptIds: ids, maxNewTokens: 12 });
  const b = await generate(m, { promptIds: ids, maxNewTokens: 12 });
  assert.deepEqual(a.tokenIds, b.tokenIds);
  assert.ok(a.tokenIds.length <= 12);
  if (a.stopReason === 'max-tokens') assert.equal(a.tokenIds.length, 12);
});

test('a seed reproduces the same sample and different seeds can differ', async () => {
  const m = await modelP;
  const ids = await prompt();
  const a = await generate(m, { promptIds: ids, maxNewTokens: 16, decoding: sample(7) });
  const b = await generate(m, { promptIds: ids, maxNewTokens: 16, decoding: sample(7) });
  assert.deepEqual(a.tokenIds, b.tokenIds);
  assert.equal(a.text, b.text);
  const others = await Promise.all([8, 9, 10].map((s) => generate(m, { promptIds: ids, maxNewTokens: 16, decoding: sample(s) })));
  assert.ok(others.some((o) => o.tokenIds.join() !== a.tokenIds.join()), 'four seeds all gave the same sample');
});

test('streamed deltas add up to the final text, one event per token', async () => {
  const m = await modelP;
  const events: string[] = [];
  const r = await generate(m, { promptIds: await prompt(), maxNewTokens: 20, decoding: sample(3), onToken: (e) => events.push(e.textDelta) });
  assert.equal(events.length, r.tokenIds.length);
  assert.equal(events.join(''), r.text);
  assert.equal(r.timings.decodeMs.length, r.tokenIds.length - (r.stopReason === 'eos' ? 0 : 1));
});

test('a stop string ends generation and is cut from the text', async () => {
  const m = await modelP;
  const free = await generate(m, { promptIds: await prompt(), maxNewTokens: 30, decoding: sample(5) });
  assert.ok(free.text.length > 4, 'need some text to find a stop string in');
  const stop = free.text.slice(2, 4);
  const r = await generate(m, { promptIds: await prompt(), maxNewTokens: 30, decoding: sample(5), stopStrings: [stop] });
  assert.equal(r.stopReason, 'stop-string');
  assert.equal(r.text, free.text.slice(0, free.text.indexOf(stop)));
});

test('cancelling mid-generation returns the partial answer and the model stays usable', async () => {
  const m = await modelP;
  const ids = await prompt();
  const ac = new AbortController();
  const r = await generate(m, { promptIds: ids, maxNewTokens: 200, decoding: sample(1), signal: ac.signal, onToken: (e) => e.index === 3 && ac.abort() });
  assert.equal(r.stopReason, 'cancelled');
  assert.equal(r.tokenIds.length, 4);
  const again = await generate(m, { promptIds: ids, maxNewTokens: 5 });
  assert.ok(again.tokenIds.length > 0);
});

test('a signal aborted before the start throws a cancellation error', async () => {
  const m = await modelP;
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(generate(m, { promptIds: await prompt(), maxNewTokens: 5, signal: ac.signal }), (e: unknown) => e instanceof KvsteerError && e.code === 'CANCELLED');
});

test('a prefill handed on by onPrefill stands in for running it again, token for token, and only for the same tokens', async () => {
  const m = await modelP;
  const ids = await prompt();
  const decoding = sample(4);
  const prefills: Prefill[] = [];
  const first = await generate(m, { promptIds: ids, maxNewTokens: 16, decoding, onPrefill: (p) => prefills.push(p) });
  assert.equal(prefills.length, 1);
  assert.deepEqual(prefills[0].ids, ids);
  assert.equal(first.timings.prefillReused, false);
  // The copy outlived the first request's decoding, which grew its own cache in place.
  const again = await generate(m, { promptIds: ids, maxNewTokens: 16, decoding, reusePrefill: prefills[0] });
  assert.equal(again.timings.prefillReused, true);
  assert.deepEqual(again.tokenIds, first.tokenIds);
  // A request that holds the last token back prefills the tokens before it: a prefill of those serves it.
  const prefix: Prefill[] = [];
  await generate(m, { promptIds: ids.slice(0, -1), maxNewTokens: 1, onPrefill: (p) => prefix.push(p) });
  const heldBack = await generate(m, { promptIds: ids, holdBack: 1, maxNewTokens: 16, decoding, reusePrefill: prefix[0] });
  const heldBackOwn = await generate(m, { promptIds: ids, holdBack: 1, maxNewTokens: 16, decoding });
  assert.deepEqual(heldBack.tokenIds, heldBackOwn.tokenIds);
  const other: Prefill[] = [];
  await generate(m, { promptIds: ids, maxNewTokens: 1, onPrefill: (p) => other.push(p) });
  await assert.rejects(
    generate(m, { promptIds: ids, holdBack: 1, maxNewTokens: 4, reusePrefill: other[0] }),
    (e: unknown) => e instanceof KvsteerError && e.code === 'INVALID_ARGUMENT' && /prefill to reuse covers other tokens/.test(e.message),
  );
});

test('an empty prompt, a bad budget and an over-long prompt are refused clearly', async () => {
  const m = await modelP;
  const is = (code: string) => (e: unknown) => e instanceof KvsteerError && e.code === code;
  await assert.rejects(generate(m, { promptIds: [], maxNewTokens: 5 }), is('INVALID_ARGUMENT'));
  await assert.rejects(generate(m, { promptIds: [5], maxNewTokens: 0 }), is('INVALID_ARGUMENT'));
  const long = new Array(m.config.maxPositions + 3).fill(40);
  await assert.rejects(generate(m, { promptIds: long, maxNewTokens: 5 }), (e: unknown) => is('PROMPT_TOO_LONG')(e) && /context window is 512/.test((e as Error).message));
});

test('a repeat penalty of 1 changes nothing, and a bad penalty or window is refused before anything runs', async () => {
  const m = await modelP;
  const ids = await prompt();
  const plain = await generate(m, { promptIds: ids, maxNewTokens: 24 });
  const one = await generate(m, { promptIds: ids, maxNewTokens: 24, repeatPenalty: { penalty: 1, lastN: 64 } });
  assert.deepEqual(one.tokenIds, plain.tokenIds);
  for (const repeatPenalty of [{ penalty: NaN, lastN: 64 }, { penalty: 0.9, lastN: 64 }, { penalty: 2.5, lastN: 64 }, { penalty: 1.1, lastN: 0 }, { penalty: 1.1, lastN: 1.5 }]) {
    let streamed = 0;
    await assert.rejects(
      generate(m, { promptIds: ids, maxNewTokens: 4, repeatPenalty, onToken: () => streamed++ }),
      (e: unknown) => e instanceof KvsteerError && e.code === 'INVALID_ARGUMENT' && /repeat/.test(e.message),
      JSON.stringify(repeatPenalty),
    );
    assert.equal(streamed, 0);
  }
});

test('a repeat penalty keeps tokens of its window from coming back as often', async () => {
  const m = await modelP;
  const ids = await prompt();
  // Count how often a generated token is one of the 8 tokens before it.
  const repeats = (t: number[]) => t.filter((id, i) => [...ids, ...t].slice(ids.length + i - 8, ids.length + i).includes(id)).length;
  const plain = await generate(m, { promptIds: ids, maxNewTokens: 48, ignoreEos: true });
  const penalised = await generate(m, { promptIds: ids, maxNewTokens: 48, ignoreEos: true, repeatPenalty: { penalty: 2, lastN: 8 } });
  assert.notDeepEqual(penalised.tokenIds, plain.tokenIds);
  assert.ok(repeats(penalised.tokenIds) < repeats(plain.tokenIds), `repeats: penalised ${repeats(penalised.tokenIds)}, plain ${repeats(plain.tokenIds)}`);
});

test("the repeat penalty divides positive logits and multiplies negative ones, once per token of its window, as llama.cpp's", () => {
  const logits = () => Float32Array.from([2, -2, 1, 0.5, 3]);
  const all = logits();
  penalizeRepeats(all, [0, 1, 1, 3, 1], { penalty: 2, lastN: 64 });
  assert.deepEqual([...all], [1, -4, 1, 0.25, 3]);
  const window = logits();
  penalizeRepeats(window, [0, 4, 1, 3], { penalty: 2, lastN: 2 });
  assert.deepEqual([...window], [2, -4, 1, 0.25, 3]);
});
