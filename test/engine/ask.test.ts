/**
 * ask() on the tiny model: what a comparison returns when it is cancelled, a comparison whose
 * steered side cannot run, and a chat fitted to the context window.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { ask, AskRequest, AskSideResult } from '../../src/engine/ask';
import { PrefillCache } from '../../src/engine/generation/prefillCache';
import { loadTinyModel } from '../support/models';
import { fakeVector } from '../support/fakeVector';
import { fitToContext } from '../../src/engine/chatHistory';
import type { ChatMessage } from '../../src/engine/model/chatTokenizer';

const modelP = loadTinyModel();
after(async () => (await modelP).dispose());

/** A six-token comparison on the tiny model that `ac` cancels. */
const cancellableComparison = (m: Awaited<typeof modelP>, ac: AbortController) => ({ question: 'tell me a story', mode: 'compare' as const, vector: fakeVector(m), maxNewTokens: 6, signal: ac.signal });

test('a comparison cancelled after its baseline finished returns the baseline, not a cancellation error', async () => {
  const m = await modelP;
  const ac = new AbortController();
  let done: AskSideResult | undefined;
  const r = await ask(m, {
    ...cancellableComparison(m, ac),
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
    ...cancellableComparison(m, ac),
    // Too small to keep the baseline's prefill: the steered side runs its own, and sees the abort there.
    prefillCache: new PrefillCache(1),
    onSideStart: (side) => side === 'steered' && ac.abort(),
  });
  assert.equal(r.baseline?.tokens.length, 6);
  assert.equal(r.steered, undefined);
});

test("a comparison whose steered side cannot run is refused before the baseline runs, not after it has answered", async () => {
  const m = await modelP;
  const v = fakeVector(m);
  const req = { question: 'tell me a story', mode: 'compare' as const, vector: v, maxNewTokens: 6 };
  const other = { ...v, meta: { ...v.meta, model: { ...v.meta.model, fingerprint: { ...v.meta.model.fingerprint, numLayers: 3 } } } };
  const cases: [string, Partial<AskRequest>, string][] = [
    ['an offset token of two tokens', { offsetToken: 'ab' }, 'INVALID_ARGUMENT'],
    ['a layer the model lacks', { strength: { cK: 0, cV: 1, layers: [7] } }, 'INVALID_ARGUMENT'],
    ['a strength that is not a number', { strength: { cK: 0, cV: NaN } }, 'INVALID_ARGUMENT'],
    ['a vector for another model', { vector: other }, 'VECTOR_MISMATCH'],
    ['no vector', { vector: undefined }, 'INVALID_ARGUMENT'],
  ];
  for (const [what, bad, code] of cases) {
    const started: string[] = [];
    await assert.rejects(
      ask(m, { ...req, ...bad, onSideStart: (side) => void started.push(side) }),
      (e: Error & { code?: string }) => e.code === code,
      what,
    );
    assert.deepEqual(started, [], `${what}: the baseline ran first`);
  }
});

test("a comparison whose prompt leaves the baseline room but not the steered side's offset token is refused before the baseline runs", async () => {
  const m = await modelP;
  const P = m.config.maxPositions;
  const promptTokens = (q: string) => m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: q }], true)).length;
  // A question whose prompt is exactly one token short of the window: room for one baseline token.
  let question = 'sea';
  while (promptTokens(question + ' sea') < P) question += ' sea';
  while (promptTokens(question) < P - 1) question += 'a';
  assert.equal(promptTokens(question), P - 1, 'the test prompt is one token short of the window');
  const baseline = await ask(m, { question, mode: 'baseline', maxNewTokens: 4 });
  assert.equal(baseline.baseline?.stopReason, 'context-full');
  const started: string[] = [];
  await assert.rejects(
    ask(m, { question, mode: 'compare', vector: fakeVector(m), maxNewTokens: 4, onSideStart: (side) => void started.push(side) }),
    (e: Error & { code?: string }) => e.code === 'PROMPT_TOO_LONG' && new RegExp(`${P} tokens.*context window is ${P}`).test(e.message),
  );
  assert.deepEqual(started, [], 'the baseline ran first');
});

/** A conversation of `exchanges` long earlier exchanges and a question, after a system message. */
function longChat(exchanges: number): ChatMessage[] {
  const earlier = Array.from({ length: exchanges }, (_, i): ChatMessage[] => [
    { role: 'user', content: `question ${i}: ${'tell me more about the sea '.repeat(4)}` },
    { role: 'assistant', content: `answer ${i}: ${'the sea is deep and wide '.repeat(6)}` },
  ]).flat();
  return [{ role: 'system', content: 'Be brief.' }, ...earlier, { role: 'user', content: 'and the sky?' }];
}

test("a chat's earliest exchanges are left out, whole, until the answer has room in the context window; the system message and the question stay", async () => {
  const m = await modelP;
  const chat = longChat(6);
  const promptTokens = (ms: ChatMessage[]) => m.tokenizer.encode(m.tokenizer.applyChatTemplate(ms, true)).length;
  assert.ok(promptTokens(chat) > m.config.maxPositions, `the test chat overflows the ${m.config.maxPositions}-token window (${promptTokens(chat)} tokens)`);
  const { messages, leftOut } = fitToContext(m, chat, 64);
  assert.ok(leftOut > 0 && leftOut % 2 === 0, `left out ${leftOut}`);
  assert.deepEqual(messages, [chat[0], ...chat.slice(1 + leftOut)]);
  assert.ok(promptTokens(messages) + 1 + 64 <= m.config.maxPositions, 'room for the answer and the offset token');
  // One exchange fewer left out would not have left that room.
  assert.ok(promptTokens([chat[0], ...chat.slice(leftOut - 1)]) + 1 + 64 > m.config.maxPositions);
  assert.deepEqual(fitToContext(m, longChat(1), 64), { messages: longChat(1), leftOut: 0 });
});

test('a chat past the context window answers with fitHistory, saying how many messages it left out, and fails without it', async () => {
  const m = await modelP;
  const req = { messages: longChat(6), mode: 'compare' as const, vector: fakeVector(m), maxNewTokens: 8 };
  await assert.rejects(ask(m, req), (e: Error & { code?: string }) => e.code === 'PROMPT_TOO_LONG');
  const r = await ask(m, { ...req, fitHistory: true });
  assert.equal(r.historyLeftOut, fitToContext(m, req.messages, 8).leftOut);
  assert.equal(r.baseline?.tokens.length, 8);
  assert.equal(r.steered?.tokens.length, 8);
  assert.equal((await ask(m, { ...req, messages: longChat(1), fitHistory: true })).historyLeftOut, undefined);
});
