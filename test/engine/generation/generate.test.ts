/**
 * The generation loop on the tiny model: determinism, seeded sampling, budgets, stop strings,
 * streaming, cancellation (the model stays usable) and bad input.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { generate, msPerToken } from '../../../src/engine/generation/generate';
import type { LoadedModel } from '../../../src/engine/model/loadModel';
import type { OnnxBackend } from '../../../src/engine/model/onnxBackend';
import { PrefillCache } from '../../../src/engine/generation/prefillCache';
import { KvsteerError } from '../../../src/engine/util/errors';
import { penalizeRepeats } from '../../../src/engine/generation/repeatPenalty';
import { hasWordLoop } from '../../../src/engine/generation/repetition';
import { loadTinyModel } from '../../support/models';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());
const sample = (seed: number) => ({ kind: 'sample' as const, temperature: 1, topP: 0.95, topK: 50, seed });

/**
 * The tiny model made to answer exactly `script` (then its EOS): each forward pass runs as usual,
 * and its logits are replaced by ones whose largest entry is the next scripted id.
 */
function scripted(m: LoadedModel, script: number[]): LoadedModel {
  let n = 0;
  const backend: OnnxBackend = Object.create(m.backend);
  backend.forward = async (req) => {
    const r = await m.backend.forward(req);
    r.logits.fill(0);
    r.logits[n < script.length ? script[n++] : m.config.eosTokenIds[0]] = 10;
    return r;
  };
  return { ...m, backend };
}

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

