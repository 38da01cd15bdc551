/**
 * The engine against llama.cpp (node-llama-cpp 3.21.1) on tiny random GGUFs stored in F32: Llama,
 * Qwen2 and Qwen3 with byte-level BPE vocabularies, and Llama with a SentencePiece vocabulary (scores,
 * byte fallback). With f32 weights llama.cpp computes in f32 throughout (its quantized matmuls are
 * what round activations to 8 bits), so the two should agree to rounding. Checks the tokenizer and
 * the tokens that end a generation,
 * the Q/K row handling of each architecture (Llama's permutation undone, Qwen2's rows kept),
 * Qwen2's biases and RoPE, Qwen3's head norms and wider heads, on llama.cpp's own reading of the
 * same file.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GgmlType } from '../../../src/engine/gguf/ggmlTypes';
import { GgufWriteValue } from '../../../src/engine/gguf/ggufWriter';
import { loadModel } from '../../../src/engine/model/loadModel';
import { TINY_BPE_MERGES, writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { PRE_TOKENIZER_FAMILIES } from '../../../src/engine/gguf/tokenizerFromGguf';
import { argmax } from '../../../src/engine/generation/sampler';
import { generate } from '../../../src/engine/generation/generate';
import { RepeatPenalty } from '../../../src/engine/generation/repeatPenalty';
import { TOKENIZER_STRINGS } from '../../support/conformanceStrings';

type NodeLlamaCpp = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });
type Token = import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).Token;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-tiny-llamacpp-'));
const llamaP = (async () => {
  const { getLlama } = (await import('node-llama-cpp')) as NodeLlamaCpp;
  return getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
})();
after(async () => (await llamaP).dispose());

const TEXT = '<|im_start|>user\nthe sun is in the sky, and 12345 waves in the sea<|im_end|>\n<|im_start|>assistant\nthe answer is in the sea; naïve 日本';

interface Variant {
  architecture: 'llama' | 'qwen2' | 'qwen3' | 'gemma3';
  headDim?: number;
  vocabulary: 'bpe' | 'spm';
  /** What the metadata adds, for the test's name. */
  extra?: string;
  metadata?: Record<string, GgufWriteValue>;
}
const VARIANTS: Variant[] = [
  { architecture: 'llama', vocabulary: 'bpe' },
  { architecture: 'qwen2', vocabulary: 'bpe' },
  // Heads twice as wide as hidden / heads, as Qwen3's are.
  { architecture: 'qwen3', vocabulary: 'bpe', headDim: 32 },
  // A SentencePiece vocabulary without the space prefix, as Gemma's; the 80-token text runs far
  // past the 8-token window of its local layer.
  { architecture: 'gemma3', vocabulary: 'spm', headDim: 32, extra: 'no space prefix', metadata: { 'tokenizer.ggml.add_space_prefix': { type: 'bool', value: false } } },
  {
    architecture: 'gemma3', vocabulary: 'spm', headDim: 32, extra: 'final logit soft-capping at 1',
    metadata: { 'tokenizer.ggml.add_space_prefix': { type: 'bool', value: false }, 'gemma3.final_logit_softcapping': { type: 'f32', value: 1 } },
  },
  { architecture: 'llama', vocabulary: 'spm' },
  { architecture: 'llama', vocabulary: 'spm', extra: 'no space prefix', metadata: { 'tokenizer.ggml.add_space_prefix': { type: 'bool', value: false } } },
  {
    architecture: 'llama', vocabulary: 'bpe', extra: 'linear RoPE scaling ×4',
    metadata: { 'llama.rope.scaling.type': { type: 'string', value: 'linear' }, 'llama.rope.scaling.factor': { type: 'f32', value: 4 } },
  },
];
const EXTRA_STRINGS = ['the sea is in the sea', '  the  sea', '123123 1234 12', 'é è ï ü', '\u2581the', 'the\u2581the', 'in▁▁the', ''];

