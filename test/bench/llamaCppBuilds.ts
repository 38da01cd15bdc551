/**
 * `npm run diag:llamacpp-builds`: how much llama.cpp's own greedy continuations of the SmolLM2
 * Q4_1 file depend on which of its CPU builds runs. node-llama-cpp ships one ggml CPU library per
 * instruction-set level and loads the best this CPU supports. This runs the conformance test's 20
 * chat prompts (20 tokens each) with that build, then again with that one library left out of a
 * symlinked copy of node_modules (nothing is changed in place), so llama.cpp loads its next best
 * build. It prints which builds ran and the agreement of every pair among them and kvsteer: the
 * yardstick for the conformance test's greedy-agreement figure.
 *
 *   npm run diag:llamacpp-builds -- [--model file.gguf] [--threads 2]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../../src/engine/model/loadModel';
import { generate } from '../../src/engine/generation/generate';
import { defaultGgufPath } from '../../src/cli/defaultModel';
import { CHAT_PROMPTS } from '../support/conformanceStrings';
import { repoRoot } from '../support/paths';

const { values } = parseArgs({ options: { model: { type: 'string' }, threads: { type: 'string' } } });
const gguf = values.model ?? defaultGgufPath();
const threads = Number(values.threads ?? 2);
const BINS = path.join('@node-llama-cpp', `${process.platform}-${process.arch}`, 'bins', `${process.platform}-${process.arch}`);

/** Runs in the symlinked tree: greedy continuations with llama.cpp, and the CPU build it loaded. */
const CHILD = `
import fs from 'node:fs';
const { getLlama } = await import('node-llama-cpp');
const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let build = '?';
const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'debug', logger: (_level, msg) => {
  const m = /loaded CPU backend from .*libggml-cpu-([\\w-]+)\\.so/.exec(msg);
  if (m) build = m[1];
} });
const model = await llama.loadModel({ modelPath: job.gguf });
const ctx = await model.createContext({ contextSize: 1024, threads: job.threads });
const outputs = [];
for (const ids of job.prompts) {
  const seq = ctx.getSequence();
  const out = [];
  for await (const tok of seq.evaluate(ids, { temperature: 0 })) {
    if (job.eos.includes(Number(tok)) || out.length >= 20) break;
    out.push(Number(tok));
  }
  seq.dispose();
  outputs.push(out);
}
await ctx.dispose(); await model.dispose(); await llama.dispose();
process.stdout.write(JSON.stringify({ build, outputs }));
`;

/**
 * A folder whose node_modules links every package of this checkout, with node-llama-cpp's binary
 * package rebuilt as links that leave out the CPU library `without` (if any).
 */
function linkedTree(dir: string, without?: string): void {
  const src = path.join(repoRoot, 'node_modules');
  const linkAll = (from: string, to: string, skip: (name: string) => boolean) => {
    fs.mkdirSync(to, { recursive: true });
    for (const name of fs.readdirSync(from)) if (!skip(name)) fs.symlinkSync(path.join(from, name), path.join(to, name));
  };
  const binsDir = path.join(src, BINS);
  const parts = path.relative(src, binsDir).split(path.sep);
  // Link everything except the path down to the bins folder, which is rebuilt level by level.
  let from = src, to = path.join(dir, 'node_modules');
  for (const part of parts) {
    linkAll(from, to, (name) => name === part);
    from = path.join(from, part);
    to = path.join(to, part);
  }
  linkAll(from, to, (name) => name === `libggml-cpu-${without}.so`);
}

function runLlamaCpp(job: object, without?: string): { build: string; outputs: number[][] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-llamacpp-build-'));
  try {
    linkedTree(dir, without);
    fs.writeFileSync(path.join(dir, 'child.mjs'), CHILD);
    fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify(job));
    const r = spawnSync(process.execPath, ['--preserve-symlinks', '--preserve-symlinks-main', 'child.mjs', 'job.json'], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`llama.cpp run failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function agreement(a: number[][], b: number[][]): string {
  const same = a.map((x, i) => x.join() === b[i].join());
  return `${same.filter(Boolean).length}/${same.length} prompts (first five: ${same.slice(0, 5).filter(Boolean).length}/5)`;
}

async function main(): Promise<void> {
  const m = await loadModel(gguf, { threads });
  const prompts = CHAT_PROMPTS.map((p) => m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: p }])));
  const ours: number[][] = [];
  for (const ids of prompts) ours.push((await generate(m, { promptIds: ids, maxNewTokens: 20 })).tokenIds);
  const job = { gguf, threads, prompts, eos: m.config.eosTokenIds };
  await m.dispose();
  const first = runLlamaCpp(job);
  const second = runLlamaCpp(job, first.build);
  if (second.build === first.build) throw new Error(`llama.cpp loaded ${first.build} again`);
  console.log(`${path.basename(gguf)}, ${threads} threads, greedy, 20 tokens, the ${CHAT_PROMPTS.length} conformance prompts`);
  console.log(`llama.cpp CPU builds: ${first.build} (its choice on this CPU), ${second.build} (with ${first.build} left out)`);
  console.log(`  llama.cpp ${first.build} vs llama.cpp ${second.build}: ${agreement(first.outputs, second.outputs)}`);
  console.log(`  kvsteer vs llama.cpp ${first.build}: ${agreement(ours, first.outputs)}`);
  console.log(`  kvsteer vs llama.cpp ${second.build}: ${agreement(ours, second.outputs)}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
