/**
 * `npm run bench:engine`: engine speed on the real SmolLM2 GGUF (or any GGUF given with --model),
 * side by side with llama.cpp (node-llama-cpp) on the same file, the same prompt tokens and thread
 * count, in one run. Each side runs in its own child process so its peak RSS is its own; the cold
 * import runs in a third, since the garbage it leaves is freed whenever V8 gets to it, which made a
 * process that imported and then generated peak anywhere between 570 and 880 MB. Prints cold import,
 * warm load, prefill and decode tokens/s, peak RSS, and the decode ratio ours / llama.cpp; then
 * kvsteer's prefill of a 3,000-token prompt and the longest wait of the event loop during it.
 * kvsteer runs twice: with its ONNX Runtime session on the calling thread (the CLI) and in a worker
 * thread (the extension host), so the cost of the worker shows as a ratio.
 *
 *   npm run bench:engine -- [--model file.gguf|ollama:name] [--threads 2] [--decode 128] [--runs 3] [--precision exact|fast]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadModel } from '../../src/engine/model/loadModel';
import { generate, msPerToken } from '../../src/engine/generation/generate';
import { ImportPrecision } from '../../src/engine/gguf/importGguf';
import { defaultGgufPath } from '../../src/cli/defaultModel';
import { parseModelSource } from '../../src/engine/model/modelSource';

const { values } = parseArgs({
  options: {
    model: { type: 'string' }, threads: { type: 'string' }, decode: { type: 'string' }, runs: { type: 'string' }, precision: { type: 'string' },
    child: { type: 'string' }, ids: { type: 'string' }, cache: { type: 'string' }, 'session-thread': { type: 'string' },
  },
});
const threads = Number(values.threads ?? 2);
const decodeTokens = Number(values.decode ?? 128);
const runs = Number(values.runs ?? 3);
const precision = (values.precision ?? 'exact') as ImportPrecision;
/** Where our session runs: on the calling thread (the CLI) or in a worker (the extension host). */
const sessionThread = values['session-thread'] === 'worker' ? 'worker' : 'main';
const gguf = ggufPath(values.model);

/** The GGUF to measure: the fetched SmolLM2 by default; llama.cpp needs a GGUF, so nothing else. */
function ggufPath(spec: string | undefined): string {
  if (!spec) return defaultGgufPath();
  const src = parseModelSource(spec);
  if (src.kind !== 'gguf') throw new Error(`--model ${spec}: the benchmark compares with llama.cpp, so it needs a GGUF file (or ollama:<name>)`);
  return src.path;
}
const PROMPT =
  'Summarise the following notes in a few sentences. ' +
  'The committee met on Tuesday to review the budget for the new library wing. Members agreed that the reading room needs more natural light, ' +
  'that the children section should move closer to the entrance, and that the archive must stay climate controlled. The architect presented three ' +
  'options with different costs; the cheapest removes the rooftop garden, the most expensive adds a second lift and a small auditorium. ' +
  'Several residents asked for longer opening hours and for quiet study rooms that can be booked online. The treasurer warned that energy prices ' +
  'could rise next year and proposed solar panels on the south roof. A vote was postponed until the next meeting in three weeks.';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface SideResult { warmLoadS: number; prefillTokS: number; decodeTokS: number; peakRssMb: number; promptTokens: number; promptIds?: number[]; long?: LongPrompt }
/** A long prompt's prefill: its speed, and the longest the event loop (in VS Code, the extension host) waited meanwhile. */
interface LongPrompt { tokens: number; prefillTokS: number; longestBlockMs: number }
interface ImportResult { coldImportS: number; peakRssMb: number }

/** The first load of the GGUF into an empty cache: import and load. */
async function coldImport(cache: string): Promise<ImportResult> {
  const m = await loadModel(gguf, { cacheDir: cache, threads, precision });
  const coldImportS = m.timings.importMs / 1000;
  await m.dispose();
  return { coldImportS, peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

async function ours(cache: string): Promise<SideResult> {
  const t = performance.now();
  const m = await loadModel(gguf, { cacheDir: cache, threads, precision, sessionThread });
  const warmLoadS = (performance.now() - t) / 1000;
  const ids = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: PROMPT }]));
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let r = 0; r < runs; r++) {
    const res = await generate(m, { promptIds: ids, maxNewTokens: decodeTokens, ignoreEos: true });
    prefill.push(ids.length / (res.timings.prefillMs / 1000));
    decode.push(1000 / msPerToken(res.timings));
  }
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const long = await longPrompt(m);
  await m.dispose();
  return { warmLoadS, prefillTokS: median(prefill), decodeTokS: median(decode), peakRssMb, promptTokens: ids.length, promptIds: ids, long };
}

const LONG_PROMPT_TOKENS = 3000;

async function longPrompt(m: Awaited<ReturnType<typeof loadModel>>): Promise<LongPrompt> {
  const text = Array.from({ length: 40 }, () => PROMPT).join('\n\n');
  const ids = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: text }])).slice(-LONG_PROMPT_TOKENS);
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const res = await generate(m, { promptIds: ids, maxNewTokens: 1, ignoreEos: true });
  delay.disable();
  return { tokens: ids.length, prefillTokS: ids.length / (res.timings.prefillMs / 1000), longestBlockMs: delay.max / 1e6 };
}

