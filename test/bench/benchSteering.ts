/**
 * `npm run bench:steering`: what steering costs, measured side by side in one run on the real
 * SmolLM2 GGUF (the paper's Figure 3). Paired runs (baseline, cache-steered and activation-steered,
 * same prompt, the same number of decoded tokens) give the per-token decode ratios against the
 * baseline (median over the runs), and the one-shot cache edit is timed on its own. A comparison
 * (baseline, then steered) of a question with a full attachment budget is timed with the steered side
 * reusing the baseline's prefill (as `ask --compare`, the editor and `@kvsteer /compare` run it)
 * against the two sides prefilling each, alternating.
 *
 *   npm run bench:steering -- [--pairs 7] [--decode 128] [--threads 2] [--cv 6]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../../src/engine/model/loadModel';
import { generate, msPerToken } from '../../src/engine/generation/generate';
import { generateSteered } from '../../src/engine/steering/applySteering';
import { findVectorForModel } from '../../src/engine/steering/findVector';
import { activationAdditions } from '../../src/engine/steering/activationSteering';
import { defaultCaa } from '../../src/engine/eval/runEval';
import { cliCacheDir, defaultGgufPath, repoRoot } from '../../src/cli/defaultModel';
import { ask } from '../../src/engine/ask';
import { MAX_ATTACHED_CHARS, attachToPrompt } from '../../src/engine/promptAttachments';

const { values } = parseArgs({ options: { pairs: { type: 'string' }, decode: { type: 'string' }, threads: { type: 'string' }, cv: { type: 'string' } } });
const pairs = Number(values.pairs ?? 7);
const decode = Number(values.decode ?? 128);
const threads = Number(values.threads ?? 2);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const gguf = defaultGgufPath();
  if (!fs.existsSync(gguf)) throw new Error(`${gguf} is missing: run npm run model:fetch`);
  const m = await loadModel(gguf, { cacheDir: cliCacheDir(), threads });
  const found = findVectorForModel([path.join(repoRoot, 'vectors')], m);
  if (!found) throw new Error('no shipped vector fits the model');
  const cV = Number(values.cv ?? found.vector.meta.recommended.cV);
  const messages = [{ role: 'user' as const, content: 'Why do leaves change colour in autumn?' }];
  const baseIds = m.tokenizer.encode(m.tokenizer.applyChatTemplate(messages, true));
  // Warm-up of both paths: first runs allocate buffers and compile the edit loop.
  await generate(m, { promptIds: baseIds, maxNewTokens: 8, ignoreEos: true });
  await generateSteered(m, { messages, vector: found.vector, strength: { cK: 0, cV }, maxNewTokens: 8, ignoreEos: true });
  const caa = found.vector.hidden ? activationAdditions(m, found.vector, defaultCaa(m)) : undefined;
  const ratios: number[] = [], caaRatios: number[] = [], base: number[] = [], steer: number[] = [], act: number[] = [], edits: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const b = await generate(m, { promptIds: baseIds, maxNewTokens: decode, ignoreEos: true });
    const s = await generateSteered(m, { messages, vector: found.vector, strength: { cK: 0, cV }, maxNewTokens: decode, ignoreEos: true });
    base.push(msPerToken(b.timings));
    steer.push(msPerToken(s.timings));
    ratios.push(msPerToken(s.timings) / msPerToken(b.timings));
    edits.push(s.timings.editMs);
    if (caa) {
      // Activation steering decodes the same way (prompt minus its last token prefilled) and adds
      // the direction in every step.
      const a = await generate(m, { promptIds: baseIds, maxNewTokens: decode, ignoreEos: true, holdBack: 1, activationAdd: caa });
      act.push(msPerToken(a.timings));
      caaRatios.push(msPerToken(a.timings) / msPerToken(b.timings));
    }
  }
  // A question with a full attachment budget of real text (the shipped examples' reasoning steps).
  const examples = fs.readFileSync(path.join(repoRoot, 'vectors', 'datasets', 'reasoning-v1.jsonl'), 'utf8').trim().split('\n');
  const text = examples.map((l) => (JSON.parse(l) as { steps: string }).steps).join('\n').slice(0, MAX_ATTACHED_CHARS);
  const question = attachToPrompt('Which of these steps is about water?', [{ name: 'reasoning-v1.txt', text }]).content;
  const longIds = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: question }], true)).length;
  const compareReq = { question, vector: found.vector, strength: { cK: 0, cV }, maxNewTokens: 16 };
  const shared: number[] = [], separate: number[] = [], steeredShared: number[] = [], steeredSeparate: number[] = [];
  for (let i = 0; i < Math.max(3, Math.ceil(pairs / 2)); i++) {
    let t = performance.now();
    const both = await ask(m, { ...compareReq, mode: 'compare' });
    shared.push(performance.now() - t);
    steeredShared.push(both.steered!.totalMs);
    if (!both.steered!.prefillReused) throw new Error('the comparison did not reuse the prefill');
    t = performance.now();
    await ask(m, { ...compareReq, mode: 'baseline' });
    const alone = await ask(m, { ...compareReq, mode: 'steered' });
    separate.push(performance.now() - t);
    steeredSeparate.push(alone.steered!.totalMs);
  }
  await m.dispose();
  console.log(`Steering overhead: ${path.basename(gguf)}, vector ${found.id} (c_v ${cV}), ${threads} threads, ${decode} tokens per run, ${pairs} paired runs`);
  console.log(`baseline decode:  median ${median(base).toFixed(2)} ms/token   (runs: ${base.map((x) => x.toFixed(2)).join(', ')})`);
  console.log(`steered decode:   median ${median(steer).toFixed(2)} ms/token   (runs: ${steer.map((x) => x.toFixed(2)).join(', ')})`);
  if (act.length) console.log(`activation-steered decode: median ${median(act).toFixed(2)} ms/token   (runs: ${act.map((x) => x.toFixed(2)).join(', ')})`);
  console.log(`per-token ratio cache-steered / baseline: median ${median(ratios).toFixed(3)}   (pairs: ${ratios.map((x) => x.toFixed(3)).join(', ')})`);
  if (caaRatios.length) console.log(`per-token ratio activation-steered / baseline: median ${median(caaRatios).toFixed(3)}   (pairs: ${caaRatios.map((x) => x.toFixed(3)).join(', ')})`);
  console.log(`one-shot cache edit: median ${median(edits).toFixed(3)} ms, max ${Math.max(...edits).toFixed(3)} ms`);
  const secs = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(', ');
  console.log(`comparison of a ${longIds}-token prompt (16 tokens per side), ${shared.length} alternating runs:`);
  console.log(`  prefill shared:   median ${(median(shared) / 1000).toFixed(2)} s, steered side ${(median(steeredShared) / 1000).toFixed(2)} s   (runs: ${secs(shared)})`);
  console.log(`  prefill per side: median ${(median(separate) / 1000).toFixed(2)} s, steered side ${(median(steeredSeparate) / 1000).toFixed(2)} s   (runs: ${secs(separate)})`);
  console.log(`  ratio shared / per side: ${(median(shared) / median(separate)).toFixed(3)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
