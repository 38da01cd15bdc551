/**
 * `kvsteer eval`: runs the paper's benchmarks on a local model (see runEval.ts) and writes
 * generations.jsonl (resumable), summary.json, results.md and report.html into --out; and
 * `kvsteer eval score`, which re-scores saved rows {input, response, target} with the paper's
 * filters into `filtered_response` (and a kvsteer row's `correct`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { KvsteerError } from '../engine/util/errors';
import { writeFileAtomic } from '../engine/util/atomicWrite';
import { jsonLines } from '../engine/util/jsonLines';
import { applyFilters, filtersForTask, isCorrect } from '../engine/eval/answerFilters';
import { EVAL_METHODS, EvalConfig, EvalMethod, PAPER_SEEDS, checkResumable, madeLikeThisRun, runEval, readGenerations } from '../engine/eval/runEval';
import { TASKS, parseTask, readEvalRows } from '../engine/eval/tasks';
import { summarize, toHtml, toMarkdown } from '../engine/eval/summarize';
import { resolveVector, findVectorForModel } from '../engine/steering/findVector';
import { strengthFor } from '../engine/steering/recommendedStrength';
import { Flags, num, offsetTokenFlag, parseDecimal, parseLayers, repeatPenaltyFromFlags, str, strengthFlags } from './args';
import { openModel, vectorDirs } from './modelOptions';

const USAGE = `kvsteer eval --task gsm8k|arc-challenge|commonsense-qa|piqa --data FILE.jsonl --out DIR [options]
  --data FILE.jsonl         one {"id": …, "question": …, "answer": …} per line ("id" optional);
                            multiple choice: the choices in "question" as "A: …" lines, "answer" the
                            right letter (Hugging Face's "choices"/"answerKey" rows are skipped);
                            gsm8k: "answer" the number, or the published solution ending "#### N"
  --model M                 hub id, folder, .gguf or ollama:name (default: the fetched SmolLM2 GGUF)
  --precision exact|fast    arithmetic of GGUF imports (default exact)  --threads N (default: all)
  --methods LIST            baseline,cot-prompt,cache-steering,activation-steering (default: all four)
  --limit N --offset N      evaluate rows offset..offset+N of the data file
  --decoding greedy|sampling  --seeds N (sampling, 1–5; default 5)
  --temperature T --top-p P --top-k K   sampling parameters (default 0.6, 0.9, 50)
  --max-new-tokens N        (default 512; the paper used 768)
  --vector ID|FILE          steering vector for cache and activation steering (default: shipped one)
  --cv N --ck N             cache-steering strength (default: the vector's recommended one, or the
                            one it records for the repeat penalty and window given; for a vector
                            without one, the paper's c_v: 1 for gsm8k, 6 otherwise; c_k 0)
  --layers 1-29             cache-steering layers (default: 1 and up)
  --offset-token S          cache-steering offset token, one token (default: the paper's, "\\n"; " " for
                            gsm8k; escapes \\n \\t \\s)
  --sweep c_v=0,1,2,4       one cache-steering run per value
  --caa-layers L --caa-coeff C   activation steering layers (default middle block) and coefficient (3)
  --repeat-penalty P        llama.cpp's repeat penalty, 1 (off, as the paper) to 2, on every method's
                            answer (not on the multiple-choice follow-up) [--repeat-last-n N, default 64]
  --no-force-choice         keep [invalid] multiple-choice answers (the paper rescues them)
kvsteer eval score --task T --in generations.jsonl --out scored.jsonl
Results are appended per item: run the same command again to resume (a folder refuses rows made with
other settings: use another --out for another strength, budget, vector or model).`;

const OPTIONS = {
  task: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, in: { type: 'string' }, model: { type: 'string' },
  methods: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' }, decoding: { type: 'string' }, seeds: { type: 'string' },
  temperature: { type: 'string' }, 'top-p': { type: 'string' }, 'top-k': { type: 'string' }, 'max-new-tokens': { type: 'string' },
  vector: { type: 'string' }, cv: { type: 'string' }, ck: { type: 'string' }, layers: { type: 'string' }, 'offset-token': { type: 'string' }, sweep: { type: 'string' }, 'caa-layers': { type: 'string' },
  'caa-coeff': { type: 'string' }, 'repeat-penalty': { type: 'string' }, 'repeat-last-n': { type: 'string' }, 'no-force-choice': { type: 'boolean' }, threads: { type: 'string' }, precision: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** "4m05s", "42s": whole seconds rounded before splitting, so 119.6 s reads 2m00s, not 1m60s. */
export function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  const m = Math.floor(t / 60);
  return m ? `${m}m${String(t % 60).padStart(2, '0')}s` : `${t}s`;
}