type Token = import('node-llama-cpp', { with: { 'resolution-mode': 'import' } }).Token;

async function llamaCpp(): Promise<SideResult> {
  const { getLlama } = (await import('node-llama-cpp')) as typeof import('node-llama-cpp', { with: { 'resolution-mode': 'import' } });
  let t = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: gguf });
  const warmLoadS = (performance.now() - t) / 1000;
  const ctx = await model.createContext({ contextSize: 2048, threads, batchSize: 512 });
  // The very prompt tokens our side used (its chat template, its tokenizer).
  const ids = JSON.parse(values.ids ?? '[]') as Token[];
  if (!ids.length) throw new Error('llama.cpp side: no prompt ids given');
  const eos = model.tokens.eos;
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let r = 0; r < runs; r++) {
    const seq = ctx.getSequence();
    t = performance.now();
    let first = 0, n = 0;
    const bias = new (await import('node-llama-cpp')).TokenBias(model.tokenizer);
    if (eos !== null) bias.set(eos, 'never');
    for await (const _tok of seq.evaluate(ids, { temperature: 0, tokenBias: bias })) {
      void _tok;
      if (n === 0) first = performance.now();
      if (++n >= decodeTokens) break;
    }
    const end = performance.now();
    // The first token arrives after the prefill; the rest are decode steps.
    prefill.push(ids.length / ((first - t) / 1000));
    decode.push((n - 1) / ((end - first) / 1000));
    seq.dispose();
  }
  await ctx.dispose();
  await model.dispose();
  return { warmLoadS, prefillTokS: median(prefill), decodeTokS: median(decode), peakRssMb: process.resourceUsage().maxRSS / 1024, promptTokens: ids.length };
}

async function main(): Promise<void> {
  if (values.child) {
    const cache = values.cache ?? '';
    const r = values.child === 'import' ? await coldImport(cache) : values.child === 'ours' ? await ours(cache) : await llamaCpp();
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  if (!fs.existsSync(gguf)) throw new Error(`${gguf} is missing: run npm run model:fetch`);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-bench-'));
  const child = <T>(which: string, extra: string[] = []): T => {
    const args = [__filename, '--child', which, '--model', gguf, '--threads', String(threads), '--decode', String(decodeTokens), '--runs', String(runs), '--precision', precision, '--cache', cache, ...extra];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${which} benchmark failed (exit ${r.status})`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
  };
  console.log(`Engine benchmark: ${path.basename(gguf)}, ${threads} threads, ${decodeTokens} decoded tokens, median of ${runs} runs, kvsteer precision ${precision}`);
  let imp: ImportResult, a: SideResult, w: SideResult;
  try {
    imp = child<ImportResult>('import');
    a = child<SideResult>('ours');
    w = child<SideResult>('ours', ['--session-thread', 'worker']);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
  const b = child<SideResult>('llama.cpp', ['--ids', JSON.stringify(a.promptIds)]);
  const row = (label: string, x: string, y: string, z: string) => console.log(label.padEnd(32) + x.padStart(12) + y.padStart(14) + z.padStart(12));
  row('', 'kvsteer', 'kvsteer', 'llama.cpp');
  row('session thread', 'calling', 'worker', '-');
  row('cold import (s)', imp.coldImportS.toFixed(2), '-', '-');
  row('cold import peak (MB)', imp.peakRssMb.toFixed(0), '-', '-');
  row('warm load (s)', a.warmLoadS.toFixed(2), w.warmLoadS.toFixed(2), b.warmLoadS.toFixed(2));
  row(`prefill (tok/s, ${a.promptTokens} tok)`, a.prefillTokS.toFixed(0), w.prefillTokS.toFixed(0), b.prefillTokS.toFixed(0));
  row('decode (tok/s)', a.decodeTokS.toFixed(1), w.decodeTokS.toFixed(1), b.decodeTokS.toFixed(1));
  row('peak RSS (MB)', a.peakRssMb.toFixed(0), w.peakRssMb.toFixed(0), b.peakRssMb.toFixed(0));
  if (a.long && w.long) {
    row(`long prefill (tok/s, ${a.long.tokens} tok)`, a.long.prefillTokS.toFixed(0), w.long.prefillTokS.toFixed(0), '-');
    row('  longest event-loop wait (ms)', a.long.longestBlockMs.toFixed(0), w.long.longestBlockMs.toFixed(0), '-');
  }
  console.log(`decode ratio kvsteer / llama.cpp: ${(a.decodeTokS / b.decodeTokS).toFixed(2)}x (session in a worker: ${(w.decodeTokS / b.decodeTokS).toFixed(2)}x)`);
  console.log(`prefill ratio kvsteer / llama.cpp: ${(a.prefillTokS / b.prefillTokS).toFixed(2)}x (session in a worker: ${(w.prefillTokS / b.prefillTokS).toFixed(2)}x)`);
  console.log(`session in a worker / on the calling thread: decode ${(w.decodeTokS / a.decodeTokS).toFixed(2)}x, prefill ${(w.prefillTokS / a.prefillTokS).toFixed(2)}x`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
