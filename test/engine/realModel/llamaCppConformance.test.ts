/**
 * Conformance with llama.cpp (node-llama-cpp 3.21.1) on the same SmolLM2 GGUF: identical token ids
 * for varied strings, greedy continuations of chat prompts, and teacher-forced next-token top-1
 * agreement. llama.cpp runs on the CPU with its defaults (f16 KV cache). Greedy agreement is also
 * measured with llama.cpp running an F32 copy of the same weights.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generate } from '../../../src/engine/generation/generate';
import { argmax } from '../../../src/engine/generation/sampler';
import { loadRealModel, realGguf, realModelSkip } from '../../support/models';
import type { LoadedModel } from '../../../src/engine/model/loadModel';
import { writeF32Copy } from '../../support/f32Copy';
import { CHAT_PROMPTS, TOKENIZER_STRINGS } from '../../support/conformanceStrings';

type NodeLlamaCpp = typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });
type Token = import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).Token;
type LlamaContext = import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).LlamaContext;
const asTokens = (ids: number[]) => ids as unknown as Token[];

/** llama.cpp's greedy continuation of `ids`: at most 20 tokens, stopping at an end-of-sequence token. */
async function greedy20(ctx: LlamaContext, ids: number[], eosTokenIds: number[]): Promise<number[]> {
  const seq = ctx.getSequence();
  const out: number[] = [];
  for await (const tok of seq.evaluate(asTokens(ids), { temperature: 0 })) {
    if (eosTokenIds.includes(Number(tok)) || out.length >= 20) break;
    out.push(Number(tok));
  }
  seq.dispose();
  return out;
}

let llamaP:
  | Promise<{
      llama: import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).Llama;
      model: import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).LlamaModel;
      dispose(): Promise<void>;
    }>
  | undefined;
function llamaCpp() {
  llamaP ??= (async () => {
    const { getLlama } = (await import('node-llama-cpp')) as NodeLlamaCpp;
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
    const model = await llama.loadModel({ modelPath: realGguf });
    return { llama, model, dispose: async () => { await model.dispose(); await llama.dispose(); } };
  })();
  return llamaP;
}
after(async () => { if (llamaP) await (await llamaP).dispose(); });

test(`token ids equal llama.cpp's for ${TOKENIZER_STRINGS.length} varied strings`, { skip: realModelSkip }, async () => {
  assert.ok(TOKENIZER_STRINGS.length >= 50);
  const m = await loadRealModel();
  const { model } = await llamaCpp();
  const mismatches: string[] = [];
  for (const s of TOKENIZER_STRINGS) {
    const ours = m.tokenizer.encode(s);
    const theirs = Array.from(model.tokenize(s, true), Number);
    if (ours.join() !== theirs.join()) mismatches.push(`${JSON.stringify(s)}: ours [${ours}] llama.cpp [${theirs}]`);
  }
  assert.deepEqual(mismatches, []);
});

test('teacher-forced next-token top-1 agrees with llama.cpp on at least 95% of 200 positions', { skip: realModelSkip }, async (t) => {
  const m = await loadRealModel();
  const { model } = await llamaCpp();
  const text = m.tokenizer.applyChatTemplate(
    [
      { role: 'user', content: 'Tell me about the history of the bicycle.' },
      {
        role: 'assistant',
        content:
          'The bicycle was invented in the early 19th century. In 1817, Karl Drais built the "running machine", a two-wheeled vehicle pushed with the feet. Pedals arrived in the 1860s in France, and the "safety bicycle" with a chain drive and equal wheels appeared in 1885, designed by John Kemp Starley. Pneumatic tyres (1888, John Boyd Dunlop) made riding comfortable. Today, more than 1 billion bicycles are used worldwide: for commuting, sport and fun! Prices range from $100 to $10,000+. Fun fact: the Tour de France started in 1903.',
      },
      { role: 'user', content: 'Thanks! Can you summarise that in one line? ¿Y en español?' },
    ],
    false,
  );
  const ids = m.tokenizer.encode(text);
  assert.ok(ids.length >= 201, `only ${ids.length} tokens`);
  const n = ids.length;
  const ours = await m.backend.forward({ tokens: ids, cache: m.backend.emptyCache(), logitsToKeep: n });
  const ctx = await model.createContext({ contextSize: 1024, threads: 2 });
  try {
    const res = await ctx.getSequence().controlledEvaluate(asTokens(ids).map((id) => [id, { generateNext: { probabilities: true } }]));
    const V = m.config.vocabSize;
    let agree = 0;
    const positions = 200;
    for (let i = n - 1 - positions; i < n - 1; i++) {
      const theirs = res[i]?.next?.probabilities?.keys().next().value;
      if (theirs === argmax(ours.logits.subarray(i * V, (i + 1) * V))) agree++;
    }
    t.diagnostic(`teacher-forced top-1 agreement: ${agree}/${positions} = ${((100 * agree) / positions).toFixed(1)}%`);
    assert.ok(agree / positions >= 0.95, `${agree}/${positions}`);
  } finally {
    await ctx.dispose();
  }
});