for (const { architecture, vocabulary, extra, metadata, headDim } of VARIANTS) {
  const name = [architecture, vocabulary, ...(extra ? [extra.replace(/\W+/g, '-')] : [])].join('-');
  const kind = `${vocabulary === 'spm' ? 'SentencePiece' : 'byte-level BPE'} vocabulary${extra ? ` (${extra})` : ''}`;
  test(`a tiny ${architecture} GGUF with a ${kind} in F32 gives llama.cpp's tokens and next-token probabilities`, async (t) => {
    const file = path.join(dir, `${name}.gguf`);
    writeTinyRandomGguf(file, { architecture, vocabulary, matrixType: GgmlType.F32, embeddingType: GgmlType.F32, seed: 7, metadata, headDim });
    const ours = await loadModel(file, { cacheDir: path.join(dir, 'cache'), threads: 1 });
    const llama = await llamaP;
    const model = await llama.loadModel({ modelPath: file });
    const ctx = await model.createContext({ contextSize: 256, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
    try {
      const mismatches: string[] = [];
      for (const str of [...TOKENIZER_STRINGS, ...EXTRA_STRINGS]) {
        const a = ours.tokenizer.encode(str), b = Array.from(model.tokenize(str, true), Number);
        if (a.join() !== b.join()) mismatches.push(`${JSON.stringify(str)}: ours [${a}] llama.cpp [${b}]`);
      }
      assert.deepEqual(mismatches, []);
      const ids = Array.from(model.tokenize(TEXT, true), Number);
      assert.deepEqual(ours.tokenizer.encode(TEXT), ids);
      // The tokens that end a generation: llama.cpp's, found by id and by text.
      const eog = Array.from({ length: ours.config.vocabSize }, (_, i) => i).filter((i) => model.isEogToken(i as unknown as Token));
      assert.deepEqual([...ours.config.eosTokenIds].sort((a, b) => a - b), eog);
      const res = await ctx.getSequence().controlledEvaluate((ids as unknown as Token[]).map((id) => [id, { generateNext: { probabilities: true } }]));
      const n = ids.length, V = ours.config.vocabSize;
      const out = await ours.backend.forward({ tokens: ids, cache: ours.backend.emptyCache(), logitsToKeep: n });
      let top1 = 0, maxDiff = 0, topP = 0;
      for (let i = 0; i < n; i++) {
        const lg = out.logits.subarray(i * V, (i + 1) * V);
        let mx = -Infinity;
        for (const v of lg) mx = Math.max(mx, v);
        let z = 0;
        for (const v of lg) z += Math.exp(v - mx);
        const theirs = [...res[i]!.next!.probabilities!.entries()].slice(0, 10);
        if (argmax(lg) === Number(theirs[0][0])) top1++;
        topP += theirs[0][1] / n;
        for (const [tok, p] of theirs) maxDiff = Math.max(maxDiff, Math.abs(Math.exp(lg[Number(tok)] - mx) / z - p));
      }
      t.diagnostic(`${name}: top-1 ${top1}/${n} positions, max |Δp| over llama.cpp's top 10: ${maxDiff.toExponential(2)}, mean top-1 p ${topP.toFixed(2)}`);
      assert.equal(top1, n);
      assert.ok(maxDiff < 1e-4, `max |Δp| = ${maxDiff}`);
    } finally {
      await ctx.dispose();
      await model.dispose();
      await ours.dispose();
    }
  });
}

/**
 * Merges that cross the boundaries the pre-tokenizers draw (digit runs, contractions, newlines,
 * runs of spaces, punctuation before letters), so that a different split shows as different ids.
 */
const BOUNDARY_MERGES = [...TINY_BPE_MERGES, '1 2', '12 3', '4 5', '45 6', "' s", "' S", 'Ċ Ċ', 'Ġ Ġ', 'ĠĠ Ġ', 'Ġ 1', '( x', ') Ċ', '0 0'];
const BOUNDARY_STRINGS = ["it's 123456 and 7890000", "IT'S (x) 12", '  (x)\n\n  y', "He's 12,345.67 (a)\n\n\nb   c", 'x\r\ny', 'a\u00a0 b', '$100 <=> ^~|', '1000000 0.5'];

test("every pre-tokenizer name kvsteer reads splits text as llama.cpp's does", async (t) => {
  const llama = await llamaP;
  const names = Object.values(PRE_TOKENIZER_FAMILIES).flat();
  const mismatches: string[] = [];
  for (const pre of names) {
    const file = path.join(dir, `pre-${pre}.gguf`);
    writeTinyRandomGguf(file, { merges: BOUNDARY_MERGES, metadata: { 'tokenizer.ggml.pre': { type: 'string', value: pre } } });
    const ours = await loadModel(file, { cacheDir: path.join(dir, 'cache'), threads: 1 });
    const model = await llama.loadModel({ modelPath: file });
    for (const str of [...TOKENIZER_STRINGS, ...BOUNDARY_STRINGS]) {
      const a = ours.tokenizer.encode(str), b = Array.from(model.tokenize(str, true), Number);
      if (a.join() !== b.join()) mismatches.push(`${pre} ${JSON.stringify(str)}: ours [${a}] llama.cpp [${b}]`);
    }
    await model.dispose();
    await ours.dispose();
  }
  t.diagnostic(`${names.length} pre-tokenizer names × ${TOKENIZER_STRINGS.length + BOUNDARY_STRINGS.length} strings`);
  assert.deepEqual(mismatches, []);
});

test("vocabularies llama.cpp reads its own way tokenize as llama.cpp's: whole words first for the Llama 3 family, tokens named like object properties, a literal <unk>, BOS when the file does not say", async () => {
  const llama = await llamaP;
  const word = 'constructor';
  const spellIt = Array.from({ length: word.length - 1 }, (_, k) => `${word.slice(0, k + 1)} ${word[k + 1]}`);
  const cases: { name: string; options: Parameters<typeof writeTinyRandomGguf>[1]; strings: string[]; noBosKey?: boolean }[] = [
    // "the" is a vocabulary token the merges reach only through "th e" after "t h"; llama.cpp's Llama 3 family looks the word up whole.
    { name: 'llama-bpe', options: { merges: ['h e', 't h', 'th e'], metadata: { 'tokenizer.ggml.pre': { type: 'string', value: 'llama-bpe' } } }, strings: ['the', 'the sea'] },
    { name: 'constructor', options: { merges: spellIt }, strings: ['a.constructor', 'x.toString'] },
    { name: 'spm-unk', options: { vocabulary: 'spm' }, strings: ['a<unk>b'] },
    { name: 'spm-no-bos-key', options: { vocabulary: 'spm' }, strings: [], noBosKey: true },
    { name: 'llama-bpe-no-bos-key', options: { metadata: { 'tokenizer.ggml.pre': { type: 'string', value: 'llama-bpe' } } }, strings: [], noBosKey: true },
  ];
  const mismatches: string[] = [];
  for (const c of cases) {
    const file = path.join(dir, `vocab-${c.name}.gguf`);
    writeTinyRandomGguf(file, c.options);
    if (c.noBosKey) {
      // An older file: no tokenizer.ggml.add_bos_token key (renamed in place, same length).
      const bytes = fs.readFileSync(file);
      const at = bytes.indexOf('tokenizer.ggml.add_bos_token');
      assert.ok(at > 0);
      bytes.write('tokenizer.ggml.add_bos_tokex', at);
      fs.writeFileSync(file, bytes);
    }
    const ours = await loadModel(file, { cacheDir: path.join(dir, 'cache'), threads: 1 });
    const model = await llama.loadModel({ modelPath: file });
    for (const str of c.strings) {
      const a = ours.tokenizer.encode(str), b = Array.from(model.tokenize(str, true), Number);
      if (a.join() !== b.join()) mismatches.push(`${c.name} ${JSON.stringify(str)}: ours [${a}] llama.cpp [${b}]`);
    }
    const bos = ours.tokenizer.encode(ours.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }], true))[0] === model.tokens.bos;
    if (c.noBosKey && (model.tokens.shouldPrependBosToken !== true || !bos)) mismatches.push(`${c.name}: llama.cpp adds BOS: ${model.tokens.shouldPrependBosToken}; ours starts with it: ${bos}`);
    await model.dispose();
    await ours.dispose();
  }
  assert.deepEqual(mismatches, []);
});

