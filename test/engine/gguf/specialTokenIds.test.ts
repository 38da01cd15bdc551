/**
 * Special-token ids outside the vocabulary (a file llama.cpp still runs, with a warning): the
 * import goes on without that token, or with llama.cpp's default for a SentencePiece vocabulary,
 * and says so through onWarning, naming the file, the key and the id; an end-of-sequence id outside
 * the vocabulary leaves generation the end tokens named by text, and the warning says which (or
 * that answers run to the token limit when there is none). Ids may be stored as u64; an id of
 * another kind (text, a flag) is refused, as llama.cpp refuses it.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { tokenizerFromGguf } from '../../../src/engine/gguf/tokenizerFromGguf';
import { importGguf } from '../../../src/engine/gguf/importGguf';
import { loadModel } from '../../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { GgufWriteValue } from '../../../src/engine/gguf/ggufWriter';
import { KvsteerError } from '../../../src/engine/util/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-special-ids-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });
const u64 = (value: bigint): GgufWriteValue => ({ type: 'u64', value });

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

test("a SentencePiece vocabulary's BOS, EOS and unknown ids outside it become llama.cpp's defaults 1, 2 and 0, each reported with the id used", async () => {
  const file = path.join(tmp, 'spm-bad-ids.gguf');
  writeTinyRandomGguf(file, {
    vocabulary: 'spm',
    metadata: {
      'tokenizer.ggml.bos_token_id': u32(5000),
      // An absurd u64 takes the same path as any other id outside the vocabulary.
      'tokenizer.ggml.eos_token_id': u64(2n ** 64n - 1n),
      'tokenizer.ggml.unknown_token_id': u32(7000),
      'tokenizer.ggml.add_bos_token': { type: 'bool', value: true },
    },
  });
  const warnings: string[] = [];
  const r = await importGguf(file, { cacheDir: path.join(tmp, 'c-spm-bad-ids'), onWarning: (w) => warnings.push(w) });
  const outside = `outside the vocabulary of 416 tokens; using llama.cpp's default`;
  assert.deepEqual(warnings, [
    `${file}: tokenizer.ggml.bos_token_id is 5000, ${outside}, id 1 ("<s>")`,
    `${file}: tokenizer.ggml.eos_token_id is 18446744073709551615, ${outside}, id 2 ("</s>"); generation ends on "</s>", "<|im_end|>"`,
    `${file}: tokenizer.ggml.unknown_token_id is 7000, ${outside}, id 0 ("<unk>")`,
  ]);
  const read = (name: string) => JSON.parse(fs.readFileSync(path.join(r.folder, name), 'utf8')) as Record<string, unknown>;
  const config = read('tokenizer_config.json');
  assert.deepEqual([config.bos_token, config.eos_token, config.unk_token], ['<s>', '</s>', '<unk>']);
  assert.deepEqual(read('generation_config.json').bos_token_id, 1);
  // The BOS a prompt starts with is <s>, as llama.cpp adds it.
  const post = read('tokenizer.json').post_processor as { special_tokens: Record<string, { ids: number[] }> };
  assert.deepEqual(Object.values(post.special_tokens).map((t) => t.ids), [[1]]);
});

test("a SentencePiece vocabulary that names no BOS, EOS or unknown token gets llama.cpp's 1, 2 and 0, without a warning", () => {
  const file = path.join(tmp, 'spm-no-ids.gguf');
  writeTinyRandomGguf(file, { vocabulary: 'spm' });
  const f = openGguf(file);
  for (const key of ['bos', 'eos', 'unknown']) f.metadata.delete(`tokenizer.ggml.${key}_token_id`);
  const t = tokenizerFromGguf(f);
  assert.equal(t.bosTokenId, 1);
  assert.deepEqual(t.eosTokenIds, [2, 4]); // </s>, and <|im_end|> by its text
  assert.deepEqual([t.tokenizerConfig.bos_token, t.tokenizerConfig.eos_token, t.tokenizerConfig.unk_token], ['<s>', '</s>', '<unk>']);
  assert.deepEqual(t.warnings, []);
});

test('special-token ids stored as u64 are read when inside the vocabulary', () => {
  const file = path.join(tmp, 'u64-ids.gguf');
  writeTinyRandomGguf(file, {
    metadata: { 'tokenizer.ggml.bos_token_id': u64(1n), 'tokenizer.ggml.eos_token_id': u64(2n), 'tokenizer.ggml.padding_token_id': u64(0n) },
  });
  const t = tokenizerFromGguf(openGguf(file));
  assert.equal(t.bosTokenId, 1);
  assert.equal(t.eosTokenIds[0], 2);
  assert.equal(t.padTokenId, 0);
  assert.deepEqual(t.warnings, []);
});

test('a special-token id stored as text, a flag or an array is refused as llama.cpp refuses it, naming the file, the key and both types (before: silently ignored)', async () => {
  const cases: [string, GgufWriteValue, string][] = [
    ['tokenizer.ggml.bos_token_id', { type: 'string', value: '1' }, 'string'],
    ['tokenizer.ggml.eos_token_id', { type: 'bool', value: true }, 'bool'],
    ['tokenizer.ggml.padding_token_id', { type: 'i32[]', value: [0] }, 'an array'],
  ];
  for (const [key, value, kind] of cases) {
    const file = path.join(tmp, `wrong-type-${kind.replace(' ', '-')}.gguf`);
    writeTinyRandomGguf(file, { metadata: { [key]: value } });
    const message = `${file}: metadata ${key} has the wrong type (${kind}, expected u32)`;
    assert.throws(() => tokenizerFromGguf(openGguf(file)), (e: unknown) => e instanceof KvsteerError && e.code === 'GGUF_CORRUPT' && e.message === message, key);
    await assert.rejects(importGguf(file, { cacheDir: path.join(tmp, `c-wrong-type-${kind.replace(' ', '-')}`) }), (e: unknown) => e instanceof KvsteerError && e.message === message);
  }
});
