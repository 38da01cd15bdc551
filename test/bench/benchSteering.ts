/**
 * `npm run bench:steering`: what steering costs, measured side by side in one run on the real
 * SmolLM2 GGUF (the paper's Figure 3). Paired runs (baseline, cache-steered and activation-steered,
 * same prompt, the same number of decoded tokens) give the per-token decode ratios against the
 * baseline (median over the runs), and the one-shot cache edit is timed on its own.
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
  await m.dispose();
  console.log(`Steering overhead: ${path.basename(gguf)}, vector ${found.id} (c_v ${cV}), ${threads} threads, ${decode} tokens per run, ${pairs} paired runs`);
  console.log(`baseline decode:  median ${median(base).toFixed(2)} ms/token   (runs: ${base.map((x) => x.toFixed(2)).join(', ')})`);
  console.log(`steered decode:   median ${median(steer).toFixed(2)} ms/token   (runs: ${steer.map((x) => x.toFixed(2)).join(', ')})`);
  if (act.length) console.log(`activation-steered decode: median ${median(act).toFixed(2)} ms/token   (runs: ${act.map((x) => x.toFixed(2)).join(', ')})`);
  console.log(`per-token ratio cache-steered / baseline: median ${median(ratios).toFixed(3)}   (pairs: ${ratios.map((x) => x.toFixed(3)).join(', ')})`);
  if (caaRatios.length) console.log(`per-token ratio activation-steered / baseline: median ${median(caaRatios).toFixed(3)}   (pairs: ${caaRatios.map((x) => x.toFixed(3)).join(', ')})`);
  console.log(`one-shot cache edit: median ${median(edits).toFixed(3)} ms, max ${Math.max(...edits).toFixed(3)} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
