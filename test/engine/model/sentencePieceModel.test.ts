/**
 * GGUF files with a SentencePiece vocabulary (Llama 2, TinyLlama, Mistral): merges derived from
 * the piece scores, text that decodes back to itself, and the steering offset token, which such
 * tokenizers cannot produce alone by encoding (they prefix every stretch of text with "▁").
 * Agreement with llama.cpp's own tokenizer is in llamaCppTinyModels.test.ts.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spmMerges } from '../../../src/engine/gguf/tokenizerFromGguf';
import { loadModel } from '../../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { generateSteered, steeredPromptIds } from '../../../src/engine/steering/applySteering';
import { generate } from '../../../src/engine/generation/generate';
import { runEval } from '../../../src/engine/eval/runEval';
import { arcConfig } from '../../support/evalConfig';
import { fakeVector } from '../../support/fakeVector';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-spm-'));
const gguf = path.join(dir, 'tiny-spm.gguf');
writeTinyRandomGguf(gguf, { vocabulary: 'spm' });
const modelP = loadModel(gguf, { cacheDir: path.join(dir, 'cache'), threads: 1 });
after(async () => (await modelP).dispose());

test('merges are every split of every piece into two pieces, the best-scored piece first', () => {
  const tokens = ['a', 'b', 'c', 'ab', 'bc', 'abc', '<0x41>'];
  const types = [1, 1, 1, 1, 1, 1, 6];
  const scores = [-10, -11, -12, -3, -1, -2, 0];
  assert.deepEqual(spmMerges(tokens, types, scores), [['b', 'c'], ['a', 'bc'], ['ab', 'c'], ['a', 'b']]);
});

test('text encodes with byte fallback and decodes back to itself', async () => {
  const m = await modelP;
  for (const s of ['the sea', '  two  spaces', 'tabs\tand\nnewlines', 'naïve 日本 😀', '123123']) {
    assert.equal(m.tokenizer.decode(m.tokenizer.encode(s)), s, JSON.stringify(s));
  }
  // "日" is not a piece: after the "▁" prefix, its three UTF-8 bytes come out as byte tokens.
  const vocab = JSON.parse(fs.readFileSync(path.join(m.folder, 'tokenizer.json'), 'utf8')).model.vocab as Record<string, number>;
  assert.deepEqual(m.tokenizer.encode('日'), [vocab['\u2581'], vocab['<0xE6>'], vocab['<0x97>'], vocab['<0xA5>']]);
});

test('the offset token resolves to the byte token for "\\n" and to the piece for " "', async () => {
  const m = await modelP;
  const messages = [{ role: 'user' as const, content: 'the sea' }];
  const nl = steeredPromptIds(m, messages, '\n');
  assert.equal(m.tokenizer.encode('\n').length, 2); // "▁" then <0x0A>: why a plain encode cannot be used
  assert.equal(nl.ids.at(-1), nl.offsetTokenId);
  const vocab = JSON.parse(fs.readFileSync(path.join(m.folder, 'tokenizer.json'), 'utf8')).model.vocab as Record<string, number>;
  assert.equal(nl.offsetTokenId, vocab['<0x0A>']);
  assert.equal(steeredPromptIds(m, messages, ' ').offsetTokenId, vocab['\u2581']);
  assert.throws(() => steeredPromptIds(m, messages, 'the sea'), /offset token "the sea" is \d+ tokens for this model; it must be exactly one/);
});

test('a steered generation at strength 0 equals the baseline from the same prompt', async () => {
  const m = await modelP;
  const messages = [{ role: 'user' as const, content: 'the sea is' }];
  const steered = await generateSteered(m, { messages, vector: fakeVector(m), strength: { cK: 0, cV: 0 }, maxNewTokens: 12 });
  const base = await generate(m, { promptIds: steeredPromptIds(m, messages, '\n').ids, maxNewTokens: 12 });
  assert.deepEqual(steered.tokenIds, base.tokenIds);
  const pushed = await generateSteered(m, { messages, vector: fakeVector(m, 3), strength: { cK: 0, cV: 8 }, maxNewTokens: 12 });
  assert.notDeepEqual(pushed.tokenIds, base.tokenIds);
});

test('a model whose tokenizer adds BOS gets exactly one at the start of a chat prompt', async () => {
  const file = path.join(dir, 'tiny-spm-bos.gguf');
  writeTinyRandomGguf(file, { vocabulary: 'spm', metadata: { 'tokenizer.ggml.add_bos_token': { type: 'bool', value: true } } });
  const m = await loadModel(file, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  try {
    const text = m.tokenizer.applyChatTemplate([{ role: 'user', content: 'the sea' }]);
    assert.ok(text.startsWith('<s><|im_start|>'), text); // the tiny template does not write it
    const ids = m.tokenizer.encode(text);
    assert.equal(ids[0], 1);
    assert.equal(ids.filter((i) => i === 1).length, 1);
  } finally {
    await m.dispose();
  }
  // A template that writes the BOS itself (as Llama 3's does) does not get a second one.
  const own = path.join(dir, 'tiny-spm-bos-template.gguf');
  const template = "{{ bos_token }}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  writeTinyRandomGguf(own, {
    vocabulary: 'spm',
    metadata: { 'tokenizer.ggml.add_bos_token': { type: 'bool', value: true }, 'tokenizer.chat_template': { type: 'string', value: template } },
  });
  const m2 = await loadModel(own, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  try {
    const ids = m2.tokenizer.encode(m2.tokenizer.applyChatTemplate([{ role: 'user', content: 'the sea' }]));
    assert.equal(ids[0], 1);
    assert.equal(ids.filter((i) => i === 1).length, 1);
  } finally {
    await m2.dispose();
  }
  // The default tiny model does not add BOS: its prompt is the template's text as is.
  const plain = (await modelP).tokenizer.applyChatTemplate([{ role: 'user', content: 'the sea' }]);
  assert.ok(plain.startsWith('<|im_start|>'), plain);
});

test('the evaluation steers such a model from the same offset token as ask does, and forces a choice among letters', async () => {
  const m = await modelP;
  // A plain encode of "\n" gives two tokens here, which the evaluation used to refuse.
  const question = { id: 'q1', question: 'Which is a metal?\n\nChoices:\nA: wood\nB: iron', answer: 'B' };
  const rows = await runEval(m, { ...arcConfig(m, [question], path.join(dir, 'eval'), 3), methods: ['cache-steering'] });
  assert.equal(rows.length, 1);
  assert.ok(rows[0].response.startsWith('\n'), JSON.stringify(rows[0].response));
  // The random model gives no letter, so the force-choice rescue answers: with a letter's own piece,
  // never the bare "▁" that starts every encoded letter here.
  assert.match(rows[0].forced_choice ?? '', /^ ?[A-E]$/);
});
