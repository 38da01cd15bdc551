/**
 * Vocabularies llama.cpp reads in its own way: a text listed twice is refused (llama.cpp asserts on
 * it), empty tokens get llama.cpp's "[EMPTY_<id>]" names, and tokens whose bytes differ only in
 * invalid UTF-8 (which our reader turns into U+FFFD) are not mistaken for repeats.
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
import { KvsteerError } from '../../../src/engine/util/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-vocab-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The tiny model's vocabulary and token types, to edit. */
function tinyVocabulary(): { tokens: string[]; types: number[] } {
  const p = path.join(tmp, 'base.gguf');
  if (!fs.existsSync(p)) writeTinyRandomGguf(p);
  const f = openGguf(p);
  return { tokens: [...(f.metadata.get('tokenizer.ggml.tokens') as string[])], types: Array.from(f.metadata.get('tokenizer.ggml.token_type') as Int32Array) };
}

/** The tiny model with its last tokens (unused padding) replaced by `tail`, as normal tokens. */
function withTail(name: string, tail: string[]): { file: string; ids: number[] } {
  const { tokens, types } = tinyVocabulary();
  const ids = tail.map((_, k) => tokens.length - tail.length + k);
  ids.forEach((id, k) => { tokens[id] = tail[k]; types[id] = 1; });
  const file = path.join(tmp, `${name}.gguf`);
  writeTinyRandomGguf(file, { metadata: { 'tokenizer.ggml.tokens': { type: 'string[]', value: tokens }, 'tokenizer.ggml.token_type': { type: 'i32[]', value: types } } });
  return { file, ids };
}

function cacheEntries(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f !== 'hash-index.json') : [];
}

test('a vocabulary that lists a text twice is refused by name, leaving nothing in the cache', async () => {
  // "he" is token 260 (the merge "h e"); before, the copy at the end was silently dropped and decoded to "".
  const first = tinyVocabulary().tokens.indexOf('he');
  const { file, ids } = withTail('repeated', ['he']);
  const cache = path.join(tmp, 'c-repeated');
  await assert.rejects(importGguf(file, { cacheDir: cache }), (e: unknown) => {
    assert.ok(e instanceof KvsteerError, String(e));
    assert.equal(e.code, 'GGUF_CORRUPT');
    assert.match(e.message, new RegExp(`repeated\\.gguf: token ${ids[0]} \\("he"\\) repeats token ${first}`));
    return true;
  });
  assert.deepEqual(cacheEntries(cache), []);
});

test("empty tokens are distinct and decode to llama.cpp's [EMPTY_<id>] names", async () => {
  const { file, ids } = withTail('empties', ['', '']);
  const m = await loadModel(file, { cacheDir: path.join(tmp, 'c-empties'), threads: 1 });
  try {
    assert.deepEqual(ids.map((id) => m.tokenizer.decode([id])), ids.map((id) => `[EMPTY_${id}]`));
  } finally {
    await m.dispose();
  }
});

test('tokens whose bytes differ only in invalid UTF-8 are not refused as repeats', async () => {
  // Written as "Z1" and "Z2", then the digits replaced by the bytes 0xff and 0xfe: both read "Z\uFFFD".
  const { file } = withTail('invalid-utf8', ['Z1', 'Z2']);
  const bytes = fs.readFileSync(file);
  for (const [text, byte] of [['Z1', 0xff], ['Z2', 0xfe]] as const) {
    const at = bytes.indexOf(Buffer.concat([Buffer.from(new BigUint64Array([2n]).buffer), Buffer.from(text)]));
    assert.ok(at > 0, text);
    bytes[at + 9] = byte;
  }
  fs.writeFileSync(file, bytes);
  const f = openGguf(file);
  assert.deepEqual((f.metadata.get('tokenizer.ggml.tokens') as string[]).slice(-2), ['Z\uFFFD', 'Z\uFFFD']);
  await importGguf(file, { cacheDir: path.join(tmp, 'c-invalid-utf8') });
});
