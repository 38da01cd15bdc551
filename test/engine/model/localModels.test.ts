/**
 * Finding the GGUF models a user already has: Ollama's manifests and blobs, LM Studio's folders,
 * each with whether kvsteer can load it, on real files laid out as those tools lay them out; the
 * `ollama:<name>` model source and `kvsteer models`.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultLocalModelRoots, findLocalGgufs } from '../../../src/engine/model/localModels';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { loadModel } from '../../../src/engine/model/loadModel';
import { parseModelSource } from '../../../src/engine/model/modelSource';
import { spawnSync } from 'node:child_process';
import { repoRoot } from '../../support/paths';
import { addToOllamaStore } from '../../support/ollamaStore';
import { openGguf } from '../../../src/engine/gguf/ggufFile';
import { checkGgufSupported } from '../../../src/engine/gguf/importGguf';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-home-'));
const roots = defaultLocalModelRoots({}, home);

/** Writes a GGUF with `write` and stores it as Ollama does under ~/.ollama/models. */
function ollamaPull(model: string, tag: string, write: (file: string) => void, namespace = 'library', registry?: string): string {
  const base = path.join(home, '.ollama', 'models');
  const tmp = path.join(base, 'incoming.gguf');
  fs.mkdirSync(base, { recursive: true });
  write(tmp);
  return addToOllamaStore(base, tmp, { model, tag, namespace, registry, how: 'move' });
}