test("greedy 20-token continuations of chat prompts agree with llama.cpp's Q4_1 run on at least half the prompts (the issue asks 4 of 5; see below)", { skip: realModelSkip }, async (t) => {
  const m = await loadRealModel();
  const { model } = await llamaCpp();
  const ctx = await model.createContext({ contextSize: 1024, threads: 2 });
  // The yardstick: llama.cpp against itself with another of its own attention paths (flash
  // attention off, f32 cache instead of its default f16 flash-attention path).
  const ctxAlt = await model.createContext({ contextSize: 1024, threads: 2, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
  const continuation = (c: LlamaContext, ids: number[]) => greedy20(c, ids, m.config.eosTokenIds);
  let agreeing = 0;
  const firstFive: boolean[] = [];
  const selfAgree: boolean[] = [];
  const forks: { ours: number; theirs: number }[] = [];
  try {
    for (const p of CHAT_PROMPTS) {
      const ids = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: p }]));
      const ours = (await generate(m, { promptIds: ids, maxNewTokens: 20 })).tokenIds;
      const theirs = await continuation(ctx, ids);
      selfAgree.push((await continuation(ctxAlt, ids)).join() === theirs.join());
      let same = 0;
      while (same < ours.length && same < theirs.length && ours[same] === theirs[same]) same++;
      const ok = ours.length === theirs.length && same === ours.length;
      if (ok) agreeing++;
      if (firstFive.length < 5) firstFive.push(ok);
      if (ok || same >= ours.length || same >= theirs.length) {
        t.diagnostic(`${ok ? 'agree' : `diverge at token ${same} (one side ended)`}: ${JSON.stringify(p)}`);
        continue;
      }
      const tie = await forkGaps(m, ctx, [...ids, ...ours.slice(0, same)], ours[same], theirs[same]);
      forks.push(tie);
      t.diagnostic(
        `diverge at token ${same}: ${JSON.stringify(p)}: kvsteer picks ${JSON.stringify(m.tokenizer.decode([ours[same]]))} by ${tie.ours.toFixed(3)} nat, ` +
          `llama.cpp picks ${JSON.stringify(m.tokenizer.decode([theirs[same]]))} by ${tie.theirs.toFixed(3)} nat`,
      );
    }
  } finally {
    await ctx.dispose();
    await ctxAlt.dispose();
  }
  t.diagnostic(`greedy 20-token agreement: ${agreeing}/${CHAT_PROMPTS.length} prompts; first five: ${firstFive.filter(Boolean).length}/5`);
  t.diagnostic(
    `llama.cpp against itself (default vs flash attention off + f32 cache): ${selfAgree.filter(Boolean).length}/${CHAT_PROMPTS.length} prompts; first five: ${selfAgree.slice(0, 5).filter(Boolean).length}/5`,
  );
  const widest = Math.max(0, ...forks.flatMap((f) => [f.ours, f.theirs]));
  t.diagnostic(`widest margin at a fork: ${widest.toFixed(3)} nat (bound ${NEAR_TIE_NAT})`);
  assert.ok(agreeing / CHAT_PROMPTS.length >= GREEDY_AGREEMENT_FLOOR, `${agreeing}/${CHAT_PROMPTS.length}`);
  assert.ok(widest <= NEAR_TIE_NAT, `a greedy path forked where one engine preferred its token by ${widest.toFixed(3)} nat`);
});

/**
 * Where the greedy paths fork, by how much each engine prefers its own token over the other's
 * (log-probability difference in nats): kvsteer from its logits after the shared prefix, llama.cpp
 * from its next-token probabilities there. Small on both sides means a near tie that llama.cpp's
 * 8-bit activation rounding (~0.1 nat of noise) can flip, not a wrong computation.
 */
async function forkGaps(m: LoadedModel, ctx: LlamaContext, prefix: number[], oursTok: number, theirsTok: number): Promise<{ ours: number; theirs: number }> {
  const { logits } = await m.backend.forward({ tokens: prefix, cache: m.backend.emptyCache(), logitsToKeep: 1 });
  const seq = ctx.getSequence();
  try {
    const res = await seq.controlledEvaluate(asTokens(prefix).map((id, i) => (i === prefix.length - 1 ? [id, { generateNext: { probabilities: true } }] : id)));
    const probs = res[prefix.length - 1]?.next?.probabilities;
    const theirsLog = (tok: number) => Math.log(probs?.get(tok as unknown as Token) ?? 0);
    return { ours: logits[oursTok] - logits[theirsTok], theirs: theirsLog(theirsTok) - theirsLog(oursTok) };
  } finally {
    seq.dispose();
  }
}

