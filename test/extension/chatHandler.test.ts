/**
 * The @kvsteer chat handler on the real SmolLM2-135M-Instruct model with the shipped vector:
 * the steered answer by default, /compare (baseline then steered), /baseline, cancellation, and
 * errors shown in the response instead of thrown, follow-ups that see the earlier turns, and
 * attached text (#selection, #file) that reaches the model. The
 * participant itself (participant.ts) only adapts VS Code's request, history and stream to this function.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SETTINGS, KvsteerSettings } from '../../src/config/settingsSchema';
import { SteeringService } from '../../src/service/steeringService';
import { chatFollowups, handleChatRequest, markdownText, openFenceCloser, ChatSink } from '../../src/chat/chatHandler';
import type { AskSideResult } from '../../src/engine/ask';
import { historyMessages, HISTORY_EXCHANGES, type ChatTurn } from '../../src/engine/chatHistory';
import { cliCacheDir } from '../../src/cli/defaultModel';
import { repoRoot } from '../support/paths';
import { loadTinyModel, realGguf, realModelSkip } from '../support/models';
import { fakeVector } from '../support/fakeVector';
import { saveVector } from '../../src/engine/steering/vectorFile';

const service = new SteeringService({ cacheDir: cliCacheDir(), vectorDirs: [path.join(repoRoot, 'vectors')], log: () => {} });
after(() => service.dispose());
const settings: KvsteerSettings = { ...DEFAULT_SETTINGS, model: realGguf, maxNewTokens: 40, threads: 2 };

function sink() {
  const s = { text: '', progressMessages: [] as string[] };
  const api: ChatSink = { markdown: (t) => void (s.text += t), progress: (m) => void s.progressMessages.push(m) };
  return { s, api };
}

test('@kvsteer without a command streams the steered answer with its statistics', { skip: realModelSkip }, async () => {
  const { s, api } = sink();
  const out = await handleChatRequest({ prompt: 'Why do ice cubes float on water?' }, api, service, settings, new AbortController().signal);
  assert.equal(out.mode, 'steered');
  assert.equal(out.error, undefined);
  assert.ok(out.result?.steered && !out.result.baseline);
  assert.ok(out.result.steered.text.length > 0);
  assert.ok(s.text.startsWith(out.result.steered.text.slice(0, 20)), 'the answer is streamed into the response');
  assert.match(s.text, /\d+ tokens · [\d.]+ ms\/token .* vector `smollm2-135m-reasoning`, c_v [\d.]+, c_k 0/);
  assert.ok(s.progressMessages.some((m) => /steered answer/.test(m)));
  assert.doesNotMatch(s.text, /Note:/, 'the shipped vector was extracted on the default model');
});

test('@kvsteer /compare gives the baseline, then the steered answer', { skip: realModelSkip }, async () => {
  const { s, api } = sink();
  const out = await handleChatRequest({ prompt: 'What is 12 times 12?', command: 'compare' }, api, service, settings, new AbortController().signal);
  assert.equal(out.mode, 'compare');
  assert.ok(out.result?.baseline && out.result.steered);
  const b = s.text.indexOf('**Baseline**'), st = s.text.indexOf('**Steered**');
  assert.ok(b === 0 && st > b, s.text);
  assert.ok(s.text.slice(b, st).includes(out.result.baseline.text.slice(0, 15)));
});

test('@kvsteer /baseline answers with the plain model', { skip: realModelSkip }, async () => {
  const { s, api } = sink();
  const out = await handleChatRequest({ prompt: 'What is the capital of France?', command: 'baseline' }, api, service, settings, new AbortController().signal);
  assert.equal(out.mode, 'baseline');
  assert.ok(out.result?.baseline && !out.result.steered);
  assert.match(s.text, /Paris/);
});

test('cancelling a chat request mid-answer stops it, says so, and the next request works', { skip: realModelSkip }, async () => {
  const ac = new AbortController();
  const { s, api } = sink();
  let chars = 0;
  // Cancelled once the answer itself has streamed a little (the "**Baseline**" header does not count).
  const wrapped: ChatSink = { progress: api.progress, markdown: (t) => { api.markdown(t); if (!t.startsWith('**')) chars += t.length; if (chars > 10) ac.abort(); } };
  const out = await handleChatRequest({ prompt: 'Tell me a long story about a dragon.', command: 'compare' }, wrapped, service, { ...settings, maxNewTokens: 200 }, ac.signal);
  assert.equal(out.cancelled, true);
  assert.match(s.text, /Cancelled\./);
  const baseline = out.result?.baseline;
  assert.equal(baseline?.stopReason, 'cancelled', 'the generation itself stopped');
  assert.ok(baseline.text.length > 10 && baseline.tokens.length < 200, `${baseline.tokens.length} tokens`);
  assert.ok(!out.result?.steered, 'the steered side did not run after cancellation');
  const next = await handleChatRequest({ prompt: 'Say hi.', command: 'baseline' }, sink().api, service, settings, new AbortController().signal);
  assert.ok(next.result?.baseline?.text);
});

test('the follow-up button asks the same question in the other mode, afresh', { skip: realModelSkip }, async () => {
  const question = 'Why do we have seasons?';
  const steered = await handleChatRequest({ prompt: question }, sink().api, service, settings, new AbortController().signal);
  const [follow] = chatFollowups(steered);
  assert.deepEqual(follow, { prompt: question, label: 'Compare with the baseline', command: 'compare' });
  // VS Code sends the button's prompt and command, with the earlier exchange as history.
  const history = historyMessages([{ kind: 'request', prompt: question }, { kind: 'response', answer: steered.answer }]);
  const compared = await handleChatRequest({ prompt: follow.prompt, command: follow.command, history }, sink().api, service, settings, new AbortController().signal);
  assert.equal(compared.mode, 'compare');
  // The same question asked afresh: both sides answer as with no history. With the earlier exchange
  // before it, the baseline would see the steered answer (and tends to repeat it).
  const baseline = await handleChatRequest({ prompt: question, command: 'baseline' }, sink().api, service, settings, new AbortController().signal);
  assert.notEqual(baseline.answer, steered.answer, 'the two modes answer alike, so this test could not tell');
  assert.equal(compared.result?.baseline?.text, baseline.answer);
  assert.equal(compared.result?.steered?.text, steered.answer);
  assert.deepEqual(chatFollowups(compared), [{ prompt: question, label: 'Steered answer only', command: '' }]);
  assert.deepEqual(chatFollowups({ ...compared, cancelled: true }), []);
  assert.deepEqual(chatFollowups({ mode: 'steered', question, error: 'no model' }), []);
});

test('an error is shown in the response, not thrown', { skip: realModelSkip }, async () => {
  const { s, api } = sink();
  const out = await handleChatRequest({ prompt: 'hello' }, api, service, { ...settings, vector: 'no-such-vector' }, new AbortController().signal);
  assert.match(out.error ?? '', /unknown steering vector "no-such-vector"/);
  assert.match(s.text, /^\*\*kvsteer could not answer:\*\* unknown steering vector "no-such-vector"/);
  const empty = await handleChatRequest({ prompt: '  ' }, sink().api, service, settings, new AbortController().signal);
  assert.equal(empty.error, 'empty prompt');
});

test('@kvsteer /compare with a vector made for another model gives the baseline and says why there is no steered answer', { skip: realModelSkip }, async () => {
  // A vector shaped for the tiny random model (2 layers) cannot steer SmolLM2 (30 layers).
  const tiny = await loadTinyModel();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-chat-')), 'tiny.safetensors');
  saveVector(file, fakeVector(tiny));
  await tiny.dispose();
  const { s, api } = sink();
  const out = await handleChatRequest({ prompt: 'What is the capital of France?', command: 'compare' }, api, service, { ...settings, vector: file }, new AbortController().signal);
  assert.ok(out.result?.baseline && !out.result.steered);
  assert.match(s.text, /\*\*No steered answer:\*\* steering vector ".*tiny\.safetensors" was made for tiny .*Extract one for this model/);
});

test('earlier turns become the conversation: answered exchanges only, the latest few', () => {
  const turns: ChatTurn[] = [
    { kind: 'request', prompt: 'failed question' },
    { kind: 'response' },
    ...Array.from({ length: HISTORY_EXCHANGES + 1 }, (_, i): ChatTurn[] => [{ kind: 'request', prompt: `q${i}` }, { kind: 'response', answer: `a${i}` }]).flat(),
  ];
  const messages = historyMessages(turns);
  assert.equal(messages.length, 2 * HISTORY_EXCHANGES);
  assert.deepEqual(messages.slice(0, 2), [{ role: 'user', content: 'q1' }, { role: 'assistant', content: 'a1' }]);
  assert.deepEqual(messages.at(-1), { role: 'assistant', content: `a${HISTORY_EXCHANGES}` });
  assert.ok(!messages.some((m) => m.content === 'failed question'));
  assert.deepEqual(historyMessages([]), []);
});

test('a follow-up sees the earlier exchange; the answer recorded for a turn is the one shown', { skip: realModelSkip }, async () => {
  const first = await handleChatRequest({ prompt: 'My name is Ada.', command: 'baseline' }, sink().api, service, settings, new AbortController().signal);
  assert.ok(first.answer && first.answer === first.result?.baseline?.text);
  // What the 135M model says back varies; an earlier answer that repeats the name makes the check certain.
  const history = historyMessages([{ kind: 'request', prompt: 'My name is Ada.' }, { kind: 'response', answer: 'Nice to meet you, Ada!' }]);
  const { s, api } = sink();
  const followUp = await handleChatRequest({ prompt: 'What is my name?', command: 'baseline', history }, api, service, settings, new AbortController().signal);
  assert.match(followUp.answer ?? '', /Ada/);
  assert.match(s.text, /Ada/);
  const alone = await handleChatRequest({ prompt: 'What is my name?', command: 'baseline' }, sink().api, service, settings, new AbortController().signal);
  assert.doesNotMatch(alone.answer ?? '', /Ada/);
  // The steered answer is the one a later turn reads after a comparison.
  const compared = await handleChatRequest({ prompt: 'What is 2 + 2?', command: 'compare' }, sink().api, service, settings, new AbortController().signal);
  assert.equal(compared.answer, compared.result?.steered?.text);
});

test('an attached selection reaches the model and the response names it', { skip: realModelSkip }, async () => {
  const attachments = [{ name: 'notes.md:3-4', text: 'The team meeting moved to Thursday at 3 pm, in room 12.' }];
  const { s, api } = sink();
  const out = await handleChatRequest({ prompt: 'When is the meeting?', command: 'baseline', attachments }, api, service, settings, new AbortController().signal);
  assert.equal(out.error, undefined);
  assert.ok(s.text.startsWith('_Attached: notes.md:3-4_'), s.text);
  assert.match(out.answer ?? '', /Thursday/);
  // The question alone does not say when.
  const alone = await handleChatRequest({ prompt: 'When is the meeting?', command: 'baseline' }, sink().api, service, settings, new AbortController().signal);
  assert.doesNotMatch(alone.answer ?? '', /Thursday/);
});

/**
 * Stands in for the service: streams the given answer text for each side, as the engine does; the
 * steered side carries `vectorNote` when one is given.
 */
