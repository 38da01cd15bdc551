/**
 * The language-model provider's work (languageModelRequests.ts) on the real SmolLM2-135M-Instruct
 * model with the shipped vector: the steered and baseline models VS Code lists, VS Code's messages
 * as a conversation, streamed answers that are the cache-steered and the plain model's, token
 * counts, cancellation, and errors thrown with kvsteer's message. provider.ts only adapts VS Code's
 * calls to these functions; the end-to-end suite calls it through `vscode.lm` in VS Code.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SETTINGS, KvsteerSettings } from '../../src/config/settingsSchema';
import { SteeringService } from '../../src/service/steeringService';
import { LANGUAGE_MODEL_IDS, answerLanguageModelRequest, countMessageTokens, countTokens, languageModelInfos, modelLabel, templateTokens, toChatMessages, type LanguageModelId, type RequestMessage } from '../../src/languageModel/languageModelRequests';
import type { ChatMessage } from '../../src/engine/model/chatTokenizer';
import { isKvsteerError } from '../../src/engine/util/errors';
import { cliCacheDir } from '../../src/cli/defaultModel';
import { saveVector } from '../../src/engine/steering/vectorFile';
import { writeTinyRandomGguf } from '../../src/engine/model/tinyRandomModel';
import { repoRoot } from '../support/paths';
import { loadRealModel, loadTinyModel, realGguf, realModelSkip, tinyGgufPath } from '../support/models';
import { fakeVector } from '../support/fakeVector';

const service = new SteeringService({ cacheDir: cliCacheDir(), vectorDirs: [path.join(repoRoot, 'vectors')], log: () => {} });
after(() => service.dispose());
const settings: KvsteerSettings = { ...DEFAULT_SETTINGS, model: realGguf, maxNewTokens: 40, threads: 2 };

/** VS Code's message shape: role 1 user, 2 assistant; content parts with `value`. */
const user = (text: string) => ({ role: 1, content: [{ value: text }] });
const assistant = (text: string) => ({ role: 2, content: [{ value: text }] });

async function answer(model: LanguageModelId, messages: ChatMessage[], s = settings, signal = new AbortController().signal) {
  let streamed = '';
  const out = await answerLanguageModelRequest({ model, messages }, (t) => void (streamed += t), service, s, signal);
  return { streamed, ...out };
}

test('the model list offers the configured model steered and as a baseline, named from the setting before it loads', () => {
  assert.equal(modelLabel('/models/SmolLM2-135M-Instruct.Q4_1.gguf'), 'SmolLM2-135M-Instruct.Q4_1');
  assert.equal(modelLabel('HuggingFaceTB/SmolLM2-135M-Instruct'), 'SmolLM2-135M-Instruct');
  assert.equal(modelLabel('ollama:smollm2:135m'), 'smollm2:135m');
  assert.equal(modelLabel('/models/onnx-folder/'), 'onnx-folder');
  const before = languageModelInfos({ ...settings, cV: 6 });
  assert.deepEqual(before.map((m) => [m.id, m.name]), [
    ['steered', 'SmolLM2-135M-Instruct.Q4_1 (steered, local)'],
    ['baseline', 'SmolLM2-135M-Instruct.Q4_1 (baseline, local)'],
  ]);
  assert.match(before[0].tooltip, /smollm2-135m-reasoning, c_v 6/);
  for (const m of before) {
    assert.equal(m.maxOutputTokens, 40);
    // The window assumed before a load, less the answer and the most a template adds to a prompt.
    assert.equal(m.maxInputTokens, 2048 - 40 - 64);
    assert.deepEqual(m.capabilities, { imageInput: false, toolCalling: false });
  }
  const loaded = languageModelInfos(settings, { name: 'SmolLM2 135M Instruct', maxPositions: 8192 });
  assert.equal(loaded[0].name, 'SmolLM2 135M Instruct (steered, local)');
  assert.equal(loaded[1].maxInputTokens, 8192 - 40 - 64);
  assert.equal(languageModelInfos(settings, { name: 'SmolLM2 135M Instruct', maxPositions: 8192, promptTokens: 25 })[1].maxInputTokens, 8192 - 40 - 25);
});

