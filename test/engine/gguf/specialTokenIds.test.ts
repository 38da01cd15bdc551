/**
 * Special-token ids outside the vocabulary (a file llama.cpp still runs, with a warning): the
 * import goes on without that token and says so through onWarning, naming the file, the key and
 * the id; an end-of-sequence id outside the vocabulary leaves generation the end tokens named by
 * text, and the warning says which (or that answers run to the token limit when there is none).
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { importGguf } from '../../../src/engine/gguf/importGguf';
import { loadModel } from '../../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { GgufWriteValue } from '../../../src/engine/gguf/ggufWriter';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-special-ids-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });

test('special-token ids outside the vocabulary are reported by file, key and id, and the model still loads', async () => {
  const file = path.join(tmp, 'bad-ids.gguf');
  writeTinyRandomGguf(file, { metadata: { 'tokenizer.ggml.eos_token_id': u32(5000), 'tokenizer.ggml.padding_token_id': u32(288) } });
  const warnings: string[] = [];
  const m = await loadModel(file, { cacheDir: path.join(tmp, 'c-bad-ids'), threads: 1, onWarning: (w) => warnings.push(w) });
  try {
    assert.deepEqual(warnings, [
      `${file}: tokenizer.ggml.eos_token_id is 5000, outside the vocabulary of 288 tokens; ignored; generation ends on "<|endoftext|>", "<|im_end|>"`,
      `${file}: tokenizer.ggml.padding_token_id is 288, outside the vocabulary of 288 tokens; ignored`,
    ]);
    // <|endoftext|> and <|im_end|>, ended on by their text as llama.cpp does.
    assert.deepEqual([...m.config.eosTokenIds].sort((a, b) => a - b), [0, 2]);
  } finally {
    await m.dispose();
  }
  // A second import comes from the cache and still warns.
  const again: string[] = [];
  const r = await importGguf(file, { cacheDir: path.join(tmp, 'c-bad-ids', 'models'), onWarning: (w) => again.push(w) });
  assert.equal(r.converted, false);
  assert.deepEqual(again, warnings);
});

test('an end-of-sequence id outside the vocabulary with no end token by text warns that answers run to the token limit', async () => {
  const base = path.join(tmp, 'base.gguf');
  writeTinyRandomGguf(base);
  const tokens = [...(openGguf(base).metadata.get('tokenizer.ggml.tokens') as string[])];
  // Neither <|endoftext|> nor <|im_end|>: the tiny vocabulary's end tokens renamed.
  tokens[0] = '<|stop|>';
  tokens[2] = '<|turn_stop|>';
  const file = path.join(tmp, 'no-end.gguf');
  writeTinyRandomGguf(file, { metadata: { 'tokenizer.ggml.tokens': { type: 'string[]', value: tokens }, 'tokenizer.ggml.eos_token_id': u32(70000) } });
  const warnings: string[] = [];
  const r = await importGguf(file, { cacheDir: path.join(tmp, 'c-no-end'), onWarning: (w) => warnings.push(w) });
  assert.deepEqual(warnings, [`${file}: tokenizer.ggml.eos_token_id is 70000, outside the vocabulary of 288 tokens; ignored; no other token ends generation, so answers run to the token limit`]);
  const generation = JSON.parse(fs.readFileSync(path.join(r.folder, 'generation_config.json'), 'utf8')) as { eos_token_id: unknown };
  assert.deepEqual(generation.eos_token_id, []);
});
