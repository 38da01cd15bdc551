/**
 * The engine against llama.cpp (node-llama-cpp 3.21.1) on tiny random GGUFs stored in F32: Llama
 * and Qwen2 with byte-level BPE vocabularies, and Llama with a SentencePiece vocabulary (scores,
 * byte fallback). With f32 weights llama.cpp computes in f32 throughout (its quantized matmuls are
 * what round activations to 8 bits), so the two should agree to rounding. Checks the tokenizer,
 * the Q/K row handling of each architecture (Llama's permutation undone, Qwen2's rows kept),
 * Qwen2's biases and RoPE, on llama.cpp's own reading of the same file.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GgmlType } from '../../../src/engine/gguf/ggmlTypes';
import { loadModel } from '../../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../../src/engine/model/tinyRandomModel';
import { argmax } from '../../../src/engine/generation/sampler';
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

const VARIANTS = [
  { architecture: 'llama', vocabulary: 'bpe' },
  { architecture: 'qwen2', vocabulary: 'bpe' },
  { architecture: 'llama', vocabulary: 'spm' },
] as const;
const EXTRA_STRINGS = ['the sea is in the sea', '  the  sea', '123123 1234 12', 'é è ï ü', '\u2581the', 'the\u2581the', 'in▁▁the', ''];

for (const { architecture, vocabulary } of VARIANTS) {
  const name = `${architecture}-${vocabulary}`;
  test(`a tiny ${architecture} GGUF with a ${vocabulary === 'spm' ? 'SentencePiece' : 'byte-level BPE'} vocabulary in F32 gives llama.cpp's tokens and next-token probabilities`, async (t) => {
    const file = path.join(dir, `${name}.gguf`);
    writeTinyRandomGguf(file, { architecture, vocabulary, matrixType: GgmlType.F32, embeddingType: GgmlType.F32, seed: 7 });
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
      const res = await ctx.getSequence().controlledEvaluate((ids as unknown as Token[]).map((id) => [id, { generateNext: { probabilities: true } }]));
      const n = ids.length, V = ours.config.vocabSize;
      const out = await ours.backend.forward({ tokens: ids, cache: ours.backend.emptyCache(), logitsToKeep: n });
      let top1 = 0, maxDiff = 0;
      for (let i = 0; i < n; i++) {
        const lg = out.logits.subarray(i * V, (i + 1) * V);
        let mx = -Infinity;
        for (const v of lg) mx = Math.max(mx, v);
        let z = 0;
        for (const v of lg) z += Math.exp(v - mx);
        const theirs = [...res[i]!.next!.probabilities!.entries()].slice(0, 10);
        if (argmax(lg) === Number(theirs[0][0])) top1++;
        for (const [tok, p] of theirs) maxDiff = Math.max(maxDiff, Math.abs(Math.exp(lg[Number(tok)] - mx) / z - p));
      }
      t.diagnostic(`${name}: top-1 ${top1}/${n} positions, max |Δp| over llama.cpp's top 10: ${maxDiff.toExponential(2)}`);
      assert.equal(top1, n);
      assert.ok(maxDiff < 1e-4, `max |Δp| = ${maxDiff}`);
    } finally {
      await ctx.dispose();
      await model.dispose();
      await ours.dispose();
    }
  });
}