test("VS Code's messages become the chat template's conversation", () => {
  const messages = toChatMessages([
    { role: 3, content: [{ value: 'Be brief.' }] },
    user('My name is Ada.'),
    { role: 2, content: [{ value: 'Hello ' }, { value: 'Ada!' }, { callId: 'c1', name: 'lookup', input: {} }] },
    { role: 1, content: [{ callId: 'c1', content: [{ value: 'result: 42' }] }, { value: ' Thanks.' }] },
    { role: 1, content: [{ mimeType: 'image/png', data: new Uint8Array(4) }] },
    user('Go on.'),
  ]);
  assert.deepEqual(messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'My name is Ada.' },
    { role: 'assistant', content: 'Hello Ada!' },
    // User messages in a row (the image alone is dropped) are one, as Copilot's context and question.
    { role: 'user', content: 'result: 42 Thanks.\n\nGo on.' },
  ]);
  assert.deepEqual(
    toChatMessages([{ role: 3, content: [{ value: 'Be brief.' }] }, { role: 3, content: [{ value: 'Answer in English.' }] }, user('Hi.'), assistant('Hello!'), assistant('How can I help?'), user('Hi again.')]),
    [
      { role: 'system', content: 'Be brief.\n\nAnswer in English.' },
      { role: 'user', content: 'Hi.' },
      { role: 'assistant', content: 'Hello!\n\nHow can I help?' },
      { role: 'user', content: 'Hi again.' },
    ],
  );
  assert.throws(() => toChatMessages([{ role: 7, content: [] }]), /message 1 has a role kvsteer does not know \(7\)/);
  // The question itself an image: answering the message before it instead would mislead.
  const image = { role: 1, content: [{ mimeType: 'image/png', data: new Uint8Array(4) }] };
  for (const conversation of [[image], [user('What is in this picture?'), image]]) {
    assert.throws(() => toChatMessages(conversation), /the last message holds no text: kvsteer's local models read text only/);
  }
});

/**
 * Runs `body` with a temporary folder and `newService()` making services whose cache is in it; every
 * service made is disposed and the folder removed after.
 */