test("a SentencePiece file's BOS, EOS and unknown ids, absent or outside the vocabulary, are llama.cpp's defaults", async () => {
  const llama = await llamaP;
  const u32 = (value: number): GgufWriteValue => ({ type: 'u32', value });
  const addBos: GgufWriteValue = { type: 'bool', value: true };
  const cases: { name: string; metadata: Record<string, GgufWriteValue>; hide?: boolean }[] = [
    { name: 'outside', metadata: { 'tokenizer.ggml.bos_token_id': u32(5000), 'tokenizer.ggml.eos_token_id': u32(9000), 'tokenizer.ggml.unknown_token_id': u32(7000), 'tokenizer.ggml.add_bos_token': addBos } },
    { name: 'absent', metadata: { 'tokenizer.ggml.add_bos_token': addBos }, hide: true },
  ];
  const mismatches: string[] = [];
  for (const c of cases) {
    const file = path.join(dir, `spm-ids-${c.name}.gguf`);
    writeTinyRandomGguf(file, { vocabulary: 'spm', metadata: c.metadata });
    if (c.hide) {
      // The keys renamed in place (same length), so that the file names none of these tokens.
      const bytes = fs.readFileSync(file);
      for (const key of ['bos', 'eos', 'unknown']) {
        const at = bytes.indexOf(`tokenizer.ggml.${key}_token_id`);
        assert.ok(at > 0);
        bytes.write(`tokenizer.ggml.${key}_token_ix`, at);
      }
      fs.writeFileSync(file, bytes);
    }
    const ours = await loadModel(file, { cacheDir: path.join(dir, 'cache'), threads: 1, onWarning: () => {} });
    const model = await llama.loadModel({ modelPath: file });
    const eog = Array.from({ length: ours.config.vocabSize }, (_, i) => i).filter((i) => model.isEogToken(i as unknown as Token));
    const first = ours.tokenizer.encode(ours.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }], true))[0];
    const theirs = { bos: Number(model.tokens.bos), first: Number(model.tokens.bos), eog };
    const oursNow = { bos: ours.config.bosTokenId, first, eog: [...ours.config.eosTokenIds].sort((a, b) => a - b) };
    if (JSON.stringify(oursNow) !== JSON.stringify(theirs)) mismatches.push(`${c.name}: ours ${JSON.stringify(oursNow)} llama.cpp ${JSON.stringify(theirs)}`);
    await model.dispose();
    await ours.dispose();
  }
  assert.deepEqual(mismatches, []);
});

