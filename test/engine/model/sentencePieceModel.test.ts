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