function scriptedService(answers: { baseline?: string; steered?: string }, stats: Partial<AskSideResult> = {}, historyLeftOut?: number, vectorNote?: string): Parameters<typeof handleChatRequest>[2] {
  const side = (text: string): AskSideResult => ({ text, tokens: [1, 2, 3], msPerToken: 10, totalMs: 30, prefillMs: 0, prefillReused: false, editMs: 0, stopReason: 'max-tokens', ...stats });
  return {
    ask: async (_settings, req) => {
      assert.equal(req.fitHistory, true, 'a chat request may leave out its earliest history');
      const out: Awaited<ReturnType<SteeringService['ask']>> = historyLeftOut ? { historyLeftOut } : {};
      for (const s of ['baseline', 'steered'] as const) {
        const text = answers[s];
        if (text === undefined) continue;
        req.onSideStart?.(s);
        req.onToken?.(s, { id: 1, textDelta: text, index: 0 });
        if (s === 'steered') out.steered = { ...side(text), cK: 0, cV: 4, vector: 'v', ...(vectorNote ? { vectorNote } : {}), layers: [1], offsetToken: '\n' };
        else out.baseline = side(text);
      }
      return out;
    },
  };
}

/** Whether the markdown leaves a code block open at `at` (lines of three or more backticks, as the answers below write them). */
const insideCode = (md: string, at: number) => (md.slice(0, at).match(/^```/gm) ?? []).length % 2 === 1;

test("an answer cut off inside a code block does not draw kvsteer's own lines after it as code", async () => {
  const { s, api } = sink();
  const cut = 'Here is the code:\n\n```python\ndef area(r):\n    return 3.14 * r';
  await handleChatRequest({ prompt: 'area of a circle in python', command: 'compare' }, api, scriptedService({ baseline: cut, steered: cut }), settings, new AbortController().signal);
  const steeredHeader = s.text.indexOf('**Steered**');
  assert.ok(steeredHeader > 0 && !insideCode(s.text, steeredHeader), s.text);
  assert.ok(!insideCode(s.text, s.text.indexOf('tokens ·')), s.text);
  assert.ok(!insideCode(s.text, s.text.length), s.text);
  // An answer whose code blocks are closed gets nothing added.
  const { s: closed, api: closedApi } = sink();
  await handleChatRequest({ prompt: 'q', command: 'baseline' }, closedApi, scriptedService({ baseline: 'A\n```js\nx()\n```\nB' }), settings, new AbortController().signal);
  assert.equal((closed.text.match(/```/g) ?? []).length, 2, closed.text);
});

test('the closing fence matches the open one', () => {
  assert.equal(openFenceCloser('no code'), '');
  assert.equal(openFenceCloser('```\ncode\n```'), '');
  assert.equal(openFenceCloser('````md\n```\ninner'), '\n````\n');
  assert.equal(openFenceCloser('~~~\ncode'), '\n~~~\n');
  assert.equal(openFenceCloser('inline ```code``` only'), '');
});

test("a one-token answer's statistics show a dash for ms/token, not NaN (no decoding step ran)", async () => {
  const { s, api } = sink();
  await handleChatRequest({ prompt: 'q', command: 'compare' }, api, scriptedService({ baseline: 'Yes', steered: 'Yes' }, { tokens: [1], msPerToken: NaN }), settings, new AbortController().signal);
  assert.doesNotMatch(s.text, /NaN/, s.text);
  assert.equal((s.text.match(/_1 tokens · — ms\/token · /g) ?? []).length, 2, s.text);
});

test('a chat whose earliest messages were left out to fit the context window says how many', async () => {
  const { s, api } = sink();
  await handleChatRequest({ prompt: 'and the sky?', command: 'baseline' }, api, scriptedService({ baseline: 'Blue.' }, {}, 4), settings, new AbortController().signal);
  assert.match(s.text, /_The 4 earliest messages of this conversation were left out, to leave room for the answer in the model's context window\._$/);
  const { s: plain, api: plainApi } = sink();
  await handleChatRequest({ prompt: 'q', command: 'baseline' }, plainApi, scriptedService({ baseline: 'A.' }), settings, new AbortController().signal);
  assert.doesNotMatch(plain.text, /left out/);
});

test('a steered answer whose vector was extracted on another model ends with a note, as text', async () => {
  const note = 'steering vector "v" was extracted on *Smol*_LM [base](x) <b>, not on the loaded tiny';
  for (const command of [undefined, 'compare']) {
    const { s, api } = sink();
    await handleChatRequest({ prompt: 'q', command }, api, scriptedService({ baseline: command ? 'a' : undefined, steered: 'b' }, {}, undefined, note), settings, new AbortController().signal);
    assert.ok(s.text.endsWith(`\n\n_Note: ${markdownText(note)}_`), s.text);
    assert.ok(s.text.indexOf('_Note:') > s.text.indexOf('vector `v`'), 'the note follows the steered statistics');
  }
  assert.equal(markdownText('*a*_b_ [c](d) <e> `f` \\'), '\\*a\\*\\_b\\_ \\[c\\]\\(d\\) \\<e\\> \\`f\\` \\\\');
  // A vector name from a file made elsewhere may hold line breaks: a blank line would end the
  // italic note and start a paragraph of its own, read as markdown.
  assert.equal(markdownText('v1\n\n# Title\r\n- item'), 'v1 \\# Title \\- item');
  const { s, api } = sink();
  await handleChatRequest({ prompt: 'q' }, api, scriptedService({ steered: 'b' }), settings, new AbortController().signal);
  assert.doesNotMatch(s.text, /Note:/, 'no note for a vector made on the loaded model');
});