const tinyBlob = ollamaPull('tiny-smol', 'latest', (f) => writeTinyRandomGguf(f));
ollamaPull('tiny-qwen', '0.5b', (f) => writeTinyRandomGguf(f, { architecture: 'qwen2', seed: 3 }), 'someone');
const hfBlob = ollamaPull('Tiny-GGUF', 'Q4_K_M', (f) => writeTinyRandomGguf(f, { seed: 8 }), 'someone', 'hf.co');
ollamaPull('mamba', 'latest', (f) => writeTinyRandomGguf(f, { seed: 4, metadata: { 'general.architecture': { type: 'string', value: 'mamba' } } }));
// A manifest whose blob is missing (an interrupted pull) is not listed.
fs.mkdirSync(path.join(home, '.ollama', 'models', 'manifests', 'registry.ollama.ai', 'library', 'gone'), { recursive: true });
fs.writeFileSync(path.join(home, '.ollama', 'models', 'manifests', 'registry.ollama.ai', 'library', 'gone', 'latest'), JSON.stringify({ layers: [{ mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${'a'.repeat(64)}` }] }));
// An alias (`ollama cp tiny-smol smol-alias:v1`): a second manifest naming the same blob.
const manifests = path.join(home, '.ollama', 'models', 'manifests');
fs.mkdirSync(path.join(manifests, 'registry.ollama.ai', 'library', 'smol-alias'), { recursive: true });
fs.copyFileSync(path.join(manifests, 'registry.ollama.ai', 'library', 'tiny-smol', 'latest'), path.join(manifests, 'registry.ollama.ai', 'library', 'smol-alias', 'v1'));
// A model from a registry with a port.
const portBlob = ollamaPull('tiny', 'latest', (f) => writeTinyRandomGguf(f, { seed: 9 }), 'ns', 'localhost:5000');
const lms = path.join(home, '.lmstudio', 'models', 'someone', 'tiny-spm-GGUF');
fs.mkdirSync(lms, { recursive: true });
writeTinyRandomGguf(path.join(lms, 'tiny-spm-Q4_1.gguf'), { vocabulary: 'spm', seed: 5 });
writeTinyRandomGguf(path.join(lms, 'mmproj-tiny-f16.gguf'), { seed: 6 });
fs.writeFileSync(path.join(lms, 'README.md'), 'not a model');

test('Ollama and LM Studio models are found by the names those tools give them', () => {
  const found = findLocalGgufs(roots);
  assert.deepEqual(
    found.map((m) => [m.name, m.source, m.architecture, m.unsupported ?? 'ok']),
    [
      ['hf.co/someone/Tiny-GGUF:Q4_K_M', 'Ollama', 'llama', 'ok'],
      ['localhost:5000/ns/tiny:latest', 'Ollama', 'llama', 'ok'],
      ['smol-alias:v1', 'Ollama', 'llama', 'ok'],
      ['someone/tiny-qwen:0.5b', 'Ollama', 'qwen2', 'ok'],
      ['someone/tiny-spm-GGUF/tiny-spm-Q4_1.gguf', 'LM Studio', 'llama', 'ok'],
      ['tiny-smol:latest', 'Ollama', 'llama', 'ok'],
      ['mamba:latest', 'Ollama', 'mamba', 'architecture "mamba" is not supported (supported: llama, qwen2, qwen3, gemma3)'],
    ],
  );
  assert.equal(found.find((m) => m.name === 'tiny-smol:latest')!.path, tinyBlob);
  assert.equal(found.find((m) => m.name === 'smol-alias:v1')!.path, tinyBlob);
  assert.ok(found.every((m) => m.bytes === fs.statSync(m.path).size));
});

test('a model found in the Ollama store loads from its blob', async () => {
  const m = findLocalGgufs(roots).find((x) => x.name === 'tiny-smol:latest')!;
  const model = await loadModel(m.path, { cacheDir: path.join(home, 'cache'), threads: 1 });
  assert.equal(model.config.numLayers, 2);
  assert.equal(model.name, 'kvsteer-tiny-random'); // general.name, not the blob's digest
  await model.dispose();
});

test('a link whose target is gone is listed as unreadable, and the other models still are', () => {
  const other = path.join(home, 'linked');
  const folder = path.join(other, '.lmstudio', 'models', 'someone', 'linked-GGUF');
  fs.mkdirSync(folder, { recursive: true });
  writeTinyRandomGguf(path.join(folder, 'kept-Q4_1.gguf'), { seed: 7 });
  fs.symlinkSync(path.join(other, 'moved-away.gguf'), path.join(folder, 'gone-Q4_1.gguf'));
  const found = findLocalGgufs(defaultLocalModelRoots({}, other)).filter((m) => m.path.startsWith(other));
  assert.deepEqual(
    found.map((m) => [path.basename(m.path), m.unsupported ?? 'ok']),
    [
      ['kept-Q4_1.gguf', 'ok'],
      ['gone-Q4_1.gguf', 'cannot read the file (a link whose target is gone?)'],
    ],
  );
});

test('LM Studio files whose extension is upper case (.GGUF) are listed too, their projectors are not', () => {
  const other = path.join(home, 'upper');
  const folder = path.join(other, '.lmstudio', 'models', 'someone', 'Upper-GGUF');
  fs.mkdirSync(folder, { recursive: true });
  writeTinyRandomGguf(path.join(folder, 'Upper-Q4_1.GGUF'), { seed: 10 });
  writeTinyRandomGguf(path.join(folder, 'MMPROJ-Upper-F16.GGUF'), { seed: 11 });
  const found = findLocalGgufs(defaultLocalModelRoots({}, other)).filter((m) => m.path.startsWith(other));
  assert.deepEqual(
    found.map((m) => [m.name, m.unsupported ?? 'ok']),
    [['someone/Upper-GGUF/Upper-Q4_1.GGUF', 'ok']],
  );
});

test('a model folder linked into the LM Studio store (a symbolic link to a folder elsewhere) is listed', () => {
  const other = path.join(home, 'dirlink');
  const elsewhere = path.join(other, 'big-disk', 'Linked-GGUF');
  fs.mkdirSync(elsewhere, { recursive: true });
  writeTinyRandomGguf(path.join(elsewhere, 'linked-Q4_1.gguf'), { seed: 12 });
  const publisher = path.join(other, '.lmstudio', 'models', 'someone');
  fs.mkdirSync(publisher, { recursive: true });
  fs.symlinkSync(elsewhere, path.join(publisher, 'Linked-GGUF'), 'dir');
  const found = findLocalGgufs(defaultLocalModelRoots({}, other)).filter((m) => m.path.startsWith(other));
  assert.deepEqual(
    found.map((m) => [m.name, m.unsupported ?? 'ok']),
    [['someone/Linked-GGUF/linked-Q4_1.gguf', 'ok']],
  );
});

test('missing folders give an empty list, not an error', () => {
  assert.deepEqual(findLocalGgufs(defaultLocalModelRoots({}, path.join(home, 'nobody'))).filter((m) => m.path.startsWith(home)), []);
});

test('ollama:<name> resolves to the blob, "latest" when no tag is given, and a missing name is a clear error', () => {
  const saved = process.env.OLLAMA_MODELS;
  process.env.OLLAMA_MODELS = path.join(home, '.ollama', 'models');
  try {
    assert.deepEqual(parseModelSource('ollama:tiny-smol'), { kind: 'gguf', path: tinyBlob });
    assert.deepEqual(parseModelSource('ollama:tiny-smol:latest'), { kind: 'gguf', path: tinyBlob });
    // A model pulled from another registry, by the name Ollama gives it.
    assert.deepEqual(parseModelSource('ollama:hf.co/someone/Tiny-GGUF:Q4_K_M'), { kind: 'gguf', path: hfBlob });
    // A registry's port is not a tag; Ollama's own registry and namespace may be spelled out.
    assert.deepEqual(parseModelSource('ollama:localhost:5000/ns/tiny'), { kind: 'gguf', path: portBlob });
    assert.deepEqual(parseModelSource('ollama:registry.ollama.ai/library/tiny-smol:latest'), { kind: 'gguf', path: tinyBlob });
    assert.deepEqual(parseModelSource('ollama:library/smol-alias:v1'), { kind: 'gguf', path: tinyBlob });
    assert.throws(() => parseModelSource('ollama:nothere:7b'), /no Ollama model "nothere:7b" on this machine \(`ollama pull nothere:7b` fetches it/);
    // A blob path given directly is read as GGUF by its magic bytes, without the extension.
    assert.deepEqual(parseModelSource(tinyBlob), { kind: 'gguf', path: tinyBlob });
  } finally {
    if (saved === undefined) delete process.env.OLLAMA_MODELS;
    else process.env.OLLAMA_MODELS = saved;
  }
});

test("with OLLAMA_MODELS set, Ollama's models are that store's alone, as Ollama reads only it", () => {
  const store = path.join(home, 'ollama-elsewhere');
  const incoming = path.join(home, 'incoming-elsewhere.gguf');
  writeTinyRandomGguf(incoming, { seed: 13 });
  const blob = addToOllamaStore(store, incoming, { model: 'elsewhere', tag: 'latest', how: 'move' });
  // Spaces and quotes around the value are Ollama's to trim too.
  for (const value of [store, ` "${store}" `]) {
    const set = defaultLocalModelRoots({ OLLAMA_MODELS: value }, home);
    assert.deepEqual(set.ollama, [store]);
    const ollama = findLocalGgufs(set).filter((m) => m.source === 'Ollama' && m.path.startsWith(home));
    assert.deepEqual(ollama.map((m) => [m.name, m.path]), [['elsewhere:latest', blob]]);
  }
  // Unset or empty: the default store, where tiny-smol is.
  assert.ok(findLocalGgufs(defaultLocalModelRoots({ OLLAMA_MODELS: '' }, home)).some((m) => m.name === 'tiny-smol:latest'));
});

test('kvsteer models lists them, and kvsteer ask runs one by its Ollama name', () => {
  const cli = path.join(repoRoot, 'out', 'src', 'cli', 'main.js');
  const env = { ...process.env, HOME: home, OLLAMA_MODELS: '', KVSTEER_CACHE_DIR: path.join(home, 'cli-cache') };
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
  const list = run('models');
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /tiny-smol:latest {2}\(Ollama, llama, 0 MB\)\n {4}--model ollama:tiny-smol:latest/);
  assert.match(list.stdout, /mamba:latest {2}\(Ollama, mamba, 0 MB\)\n {4}not supported: architecture "mamba"/);
  const json = JSON.parse(run('models', '--json').stdout) as { name: string }[];
  assert.equal(json.length, 7);
  const answer = run('ask', 'the sea', '--model', 'ollama:tiny-smol', '--max-new-tokens', '4', '--json', '--threads', '1');
  assert.equal(answer.status, 0, answer.stderr);
  assert.equal(JSON.parse(answer.stdout).baseline.tokens.length, 4);
});

test("a mixed LM Studio store: each file's verdict is the loader's, read from the header alone", () => {
  const other = path.join(home, 'mixed');
  const store = path.join(other, '.lmstudio', 'models');
  const file = (name: string) => path.join(store, 'someone', 'Mixed-GGUF', name);
  fs.mkdirSync(path.dirname(file('x')), { recursive: true });
  const tiny = (name: string, opts: Parameters<typeof writeTinyRandomGguf>[1] = {}) => writeTinyRandomGguf(file(name), { seed: 20, ...opts });
  const str = (value: string) => ({ type: 'string' as const, value });
  tiny('ok-bpe.gguf');
  tiny('ok-spm.gguf', { vocabulary: 'spm' });
  tiny('ok-qwen3.gguf', { architecture: 'qwen3' });
  tiny('mamba.gguf', { metadata: { 'general.architecture': str('mamba') } });
  tiny('rwkv-vocab.gguf', { metadata: { 'tokenizer.ggml.model': str('rwkv') } });
  tiny('odd-pre.gguf', { metadata: { 'tokenizer.ggml.pre': str('mystery') } });
  tiny('base-model.gguf', { metadata: { 'tokenizer.chat_template': str(' ') } });
  tiny('split-00001-of-00003.gguf', { metadata: { 'split.count': { type: 'u32', value: 3 }, 'split.no': { type: 'u32', value: 0 } } });
  // A vocabulary shorter than the embedding's rows (counted, not read).
  tiny('short-vocab.gguf', { metadata: { 'tokenizer.ggml.tokens': { type: 'string[]', value: ['a', 'b', 'c'] } } });
  tiny('mxfp4.gguf');
  const buf = fs.readFileSync(file('mxfp4.gguf'));
  const norm = 'blk.0.attn_norm.weight';
  buf.writeUInt32LE(39, buf.indexOf(Buffer.from(norm)) + norm.length + 4 + 8); // ggml's MXFP4
  fs.writeFileSync(file('mxfp4.gguf'), buf);
  fs.writeFileSync(file('not-gguf.gguf'), 'not a model at all, just text');
  fs.writeFileSync(file('truncated.gguf'), fs.readFileSync(file('ok-bpe.gguf')).subarray(0, 4000));
  // Two tokens of the same text: a fault in the vocabulary's content, which the listing does not
  // read (the load refuses the file, naming it).
  const tokens = [...(openGguf(file('ok-bpe.gguf')).metadata.get('tokenizer.ggml.tokens') as string[])];
  tokens[tokens.length - 1] = tokens[tokens.length - 2];
  tiny('repeated-token.gguf', { metadata: { 'tokenizer.ggml.tokens': { type: 'string[]', value: tokens } } });
  // Token types or scores written as texts: counted, not read, in the listing, yet of the wrong type for the loader.
  tiny('text-types.gguf', { metadata: { 'tokenizer.ggml.token_type': { type: 'string[]', value: tokens.map(() => '1') } } });
  const spmTokens = openGguf(file('ok-spm.gguf')).metadata.get('tokenizer.ggml.tokens') as string[];
  tiny('text-scores.gguf', { vocabulary: 'spm', metadata: { 'tokenizer.ggml.scores': { type: 'string[]', value: spmTokens.map(() => '0') } } });

  const found = findLocalGgufs(defaultLocalModelRoots({}, other)).filter((m) => m.path.startsWith(other));
  const verdicts = Object.fromEntries(found.map((m) => [path.basename(m.path), m.unsupported ?? 'ok']));
  assert.deepEqual(verdicts, {
    'ok-bpe.gguf': 'ok',
    'ok-qwen3.gguf': 'ok',
    'ok-spm.gguf': 'ok',
    'repeated-token.gguf': 'ok',
    'base-model.gguf': 'no chat template (tokenizer.chat_template): kvsteer needs an instruction-tuned (chat) model',
    'mamba.gguf': 'architecture "mamba" is not supported (supported: llama, qwen2, qwen3, gemma3)',
    'mxfp4.gguf': 'tensor blk.0.attn_norm.weight: tensor type MXFP4 is not supported',
    'not-gguf.gguf': 'not a GGUF file (the magic bytes "GGUF" are missing)',
    'odd-pre.gguf': 'pre-tokenizer "mystery" is not supported',
    'rwkv-vocab.gguf': 'tokenizer model "rwkv" is not supported (only byte-level BPE "gpt2" and SentencePiece "llama")',
    'short-vocab.gguf': 'the vocabulary has 3 tokens but token_embd has 288 rows',
    'text-scores.gguf': 'metadata tokenizer.ggml.scores has the wrong type',
    'text-types.gguf': 'metadata tokenizer.ggml.token_type has the wrong type',
    'split-00001-of-00003.gguf': 'part 1 of a GGUF split into 3 files; kvsteer reads single-file GGUFs (`llama-gguf-split --merge` joins them)',
    'truncated.gguf': 'the GGUF header is truncated (needs byte 4699, file has 4000)',
  });
  // The loader's full check says the same of each, but for the vocabulary's content.
  for (const m of found) {
    let loader = 'ok';
    try {
      checkGgufSupported(openGguf(m.path));
    } catch (e) {
      loader = (e as Error).message.replace(`${m.path}: `, '');
    }
    if (path.basename(m.path) === 'repeated-token.gguf') assert.match(loader, /^token 287 \(.*\) repeats token 286; each text may appear once in the vocabulary/);
    else assert.equal(m.unsupported ?? 'ok', loader, path.basename(m.path));
  }
});