export async function runEvalCommand(argv: string[]): Promise<number> {
  const score = argv[0] === 'score';
  let parsed;
  try {
    parsed = parseArgs({ args: score ? argv.slice(1) : argv, options: OPTIONS, allowPositionals: false, strict: true });
  } catch (e) {
    throw new KvsteerError('INVALID_ARGUMENT', `${(e as Error).message}\n${USAGE}`);
  }
  const flags = parsed.values as Flags;
  if (flags.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const task = parseTask(str(flags, 'task') ?? '');
  if (score) return scoreCommand(task, flags);

  const data = str(flags, 'data');
  const outDir = str(flags, 'out');
  if (!data || !outDir) throw new KvsteerError('INVALID_ARGUMENT', `eval needs --data and --out\n${USAGE}`);
  // Checked before the model loads: a file given as the results folder.
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new KvsteerError('INVALID_ARGUMENT', `--out ${outDir} is a file; it must be a folder (new or one this command made)`);
  const methods = (str(flags, 'methods') ?? EVAL_METHODS.join(',')).split(',').map((m) => m.trim()) as EvalMethod[];
  for (const m of methods) if (!EVAL_METHODS.includes(m)) throw new KvsteerError('INVALID_ARGUMENT', `unknown method "${m}" (methods: ${EVAL_METHODS.join(', ')})`);
  const twice = methods.find((m, i) => methods.indexOf(m) !== i);
  if (twice) throw new KvsteerError('INVALID_ARGUMENT', `--methods names ${twice} twice`);
  // A sweep or CAA settings without their method would be ignored: the results would lack what
  // they ask for. (--cv and the like stay allowed: the documented runs share folders with them.)
  const needs: [string, EvalMethod][] = [['sweep', 'cache-steering'], ['caa-layers', 'activation-steering'], ['caa-coeff', 'activation-steering']];
  for (const [flag, method] of needs) if (flags[flag] !== undefined && !methods.includes(method)) throw new KvsteerError('INVALID_ARGUMENT', `--${flag} needs ${method} in --methods`);
  const decoding = str(flags, 'decoding') ?? 'greedy';
  if (decoding !== 'greedy' && decoding !== 'sampling') throw new KvsteerError('INVALID_ARGUMENT', `--decoding must be greedy or sampling`);
  // A greedy evaluation would ignore them, and its summary would say "greedy".
  const samplingFlag = ['temperature', 'top-p', 'top-k', 'seeds'].find((f) => flags[f] !== undefined);
  if (decoding === 'greedy' && samplingFlag) throw new KvsteerError('INVALID_ARGUMENT', `--${samplingFlag} needs --decoding sampling`);
  let sweep: { param: 'c_v' | 'c_k'; values: number[] } | undefined;
  const sweepSpec = str(flags, 'sweep');
  if (sweepSpec) {
    const m = /^(c_v|c_k)=(.+)$/.exec(sweepSpec);
    if (!m) throw new KvsteerError('INVALID_ARGUMENT', `--sweep must look like c_v=0,1,2,4 (got ${sweepSpec})`);
    // An empty item ("c_v=4,") must not add a run at 0.
    const items = m[2].split(',').map((x) => x.trim());
    const values = items.map(parseDecimal);
    if (values.some((x) => !Number.isFinite(x) || Math.abs(x) > 100)) throw new KvsteerError('INVALID_ARGUMENT', `--sweep values must be finite numbers in [-100, 100] (got ${items.map((x) => JSON.stringify(x)).join(', ')})`);
    // Two equal values are one variant: its items would be generated twice and saved twice.
    const again = values.find((x, i) => values.findIndex((y) => String(y) === String(x)) !== i);
    if (again !== undefined) throw new KvsteerError('INVALID_ARGUMENT', `--sweep names ${m[1]}=${again} twice`);
    sweep = { param: m[1] as 'c_v' | 'c_k', values };
  }
  const { rows: allRows, bad } = readEvalRows(data);
  for (const b of bad) process.stderr.write(`kvsteer: ${data}:${b.line}: skipped (${b.reason})\n`);
  const offset = num(flags, 'offset', 0, { integer: true, min: 0 });
  const limit = num(flags, 'limit', allRows.length, { integer: true, min: 1 });
  const rows = allRows.slice(offset, offset + limit);
  if (!rows.length) throw new KvsteerError('DATA_INVALID', `${data}: no usable rows in the selected range`);

  // Every flag is read before the model loads, so a typo costs no load.
  const caaLayers = parseLayers(str(flags, 'caa-layers'));
  const caaCoefficient = num(flags, 'caa-coeff', 3);
  const maxNewTokens = num(flags, 'max-new-tokens', 512, { integer: true, min: 1, max: 8192 });
  const seeds = num(flags, 'seeds', 5, { integer: true, min: 1, max: 5 });
  const sampling = { temperature: num(flags, 'temperature', 0.6, { min: 0 }), topP: num(flags, 'top-p', 0.9, { min: 0, max: 1 }), topK: num(flags, 'top-k', 50, { integer: true, min: 0 }) };
  const given = strengthFlags(flags);
  const offsetToken = offsetTokenFlag(flags);
  const repeatPenalty = repeatPenaltyFromFlags(flags);
  const forceChoice = !flags['no-force-choice'];
  // So is the folder, as far as that can be without the model: a wrong one costs no load either.
  checkResumable({ task, rows, methods, decoding, seeds, sampling, maxNewTokens, outDir, sweep, offsetToken, repeatPenalty, forceChoice });
  const model = await openModel(flags);
  try {
    const vectorSpec = str(flags, 'vector');
    const needsVector = methods.some((m) => m === 'cache-steering' || m === 'activation-steering');
    const vector = needsVector ? (vectorSpec ? resolveVector(vectorSpec, vectorDirs, model) : findVectorForModel(vectorDirs, model)?.vector) : undefined;
    if (needsVector && !vector) throw new KvsteerError('VECTOR_INVALID', `no steering vector fits ${model.name}: pass --vector`);
    const command = `kvsteer eval ${argv.join(' ')}`;
    let lastDraw = 0;
    const cfg: EvalConfig = {
      task,
      rows,
      methods,
      decoding,
      seeds,
      sampling,
      maxNewTokens,
      outDir,
      vector,
      // The vector's strength for this decoding (with a repeat penalty it may record a higher one);
      // without a vector (baseline or CoT only), the paper's for the task.
      strength: vector ? strengthFor(vector.meta.recommended, repeatPenalty, given) : { cK: given.cK ?? 0, cV: given.cV ?? TASKS[task].defaultCV, layers: given.layers },
      caa: caaLayers || flags['caa-coeff'] !== undefined ? { layers: caaLayers ?? [Math.floor(model.config.numLayers / 2)], coefficient: caaCoefficient } : undefined,
      sweep,
      offsetToken,
      repeatPenalty,
      forceChoice,
      onProgress: (p) => {
        const now = Date.now();
        if (now - lastDraw < 250 && p.done < p.total) return;
        lastDraw = now;
        const w = 30, filled = Math.round((w * p.done) / p.total);
        process.stderr.write(`\r[${'='.repeat(filled)}${' '.repeat(w - filled)}] ${p.done}/${p.total} ${p.label.padEnd(28)} ETA ${fmtEta(p.etaSeconds)}   `);
      },
    };
    await runEval(model, cfg);
    process.stderr.write('\n');
    // Summarise what the folder holds for the requested methods and items (earlier runs' variants
    // included, e.g. another c_v), made as this run makes them: the same model, token budget,
    // decoding, seeds, penalty, vector, layers, offset token and force choice. A greedy row is
    // never averaged in as one more seed.
    const wanted = new Set(rows.map((r) => r.id));
    const runSeeds = new Set<number | null>(decoding === 'greedy' ? [null] : PAPER_SEEDS.slice(0, seeds));
    const all = readGenerations(outDir).filter(
      (r) => r.task === task && methods.includes(r.method) && wanted.has(r.id) && runSeeds.has(r.seed ?? null) && madeLikeThisRun(r, model, cfg),
    );
    const summary = summarize(all, { task, model: model.name, decoding, maxNewTokens, command });
    writeFileAtomic(path.join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    const md = toMarkdown(summary);
    writeFileAtomic(path.join(outDir, 'results.md'), md);
    writeFileAtomic(path.join(outDir, 'report.html'), toHtml([summary]));
    process.stdout.write(md);
    return 0;
  } finally {
    await model.dispose();
  }
}

function scoreCommand(task: ReturnType<typeof parseTask>, flags: Flags): number {
  const input = str(flags, 'in');
  const out = str(flags, 'out');
  if (!input || !out) throw new KvsteerError('INVALID_ARGUMENT', 'eval score needs --in and --out');
  let text: string;
  try {
    text = fs.readFileSync(input, 'utf8');
  } catch {
    throw new KvsteerError('FILE_NOT_FOUND', `${input}: cannot read`);
  }
  const lines: string[] = [];
  let n = 0;
  for (const l of jsonLines(text)) {
    const skip = (why: string) => process.stderr.write(`kvsteer: ${input}:${l.line}: skipped (${why})\n`);
    if ('error' in l) {
      skip(l.error);
      continue;
    }
    const row = l.row;
    if (typeof row.input !== 'string' || typeof row.response !== 'string') {
      skip('"input" and "response" must be strings');
      continue;
    }
    const target = typeof row.target === 'string' ? row.target : undefined;
    const filtered = applyFilters(TASKS[task].paperTask, { input: row.input, response: row.response, target });
    row.filtered_response = filtered;
    // A kvsteer row's correct flags follow its new answers (the old ones would contradict them).
    if (row.correct !== undefined && target !== undefined) {
      row.correct = Object.fromEntries(filtersForTask(TASKS[task].paperTask).map((f) => [f, isCorrect(filtered[f], target)]));
    }
    lines.push(JSON.stringify(row));
    n++;
  }
  writeFileAtomic(out, lines.join('\n') + (lines.length ? '\n' : ''));
  process.stderr.write(`Scored ${n} rows into ${out}\n`);
  return 0;
}