/**
 * The widest margin allowed where the greedy paths fork: one engine's pick at most e times as
 * likely as the other's. Measured here (AVX2 EPYC), at 7 forks: at most 0.12 nat on kvsteer's
 * side and 0.25 on llama.cpp's; the gap between the two tokens moved by up to 0.35 nat from one
 * engine to the other (llama.cpp's 8-bit rounding moves log-probs by ~0.1 nat rms each), so the
 * bound leaves room for another CPU's llama.cpp kernels. A wrong kernel or weight would fork the
 * paths at clear choices instead.
 */
const NEAR_TIE_NAT = 1;

test('greedy continuations agree with llama.cpp on 18 or more of 20 prompts and 4 of the first 5 when llama.cpp runs the same weights in F32 (20 of 20 measured here)', { skip: realModelSkip }, async (t) => {
  // Same weight values, metadata and tokenizer, stored dequantized: llama.cpp then computes in f32
  // (its default f16 flash-attention cache included) instead of rounding every matmul input to 8 bits.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-f32-'));
  const f32File = path.join(dir, 'SmolLM2-135M-Instruct.F32.gguf');
  const { llama, model: q41 } = await llamaCpp();
  try {
    writeF32Copy(realGguf, f32File);
    const model = await llama.loadModel({ modelPath: f32File });
    const ctx = await model.createContext({ contextSize: 1024, threads: 2 });
    const ctxQ41 = await q41.createContext({ contextSize: 1024, threads: 2 });
    const m = await loadRealModel();
    const continuation = (c: LlamaContext, ids: number[]) => greedy20(c, ids, m.config.eosTokenIds);
    let agreeing = 0, llamaCppQ41Agreeing = 0;
    const firstFive: boolean[] = [];
    for (const p of CHAT_PROMPTS) {
      const ids = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: p }]));
      const ours = (await generate(m, { promptIds: ids, maxNewTokens: 20 })).tokenIds;
      const theirs = await continuation(ctx, ids);
      if ((await continuation(ctxQ41, ids)).join() === theirs.join()) llamaCppQ41Agreeing++;
      const ok = ours.join() === theirs.join();
      if (ok) agreeing++;
      if (firstFive.length < 5) firstFive.push(ok);
      if (!ok) t.diagnostic(`diverges: ${JSON.stringify(p)}`);
    }
    await ctx.dispose();
    await ctxQ41.dispose();
    await model.dispose();
    t.diagnostic(`greedy 20-token agreement with llama.cpp on the F32 copy: ${agreeing}/${CHAT_PROMPTS.length} prompts; first five: ${firstFive.filter(Boolean).length}/5`);
    t.diagnostic(`llama.cpp on the Q4_1 file against llama.cpp on its F32 copy: ${llamaCppQ41Agreeing}/${CHAT_PROMPTS.length} prompts`);
    assert.ok(firstFive.filter(Boolean).length >= 4, `first five: ${firstFive.filter(Boolean).length}/5`);
    assert.ok(agreeing >= 18, `${agreeing}/${CHAT_PROMPTS.length}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The issue asks for 4 of 5 prompts (80%). Measured here: 13 of 20 (65%). llama.cpp's CPU kernels
 * round every matmul input to 8 bits, which moves its logits ~0.1 nat from the exact values and
 * makes them chaotic in the last bit (one flipped rounding grows into full quantisation noise
 * within a few layers); this tiny Q4_1 model has many near-ties, so greedy paths fork. llama.cpp
 * agrees with itself on only 10 of 20 when just its attention path changes (diagnostic above),
 * and its own CPU builds disagree as much: on this machine (a Sapphire Rapids Xeon, where
 * node-llama-cpp loads its AMX build) that build and its Zen 4 build, same file and settings,
 * agree on 12 of 20 and on 2 of the first 5 (`npm run diag:llamacpp-builds`, which also gives
 * kvsteer against each). Both round activations to 8 bits the same way; their matmul kernels
 * differ in the order of float operations, and one flipped rounding grows into noise as large as the
 * quantisation's own (in a plain-JS emulation of these kernels, accumulating in double instead of
 * float moved the log-probs by 0.13 nat rms; the 8-bit rounding itself moves them by 0.11).
 * (On an AVX2-only AMD EPYC, llama.cpp's haswell and piledriver builds share their kernels and
 * agree on 20 of 20; kvsteer agrees with each on 13 of 20, 1 of the first 5, as on the Xeon.)
 * Given the same weights stored as F32, llama.cpp agrees with us on 20 of 20 (test above).
 * The floor guards against regressions; it is not the acceptance figure.
 */
const GREEDY_AGREEMENT_FLOOR = 0.5;