async function inServiceDir(prefix: string, body: (dir: string, newService: () => SteeringService) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const made: SteeringService[] = [];
  const newService = () => {
    const s = new SteeringService({ cacheDir: path.join(dir, 'cache'), vectorDirs: [], log: () => {} });
    made.push(s);
    return s;
  };
  try {
    await body(dir, newService);
  } finally {
    for (const s of made) await s.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('user messages in a row are answered by a model whose chat template requires alternating roles', () =>
  inServiceDir('kvsteer-lm-alternate-', async (dir, newService) => {
    const gguf = path.join(dir, 'alternating.gguf');
    // As Gemma's and Mistral's templates do: a user message where the assistant's belongs is refused.
    const template =
      "{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
      "{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    writeTinyRandomGguf(gguf, { metadata: { 'tokenizer.chat_template': { type: 'string', value: template } } });
    const svc = newService();
    const s: KvsteerSettings = { ...DEFAULT_SETTINGS, model: gguf, maxNewTokens: 2, threads: 1 };
    const messages = toChatMessages([user('The file says 42.'), user('What does the file say?')]);
    const out = await answerLanguageModelRequest({ model: 'baseline', messages }, () => {}, svc, s, new AbortController().signal);
    assert.ok(out.tokens > 0);
    assert.match(svc.loadedModel!.tokenizer.applyChatTemplate(messages), /<\|im_start\|>user\nThe file says 42\.\n\nWhat does the file say\?<\|im_end\|>\n<\|im_start\|>assistant\n$/);
  }));

test("a caller's modelOptions set the answer's length and sampling; without them the settings' decoding answers", () =>
  inServiceDir('kvsteer-lm-options-', async (_dir, newService) => {
    const tiny = newService();
    const s: KvsteerSettings = { ...DEFAULT_SETTINGS, model: tinyGgufPath(), maxNewTokens: 8, threads: 1, stopOnRepetition: false };
    const messages = toChatMessages([user('the sea')]);
    const ask = async (modelOptions?: Record<string, unknown>) => {
      let streamed = '';
      const out = await answerLanguageModelRequest({ model: 'baseline', messages, modelOptions }, (t) => void (streamed += t), tiny, s, new AbortController().signal);
      return { streamed, ...out };
    };
    const greedy = await ask();
    assert.equal(greedy.tokens, 8);
    const short = await ask({ max_tokens: 3 });
    assert.equal(short.tokens, 3);
    assert.ok(greedy.streamed.startsWith(short.streamed));
    // Beyond maxOutputTokens (kvsteer.maxNewTokens) the answer stops there.
    assert.equal((await ask({ maxTokens: 100 })).tokens, 8);
    const sampled = await ask({ temperature: 1.5, seed: 7 });
    const expected = await tiny.ask({ ...s, decoding: { kind: 'sample', temperature: 1.5, topP: 0.9, topK: 50, seed: 7 } }, { messages, mode: 'baseline' });
    assert.equal(sampled.streamed, expected.baseline!.text);
    assert.notEqual(sampled.streamed, greedy.streamed);
    assert.equal((await ask({ temperature: 1.5, seed: 7 })).streamed, sampled.streamed, 'a seed gives the same answer again');
    assert.equal((await ask({ temperature: 0, top_p: 0.5 })).streamed, greedy.streamed);
  }));

test('an invalid modelOptions value is refused before the model loads', () =>
  inServiceDir('kvsteer-lm-bad-options-', async (_dir, newService) => {
    const fresh = newService();
    const s: KvsteerSettings = { ...DEFAULT_SETTINGS, model: tinyGgufPath(), maxNewTokens: 2, threads: 1 };
    for (const [modelOptions, re] of [
      [{ temperature: NaN }, /modelOptions\.temperature must be a number from 0 to 5 \(is NaN\)/],
      [{ top_p: 2 }, /modelOptions\.top_p must be a number from 0 to 1 \(is 2\)/],
      [{ max_tokens: -5 }, /modelOptions\.max_tokens must be an integer of at least 1 \(is -5\)/],
    ] as const) {
      await assert.rejects(
        answerLanguageModelRequest({ model: 'baseline', messages: toChatMessages([user('hi')]), modelOptions }, () => assert.fail('nothing is streamed'), fresh, s, new AbortController().signal),
        (e) => isKvsteerError(e) && e.code === 'INVALID_ARGUMENT' && re.test(e.message),
      );
    }
    assert.equal(fresh.loadedModel, undefined);
  }));

test('the steered model answers with the one-shot cache edit, the baseline model with the plain model, both streamed', { skip: realModelSkip }, async () => {
  const messages = toChatMessages([user('Why do ice cubes float on water?')]);
  const steered = await answer('steered', messages);
  const baseline = await answer('baseline', messages);
  // The same conversation through the main job: its steered side is the cache-steered answer.
  const both = await service.ask(settings, { messages, mode: 'compare' });
  assert.equal(steered.streamed, both.steered!.text);
  assert.equal(baseline.streamed, both.baseline!.text);
  assert.notEqual(steered.streamed, baseline.streamed);
  assert.equal(steered.tokens, both.steered!.tokens.length);
  assert.ok(steered.tokens > 0 && baseline.tokens > 0);
  const paris = await answer('baseline', toChatMessages([user('What is the capital of France?')]));
  assert.match(paris.streamed, /Paris/);
});

test('the whole conversation reaches the model, not only its last message', { skip: realModelSkip }, async () => {
  const alone = await answer('baseline', toChatMessages([user('What is my name?')]));
  const withHistory = await answer('baseline', toChatMessages([user('My name is Ada.'), assistant('Nice to meet you, Ada!'), user('What is my name?')]));
  assert.match(withHistory.streamed, /Ada/);
  assert.doesNotMatch(alone.streamed, /Ada/);
});

test('token counts use the model tokenizer once loaded, and overestimate before', { skip: realModelSkip }, async () => {
  const text = 'KV cache steering edits the cache once, before the answer: function add(a, b) { return a + b; }';
  const fresh = new SteeringService({ cacheDir: cliCacheDir(), vectorDirs: [path.join(repoRoot, 'vectors')], log: () => {} });
  const estimate = countTokens(fresh, text);
  await fresh.dispose();
  await answer('baseline', toChatMessages([user('Hi.')]), { ...settings, maxNewTokens: 1 });
  const exact = countTokens(service, text);
  assert.equal(exact, service.loadedModel!.tokenizer.encode(text).length);
  assert.ok(estimate >= exact, `estimate ${estimate} < ${exact}`);
});

test('before the model loads, the token estimate stays above the real count for Chinese, Cyrillic, emoji, digits and code too', { skip: realModelSkip }, async () => {
  const fresh = new SteeringService({ cacheDir: cliCacheDir(), vectorDirs: [path.join(repoRoot, 'vectors')], log: () => {} });
  const tokenizer = (await loadRealModel()).tokenizer;
  try {
    const texts = [
      '你好世界，今天天气很好。我们去公园散步吧。',
      'Привет, как дела? Это тест.',
      '🙂🙂🙂🙂🙂🙂',
      'Call 1234567890 or 9876543210 before 2025-01-31.',
      'if(a){b();}else{c();} // 0x7f3a !@#$%^&*()[]{};:<>?',
      'a1 b2 c3 d4 e5',
      '    \n\n\t\t  x',
    ];
    for (const text of texts) {
      const estimate = countTokens(fresh, text), exact = tokenizer.encode(text).length;
      assert.ok(estimate >= exact, `${JSON.stringify(text)}: estimate ${estimate} < ${exact} tokens`);
    }
  } finally {
    await fresh.dispose();
  }
});

test('after the model setting changes, token counts no longer use the model still loaded from before', () =>
  inServiceDir('kvsteer-lm-count-', async (_dir, newService) => {
    const tiny = newService();
    const s: KvsteerSettings = { ...DEFAULT_SETTINGS, model: tinyGgufPath(), maxNewTokens: 2, threads: 1 };
    const fresh = newService();
    await answerLanguageModelRequest({ model: 'baseline', messages: toChatMessages([user('hi')]) }, () => {}, tiny, s, new AbortController().signal);
    const text = 'The sea, the sea: 你好 1234567890';
    const exact = tiny.loadedModel!.tokenizer.encode(text).length;
    const estimate = countTokens(fresh, text);
    assert.notEqual(exact, estimate);
    assert.equal(countTokens(tiny, text, s.model), exact, 'the loaded model counts for its own setting');
    // kvsteer.model now names another model, not loaded yet: the estimate, not the old tokenizer.
    assert.equal(countTokens(tiny, text, '/models/other.gguf'), estimate);
    assert.equal(countMessageTokens(tiny, user(text), '/models/other.gguf'), countMessageTokens(fresh, user(text)));
  }));

test('a conversation the token counts put within maxInputTokens fits the context window with room for the answer, steered or not', () =>
  inServiceDir('kvsteer-lm-budget-', async (dir, newService) => {
    const tiny = newService();
    const s: KvsteerSettings = { ...DEFAULT_SETTINGS, model: tinyGgufPath(), maxNewTokens: 8, threads: 1 };
    await answerLanguageModelRequest({ model: 'baseline', messages: toChatMessages([user('hi')]) }, () => {}, tiny, s, new AbortController().signal);
    const loaded = tiny.loadedModel!;
    const vector = path.join(dir, 'tiny.safetensors');
    saveVector(vector, fakeVector(loaded));
    // As VS Code budgets a prompt: the model's maxInputTokens, and provideTokenCount per message.
    const [info] = languageModelInfos(s, { name: loaded.name, maxPositions: loaded.config.maxPositions, promptTokens: templateTokens(loaded.tokenizer).perPrompt });
    const count = (m: RequestMessage) => countMessageTokens(tiny, m);
    const tail = [assistant('the sea'), user('the sea')];
    const room = info.maxInputTokens - tail.reduce((n, m) => n + count(m), 0);
    let words = room;
    while (count(user('sea '.repeat(words))) > room) words--;
    const messages = [user('sea '.repeat(words)), ...tail];
    const total = messages.reduce((n, m) => n + count(m), 0);
    assert.ok(total <= info.maxInputTokens && total > info.maxInputTokens - 5, `${total} of ${info.maxInputTokens}`);
    for (const model of LANGUAGE_MODEL_IDS) {
      const out = await answerLanguageModelRequest({ model, messages: toChatMessages(messages) }, () => {}, tiny, { ...s, vector }, new AbortController().signal);
      assert.notEqual(out.stopReason, 'context-full', `${model}: the answer had less than maxOutputTokens of room`);
    }
  }));

test('a cancelled request ends quietly with what it streamed, and the next one works', { skip: realModelSkip }, async () => {
  const ac = new AbortController();
  let streamed = '';
  const out = await answerLanguageModelRequest(
    { model: 'steered', messages: toChatMessages([user('Tell me a long story about a dragon.')]) },
    (t) => {
      streamed += t;
      if (streamed.length > 10) ac.abort();
    },
    service,
    { ...settings, maxNewTokens: 200 },
    ac.signal,
  );
  assert.equal(out.stopReason, 'cancelled');
  assert.ok(out.tokens < 200 && streamed.length > 10);
  const aborted = new AbortController();
  aborted.abort();
  assert.deepEqual(await answerLanguageModelRequest({ model: 'baseline', messages: toChatMessages([user('Hi.')]) }, () => {}, service, settings, aborted.signal), { tokens: 0, stopReason: 'cancelled' });
  assert.ok((await answer('baseline', toChatMessages([user('Say hi.')]))).streamed.length > 0);
});

test('bad requests are refused with one clear error each', { skip: realModelSkip }, async () => {
  const rejects = (model: LanguageModelId, messages: ChatMessage[], re: RegExp, s = settings, toolCallRequired = false) =>
    assert.rejects(answerLanguageModelRequest({ model, messages, toolCallRequired }, () => assert.fail('nothing is streamed'), service, s, new AbortController().signal), (e) => isKvsteerError(e) && re.test(e.message));
  await rejects('baseline', toChatMessages([user('Hi.'), assistant('Hello!')]), /must end with the user's message, not the assistant's/);
  await rejects('baseline', [], /the conversation has no messages/);
  await rejects('steered', toChatMessages([user('Hi.')]), /cannot call tools/, settings, true);
  await rejects('baseline', [{ role: 'user', content: 'word '.repeat(9000) }], /the prompt has \d+ tokens but the model's context window is 8192/);
  // A vector shaped for the tiny random model (2 layers) cannot steer SmolLM2 (30 layers).
  const tiny = await loadTinyModel();
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-lm-')), 'tiny.safetensors');
  saveVector(file, fakeVector(tiny));
  await tiny.dispose();
  await rejects('steered', toChatMessages([user('Hi.')]), /tiny\.safetensors" was made for tiny .*Extract one for this model/, { ...settings, vector: file });
  assert.ok((await answer('steered', toChatMessages([user('Say hi.')]))).streamed.length > 0, 'the next request works');
});