test("greedy decoding with a repeat penalty picks llama.cpp's tokens under the same penalty and window", async (t) => {
  const file = path.join(dir, 'repeat-penalty.gguf');
  writeTinyRandomGguf(file, { matrixType: GgmlType.F32, embeddingType: GgmlType.F32, seed: 7 });
  const ours = await loadModel(file, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  const llama = await llamaP;
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: 256, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
  const prompt = ours.tokenizer.encode(TEXT);
  const eos = ours.config.eosTokenIds;
  const N = 48;
  // llama.cpp is handed the window explicitly: the last lastN tokens of prompt and answer.
  const theirs = async (p?: RepeatPenalty): Promise<number[]> => {
    const seq = ctx.getSequence();
    const context = [...prompt], out: number[] = [];
    const repeatPenalty = p ? { penalty: p.penalty, punishTokens: () => context.slice(-p.lastN) as unknown as Token[] } : undefined;
    for await (const tok of seq.evaluate(prompt as unknown as Token[], { temperature: 0, repeatPenalty })) {
      if (eos.includes(Number(tok)) || out.length >= N) break;
      out.push(Number(tok));
      context.push(Number(tok));
    }
    seq.dispose();
    return out;
  };
  const mine = async (p?: RepeatPenalty) => (await generate(ours, { promptIds: prompt, maxNewTokens: N, repeatPenalty: p })).tokenIds;
  try {
    const penalty = { penalty: 1.5, lastN: 16 };
    const [plainOurs, plainTheirs] = [await mine(), await theirs()];
    const [penOurs, penTheirs] = [await mine(penalty), await theirs(penalty)];
    t.diagnostic(`plain: ${plainOurs.length} tokens; penalised: ${penOurs.length} tokens, first difference from plain at ${penOurs.findIndex((id, i) => id !== plainOurs[i])}`);
    assert.deepEqual(plainOurs, plainTheirs);
    assert.notDeepEqual(penOurs, plainOurs, 'the penalty changed nothing, so this test shows nothing');
    assert.deepEqual(penOurs, penTheirs);
  } finally {
    await ctx.dispose();
    await model.dispose();
    await ours.dispose();
  }
});