test('streamed text never runs ahead of a stop string: the deltas add up to the cut answer', async () => {
  const m = await modelP;
  const ids = await prompt();
  const ends: number[] = [];
  const free = await generate(m, { promptIds: ids, maxNewTokens: 30, decoding: sample(5), onToken: (e) => ends.push((ends.at(-1) ?? 0) + e.textDelta.length) });
  assert.ok(free.text.length > 12, 'need some text to find stop strings in');
  let spanning = 0;
  for (let k = 0; k + 3 <= free.text.length; k += Math.max(1, Math.floor(free.text.length / 12))) {
    const stop = free.text.slice(k, k + 3);
    // A stop string that begins in one token and ends in a later one: its start was streamable.
    if (ends.some((e) => e > free.text.indexOf(stop) && e < free.text.indexOf(stop) + stop.length)) spanning++;
    const deltas: string[] = [];
    const r = await generate(m, { promptIds: ids, maxNewTokens: 30, decoding: sample(5), stopStrings: [stop], onToken: (e) => deltas.push(e.textDelta) });
    assert.equal(r.text, free.text.slice(0, free.text.indexOf(stop)), JSON.stringify(stop));
    assert.equal(deltas.join(''), r.text, `streamed past the stop string ${JSON.stringify(stop)}`);
  }
  assert.ok(spanning > 0, 'no stop string spanned two tokens, so the hold-back went untested');
  // A stop string whose start ends the answer but never completes: the held-back text comes at the end.
  const deltas: string[] = [];
  const r = await generate(m, { promptIds: ids, maxNewTokens: 30, decoding: sample(5), stopStrings: [free.text.slice(-2) + '\u0001'], onToken: (e) => deltas.push(e.textDelta) });
  assert.equal(r.text, free.text);
  assert.equal(deltas.join(''), free.text);
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

test('a kept prefill stands in for running it again, token for token, only for the same tokens of the same model', async () => {
  const m = await modelP;
  const ids = await prompt();
  const decoding = sample(4);
  const kept = new PrefillCache();
  const first = await generate(m, { promptIds: ids, maxNewTokens: 16, decoding, prefillCache: kept });
  assert.equal(first.timings.prefillReused, false);
  assert.ok(kept.byteLength > 0);
  // The kept copy outlived the first request's decoding, which grew its own cache in place.
  const again = await generate(m, { promptIds: ids, maxNewTokens: 16, decoding, prefillCache: kept });
  assert.equal(again.timings.prefillReused, true);
  assert.deepEqual(again.tokenIds, first.tokenIds);
  // Holding the last token back (as steering does) prefills the tokens before it.
  const longer = [...ids, ids[ids.length - 1]];
  const heldBack = await generate(m, { promptIds: longer, holdBack: 1, maxNewTokens: 16, decoding, prefillCache: kept });
  const heldBackFresh = await generate(m, { promptIds: longer, holdBack: 1, maxNewTokens: 16, decoding });
  assert.equal(heldBack.timings.prefillReused, true);
  assert.deepEqual(heldBack.tokenIds, heldBackFresh.tokenIds);
  // A prefix is not the same tokens; it replaces the kept prefill.
  assert.equal((await generate(m, { promptIds: ids.slice(0, -1), maxNewTokens: 4, prefillCache: kept })).timings.prefillReused, false);
  assert.equal((await generate(m, { promptIds: ids, maxNewTokens: 4, prefillCache: kept })).timings.prefillReused, false);
  // Another model (here another instance of the same file) never gets it.
  const other = await loadTinyModel();
  try {
    const r = await generate(other, { promptIds: ids, maxNewTokens: 16, decoding, prefillCache: kept });
    assert.equal(r.timings.prefillReused, false);
    assert.deepEqual(r.tokenIds, first.tokenIds);
  } finally {
    await other.dispose();
  }
  // Past its size limit nothing is kept.
  const small = new PrefillCache(1024);
  await generate(m, { promptIds: ids, maxNewTokens: 2, prefillCache: small });
  assert.equal(small.byteLength, 0);
  assert.equal((await generate(m, { promptIds: ids, maxNewTokens: 2, prefillCache: small })).timings.prefillReused, false);
});

test('an empty prompt, a bad budget and an over-long prompt are refused clearly', async () => {
  const m = await modelP;
  const is = (code: string) => (e: unknown) => e instanceof KvsteerError && e.code === code;
  await assert.rejects(generate(m, { promptIds: [], maxNewTokens: 5 }), is('INVALID_ARGUMENT'));
  await assert.rejects(generate(m, { promptIds: [5], maxNewTokens: 0 }), is('INVALID_ARGUMENT'));
  const long = new Array(m.config.maxPositions + 3).fill(40);
  await assert.rejects(generate(m, { promptIds: long, maxNewTokens: 5 }), (e: unknown) => is('PROMPT_TOO_LONG')(e) && /context window is 512/.test((e as Error).message));
});

test('an answer that reaches the end of the context window stops there, with the window full', async () => {
  const m = await modelP;
  const ids = Array.from({ length: m.config.maxPositions - 5 }, (_, i) => 40 + (i % 50));
  const r = await generate(m, { promptIds: ids, maxNewTokens: 100 });
  assert.equal(r.stopReason, 'context-full');
  assert.equal(ids.length + r.tokenIds.length, m.config.maxPositions);
  // The same answer as with a budget of exactly what fits: the stop cuts nothing short.
  const fits = await generate(m, { promptIds: ids, maxNewTokens: 5 });
  assert.deepEqual(fits.tokenIds, r.tokenIds);
  assert.equal(fits.stopReason, 'max-tokens');
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

test('a character split across tokens (é, an emoji, CJK) streams whole, once, and the deltas add up to the answer', async () => {
  const m = await modelP;
  const answer = 'hé 😀 你好!';
  const script = m.tokenizer.encode(answer);
  assert.ok(script.some((id) => m.tokenizer.decode([id]).includes('\uFFFD')), 'the vocabulary spelled every character whole: nothing to hold back');
  const deltas: string[] = [];
  const r = await generate(scripted(m, script), { promptIds: await prompt(), maxNewTokens: 50, onToken: (e) => deltas.push(e.textDelta) });
  assert.equal(r.stopReason, 'eos');
  assert.equal(r.text, answer);
  assert.deepEqual(deltas.filter((d) => d.includes('\uFFFD')), []);
  assert.equal(deltas.join(''), answer);
  // A character whose bytes never complete ends the answer as a replacement character, streamed last.
  const cut = script.slice(0, script.findIndex((id) => m.tokenizer.decode([id]).includes('\uFFFD')) + 1);
  const tail: string[] = [];
  const t = await generate(scripted(m, cut), { promptIds: await prompt(), maxNewTokens: 50, onToken: (e) => tail.push(e.textDelta) });
  assert.equal(t.text, m.tokenizer.decode(cut));
  assert.ok(t.text.endsWith('\uFFFD'));
  assert.equal(tail.join(''), t.text);
});

test('EOS ends the answer without joining it, also as the first token (no decoding step, NaN ms/token); ignoreEos decodes past it', async () => {
  const m = await modelP;
  const eos = m.config.eosTokenIds[0];
  const [a, b, c] = m.tokenizer.encode('abc');
  const r = await generate(scripted(m, [a, b, eos, c]), { promptIds: await prompt(), maxNewTokens: 10 });
  assert.deepEqual(r.tokenIds, [a, b]);
  assert.equal(r.stopReason, 'eos');
  assert.equal(r.timings.decodeMs.length, 2, 'the step that picked EOS is a decoding step');
  let events = 0;
  const first = await generate(scripted(m, [eos]), { promptIds: await prompt(), maxNewTokens: 10, onToken: () => events++ });
  assert.deepEqual([first.tokenIds, first.text, first.stopReason, events], [[], '', 'eos', 0]);
  assert.ok(Number.isNaN(msPerToken(first.timings)));
  const past = await generate(scripted(m, [a, eos, b]), { promptIds: await prompt(), maxNewTokens: 3, ignoreEos: true });
  assert.equal(past.stopReason, 'max-tokens');
  assert.equal(past.tokenIds.length, 3);
  assert.ok(past.tokenIds.every((id) => !m.config.eosTokenIds.includes(id)), String(past.tokenIds));
  assert.equal(past.tokenIds[2], b);
});

test('of several stop strings completed by the same token, the one earliest in the text cuts it, whatever their order', async () => {
  const m = await modelP;
  const script = m.tokenizer.encode('a the end');
  assert.ok(script.some((id) => m.tokenizer.decode([id]) === ' the'), '" the" is one token of the tiny vocabulary');
  for (const stopStrings of [[' the', 'he'], ['he', ' the']]) {
    const r = await generate(scripted(m, script), { promptIds: await prompt(), maxNewTokens: 20, stopStrings });
    assert.equal(r.stopReason, 'stop-string');
    assert.equal(r.text, 'a', JSON.stringify(stopStrings));
  }
});

test('a kept prefill is a copy both ways: what one request does to its logits (a repeat penalty, ignoreEos) never reaches the next', async () => {
  const m = await modelP;
  const ids = await prompt();
  const fresh = await generate(m, { promptIds: ids, maxNewTokens: 8 });
  const kept = new PrefillCache();
  const changed = { repeatPenalty: { penalty: 2, lastN: 64 }, ignoreEos: true };
  // The first request keeps its prefill, the second reuses it; each edits the logits it got.
  for (let i = 0; i < 2; i++) await generate(m, { promptIds: ids, maxNewTokens: 8, prefillCache: kept, ...changed });
  const again = await generate(m, { promptIds: ids, maxNewTokens: 8, prefillCache: kept });
  assert.equal(again.timings.prefillReused, true);
  assert.deepEqual(again.tokenIds, fresh.tokenIds);
  const { logits } = await m.backend.forward({ tokens: ids, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const pre = kept.lookup(m.backend, ids);
  assert.ok(pre);
  assert.deepEqual([...pre.logits], [...logits], 'the kept logits are not those of the prefill');
  pre.logits.fill(0);
  assert.deepEqual([...kept.lookup(m.backend, ids)!.logits], [...logits]);
});

test('the repetition stop ends an answer at the token that completes the fifth run of four words, not before', async () => {
  const m = await modelP;
  const script = m.tokenizer.encode('the cat sat on '.repeat(8));
  const r = await generate(scripted(m, script), { promptIds: await prompt(), maxNewTokens: script.length, stopOnRepetition: true });
  assert.equal(r.stopReason, 'repetition');
  assert.ok(hasWordLoop(r.text) && !hasWordLoop(m.tokenizer.decode(r.tokenIds.slice(0, -1))), JSON.stringify(r.text));
  const off = await generate(scripted(m, script), { promptIds: await prompt(), maxNewTokens: script.length });
  assert.equal(off.stopReason, 'max-tokens');
});

test('the repetition stop lets a Markdown table and nested code run on: rules, pipes and braces are not words', async () => {
  const m = await modelP;
  const table = '| a | b | c | d | e | f |\n| --- | --- | --- | --- | --- | --- |\n| 1 | 2 | 3 | 4 | 5 | 6 |\n';
  // Three functions, each closing five blocks: "} } } }" comes six times.
  const code = ['f', 'g', 'h'].map((n) => `function ${n}() {\n  if (a) {\n    for (;;) {\n      while (b) {\n        if (c) {\n          ${n}();\n        }\n      }\n    }\n  }\n}\n`).join('');
  for (const text of [table, code]) {
    const script = m.tokenizer.encode(text);
    const r = await generate(scripted(m, script), { promptIds: await prompt(), maxNewTokens: script.length, stopOnRepetition: true });
    assert.equal(r.stopReason, 'max-tokens', JSON.stringify(r.text));
    assert.equal(r.text, text);
  }
});

test("the repeat penalty's window takes in the prompt, not only the answer", async () => {
  const m = await modelP;
  const ids = await prompt();
  const [inPrompt, other] = [ids[ids.length - 1], m.tokenizer.encode('z')[0]];
  assert.ok(!ids.includes(other));
  // Logits that favour a prompt token over another by less than the penalty takes off.
  const backend: OnnxBackend = Object.create(m.backend);
  backend.forward = async (req) => {
    const r = await m.backend.forward(req);
    r.logits.fill(0);
    r.logits[inPrompt] = 10;
    r.logits[other] = 9;
    return r;
  };
  const r = await generate({ ...m, backend }, { promptIds: ids, maxNewTokens: 1, repeatPenalty: { penalty: 1.5, lastN: 64 } });
  assert.deepEqual(r.tokenIds, [other]);
});
