#!/usr/bin/env node
/**
 * The `kvsteer` command line: `ask` (baseline, steered, or both side by side), `extract` (build a
 * steering vector from a JSONL of reasoning examples), `eval` (the paper's benchmarks), `models`
 * (GGUFs from Ollama and LM Studio) and `fetch-model` (the embedded default GGUF). Errors print one line and exit non-zero.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { KvsteerError } from '../engine/util/errors';
import { generate, msPerToken } from '../engine/generation/generate';
import { formatMsPerToken } from '../engine/generation/formatMsPerToken';
import { ask, AskMode, AskSideResult } from '../engine/ask';
import { strengthFor } from '../engine/steering/recommendedStrength';
import { checkEnoughItems, parseDemoSelection, parseReasoningItems } from '../engine/steering/contrastivePairs';
import { createSteeringVector } from '../engine/steering/createVector';
import { saveVector } from '../engine/steering/vectorFile';
import { vectorModelNote } from '../engine/steering/steeringVector';
import { readManifest, saveListedVector } from '../engine/steering/vectorManifest';
import { isRepeatPenaltyOff } from '../engine/generation/repeatPenalty';
import { MAX_SEED } from '../engine/generation/sampler';
import { Flags, answerFlags, num, offsetTokenFlag, str } from './args';
import { fetchDefaultModel } from './defaultModel';
import { sideBySide } from './sideBySide';
import { statsLine } from './statsLine';
import { shellArg } from './shellArg';
import { cmdChat } from './chatCommand';
import { readAttachedFiles } from './attachedFiles';
import { attachmentsLine, attachToPrompt } from '../engine/promptAttachments';
import { runEvalCommand } from './evalCommand';
import { openModel, vectorForModel, log } from './modelOptions';
import { defaultLocalModelRoots, findLocalGgufs } from '../engine/model/localModels';

const USAGE = `kvsteer — KV cache steering for small local language models

Usage:
  kvsteer ask "question" [--compare | --steer] [options]
  kvsteer chat [--compare | --baseline] [ask's options]   a conversation, one line per turn
  kvsteer extract --pairs items.jsonl --out vectors/name.safetensors [options]
  kvsteer eval --task arc-challenge --data test.jsonl [options]   (kvsteer eval --help)
  kvsteer models [--json]          GGUF models found in Ollama's and LM Studio's stores
  kvsteer fetch-model

Model options:
  --model <hub id | folder | file.gguf | ollama:name>   default: the fetched SmolLM2-135M-Instruct GGUF
  --precision exact|fast                  arithmetic of GGUF imports (default exact)
  --threads N                             CPU threads (default: all)

ask options:
  --compare            baseline and steered answers side by side
  --steer              steered answer only (default: baseline only; --vector, --cv, --ck,
                       --layers or --offset-token also ask for the steered answer)
  --vector <id|file>   steering vector (default: the shipped vector that fits the model)
  --cv N --ck N        value / key strength (default: the vector's recommendation, or the one
                       it records for the --repeat-penalty and --repeat-last-n given)
  --layers 1-29        layers to steer (default: 1 and up)
  --offset-token S     offset token appended before steering (default: the vector's own,
                       "\\n" or a space; "\\s" = space)
  --max-new-tokens N   (default 256)
  --stop-on-repetition stop an answer once a run of four words has come five times
  --repeat-penalty P   llama.cpp's repeat penalty on both answers, 1 (off) to 2; 1.1 is
                       the usual value [--repeat-last-n N: tokens it looks back, default 64]
  --system TEXT        system prompt (default: the model's own)
  --file PATH          attach a file before the question (repeatable; 8000 characters in all)
  --sample [--temperature 0.6 --top-p 0.9 --top-k 50 --seed 0]   sampling instead of greedy
                       (any of those four flags alone also asks for sampling)
  --json               one JSON object on stdout

chat: each reply is steered (--baseline: the plain model; --compare: both), later turns see the
  last 4 exchanges; /reset forgets them, /exit or the end of input ends; Ctrl-C stops an
  answer (at the prompt it ends the chat). Reads stdin, so \`kvsteer chat < questions.txt\`
  works too.

extract options:
  --pairs FILE         JSONL rows {question, steps, answer}
  --out FILE           .safetensors to write (atomically)
  --name NAME --id ID  vector name, and manifest id (adds it to the manifest beside --out)
  --demos K            demonstrations per prompt (default 6)
  --num-pairs N        pairs (default: one per row) --seed N (default 0)
  --demo-selection random|similar   demos drawn at random (default) or the closest questions (TF-IDF)
  --cv N --ck N        recommended strengths to record (default 6 and 0)
  --offset-token S     offset token to record and extract with (default "\\n"; "\\s" = space,
                       the paper's arithmetic setting)
  also --model, --precision, --threads
`;

const OPTIONS = {
  model: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
  compare: { type: 'boolean' },
  steer: { type: 'boolean' },
  baseline: { type: 'boolean' },
  vector: { type: 'string' },
  cv: { type: 'string' },
  ck: { type: 'string' },
  layers: { type: 'string' },
  'offset-token': { type: 'string' },
  'max-new-tokens': { type: 'string' },
  'stop-on-repetition': { type: 'boolean' },
  'repeat-penalty': { type: 'string' },
  'repeat-last-n': { type: 'string' },
  system: { type: 'string' },
  sample: { type: 'boolean' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  'top-k': { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
  file: { type: 'string', multiple: true },
  pairs: { type: 'string' },
  out: { type: 'string' },
  name: { type: 'string' },
  id: { type: 'string' },
  demos: { type: 'string' },
  'num-pairs': { type: 'string' },
  'demo-selection': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Flags only `extract` reads: elsewhere they would be taken and silently do nothing. */
const EXTRACT_FLAGS = ['pairs', 'out', 'name', 'id', 'demos', 'num-pairs', 'demo-selection'];

/** Every flag each command without a question reads; any other would be silently ignored. */
const FLAGS_READ: Record<string, string[]> = {
  extract: [...EXTRACT_FLAGS, 'model', 'precision', 'threads', 'seed', 'cv', 'ck', 'offset-token'],
  models: ['json'],
  'fetch-model': [],
};

/**
 * Refuses what a command would ignore: extract's flags on another command, and words beyond the
 * one question (an unquoted `kvsteer ask What is 2+2` would ask "What").
 */
function checkCommandLine(command: string, positionals: string[], flags: Flags): void {
  const takesQuestion = command === 'ask' || command === 'generate';
  if (takesQuestion && positionals.length > 1) {
    throw new KvsteerError('INVALID_ARGUMENT', `${command} takes one question in quotes: kvsteer ${command} "${positionals.join(' ')}"`);
  }
  if (!takesQuestion && positionals.length > 0) throw new KvsteerError('INVALID_ARGUMENT', `${command} takes no words besides its flags (got "${positionals[0]}")`);
  const foreign = command === 'extract' ? undefined : EXTRACT_FLAGS.find((f) => flags[f] !== undefined);
  if (foreign) throw new KvsteerError('INVALID_ARGUMENT', `--${foreign} is a flag of kvsteer extract; ${command} does not take it`);
  const reads = FLAGS_READ[command];
  const ignored = reads && Object.keys(flags).find((f) => flags[f] !== undefined && !reads.includes(f));
  if (ignored) throw new KvsteerError('INVALID_ARGUMENT', `${command} does not take --${ignored} (see kvsteer --help)`);
}

/** ask flags that only a steered answer uses. */
const STEERING_FLAGS = ['vector', 'cv', 'ck', 'layers', 'offset-token'];

async function cmdAsk(question: string | undefined, flags: Flags): Promise<void> {
  if (question === undefined) throw new KvsteerError('INVALID_ARGUMENT', 'ask needs a question: kvsteer ask "…"');
  // A steering flag asks for a steered answer, as --vector always did: a baseline would ignore it.
  const steeringAsked = flags.steer || STEERING_FLAGS.some((f) => flags[f] !== undefined);
  const mode: AskMode = flags.compare ? 'compare' : steeringAsked ? 'steered' : 'baseline';
  const { options, given } = answerFlags(flags);
  const { decoding, repeatPenalty } = options;
  // Attached files go before the question, as @kvsteer's #file does; read before the model loads.
  const attached = attachToPrompt(question, readAttachedFiles(flags));
  const attachedLine = attachmentsLine(attached);
  const model = await openModel(flags);
  try {
    let vector;
    // A comparison shown to a person still gives its baseline when no vector fits, as the editor
    // does; the steered column says why. Scripts (--json) and --steer get the error.
    let missingVector: string | undefined;
    if (mode !== 'baseline') {
      ({ vector, missing: missingVector } = vectorForModel(flags, model));
      if (missingVector && (mode !== 'compare' || flags.json)) throw new KvsteerError('VECTOR_INVALID', missingVector);
    }
    // A vector extracted on another model is used, and said so before the answer (--json: steered.vectorNote).
    const note = vector && vectorModelNote(vector, model);
    if (note && !flags.json) log(`Note: ${note}`);
    const strength = vector && strengthFor(vector.meta.recommended, repeatPenalty, given);
    const stream = mode === 'baseline' && !flags.json;
    if (attachedLine && !flags.json) log(attachedLine);
    const result = await ask(model, {
      ...options,
      question: attached.content,
      mode: missingVector ? 'baseline' : mode,
      vector,
      strength,
      onSideStart: (side) => !flags.json && !stream && log(`… generating the ${side} answer`),
      onToken: (_side, e) => stream && process.stdout.write(e.textDelta),
    });
    if (flags.json) {
      const files = attachedLine ? { attached: { used: attached.used, leftOut: attached.leftOut } } : {};
      process.stdout.write(JSON.stringify({ model: model.name, decoding, ...(repeatPenalty ? { repeatPenalty } : {}), ...files, load: model.timings, ...result }) + '\n');
      return;
    }
    if (stream) {
      process.stdout.write('\n');
      log(statsLine(result.baseline!));
      return;
    }
    if (mode === 'steered') {
      process.stdout.write(result.steered!.text + '\n');
      log(statsLine(result.steered!) + `, c_v ${result.steered!.cV}, c_k ${result.steered!.cK}`);
      return;
    }
    const b = result.baseline!, s = result.steered;
    const stats = (r: AskSideResult): [string, string][] => [
      ['tokens', String(r.tokens.length)],
      ['ms/token', formatMsPerToken(r.msPerToken)],
      ['total', `${(r.totalMs / 1000).toFixed(2)} s`],
      ['stop', r.stopReason],
      ['prefill', r.prefillReused ? "the baseline's" : `${r.prefillMs.toFixed(0)} ms`],
      ...(repeatPenalty && !isRepeatPenaltyOff(repeatPenalty) ? [['repeat penalty', `${repeatPenalty.penalty} · last ${repeatPenalty.lastN}`] as [string, string]] : []),
    ];
    const width = Math.min(process.stdout.columns || 120, 160);
    process.stdout.write(
      sideBySide(
        { title: `BASELINE (${model.name})`, text: b.text, stats: stats(b) },
        s
          ? { title: `STEERED (${s.vector}, c_v ${s.cV}, c_k ${s.cK})`, text: s.text, stats: [...stats(s), ['cache edit', `${s.editMs.toFixed(2)} ms`]] }
          : { title: 'STEERED (no vector)', text: missingVector ?? '', stats: [] },
        width,
      ) + '\n',
    );
  } finally {
    await model.dispose();
  }
}

async function cmdExtract(flags: Flags): Promise<void> {
  const pairsFile = str(flags, 'pairs');
  const out = str(flags, 'out');
  if (!pairsFile || !out) throw new KvsteerError('INVALID_ARGUMENT', 'extract needs --pairs items.jsonl and --out file.safetensors');
  if (!out.endsWith('.safetensors')) throw new KvsteerError('INVALID_ARGUMENT', `--out must end in .safetensors (got ${out})`);
  let text: string;
  try {
    text = fs.readFileSync(pairsFile, 'utf8');
  } catch {
    throw new KvsteerError('FILE_NOT_FOUND', `${pairsFile}: cannot read`);
  }
  const items = parseReasoningItems(text, pairsFile);
  const selection = parseDemoSelection(str(flags, 'demo-selection') ?? 'random', '--demo-selection');
  const name = str(flags, 'name') ?? path.basename(out, '.safetensors');
  // Read before the model loads, so a typo costs no load.
  const settings = {
    name,
    datasetName: pairsFile,
    datasetText: text,
    demos: num(flags, 'demos', 6, { integer: true, min: 1 }),
    pairs: flags['num-pairs'] === undefined ? undefined : num(flags, 'num-pairs', 1, { integer: true, min: 1 }),
    seed: num(flags, 'seed', 0, { integer: true, min: 0, max: MAX_SEED }),
    selection,
    recommendedCV: num(flags, 'cv', 6, { min: -100, max: 100 }),
    recommendedCK: num(flags, 'ck', 0, { min: -100, max: 100 }),
    offsetToken: offsetTokenFlag(flags) ?? '\n',
  };
  // Too few items for the demos would fail only after the model loaded.
  checkEnoughItems(items, settings.demos, pairsFile);
  const id = str(flags, 'id');
  if (id !== undefined) {
    if (!id.trim()) throw new KvsteerError('INVALID_ARGUMENT', '--id is empty (give the id to list the vector under, or leave --id out)');
    // A manifest that cannot take the entry would fail only after the whole extraction.
    readManifest(path.dirname(out));
  }
  const model = await openModel(flags);
  try {
    const t0 = performance.now();
    const vector = await createSteeringVector(model, items, {
      ...settings,
      onProgress: (done, total) => process.stderr.write(`\r… extracting: ${done}/${total} pairs`),
    });
    process.stderr.write('\n');
    // With --id, a file the manifest cannot list is not left behind (saveListedVector).
    if (id) saveListedVector(path.dirname(out), id, path.basename(out), vector);
    else saveVector(out, vector);
    log(`Saved ${out} (${vector.meta.extraction.pairs} pairs, ${((performance.now() - t0) / 1000).toFixed(1)} s)${id ? `, manifest id ${id}` : ''}`);
  } finally {
    await model.dispose();
  }
}

/** Lists the GGUF files Ollama and LM Studio keep, and whether kvsteer can load each. */
function cmdModels(flags: Flags): void {
  const found = findLocalGgufs();
  if (flags.json) {
    process.stdout.write(JSON.stringify(found, null, 2) + '\n');
    return;
  }
  if (!found.length) {
    const roots = defaultLocalModelRoots();
    process.stdout.write(`No GGUF models found in ${[...roots.ollama, ...roots.lmStudio].join(', ')}.\n`);
    return;
  }
  for (const m of found) {
    const use = `--model ${shellArg(m.source === 'Ollama' ? `ollama:${m.name}` : m.path)}`;
    const size = `${(m.bytes / 1e6).toFixed(0)} MB`;
    process.stdout.write(`${m.name}  (${m.source}, ${m.architecture ?? '?'}, ${size})\n    ${m.unsupported ? `not supported: ${m.unsupported}` : use}\n`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'eval') return runEvalCommand(rest);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new KvsteerError('INVALID_ARGUMENT', `${(e as Error).message} (see kvsteer --help)`);
  }
  const flags = parsed.values as Flags;
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  checkCommandLine(command, parsed.positionals, flags);
  switch (command) {
    case 'ask':
      await cmdAsk(parsed.positionals[0], flags);
      return 0;
    case 'chat':
      await cmdChat(flags);
      return 0;
    case 'extract':
      await cmdExtract(flags);
      return 0;
    case 'fetch-model':
      fetchDefaultModel(log);
      return 0;
    case 'models':
      cmdModels(flags);
      return 0;
    case 'generate': {
      // Plain continuation of raw text (no chat template): a debugging aid.
      const model = await openModel(flags);
      const r = await generate(model, { promptIds: model.tokenizer.encode(parsed.positionals[0] ?? ''), maxNewTokens: num(flags, 'max-new-tokens', 64, { integer: true, min: 1 }) });
      process.stdout.write(flags.json ? JSON.stringify({ text: r.text, tokens: r.tokenIds, msPerToken: msPerToken(r.timings), timings: r.timings }) + '\n' : r.text + '\n');
      await model.dispose();
      return 0;
    }
    default:
      throw new KvsteerError('INVALID_ARGUMENT', `unknown command "${command}" (see kvsteer --help)`);
  }
}

if (require.main === module) {
  // The reader went away (`kvsteer ask … | head`): stop quietly, as Unix tools do, instead of an
  // unhandled EPIPE stack trace on the next streamed token.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (e instanceof KvsteerError) {
        process.stderr.write(`kvsteer: ${e.message}\n`);
        // 130: stopped by Ctrl-C, as a shell reports a command that SIGINT ended.
        process.exit(e.code === 'INVALID_ARGUMENT' ? 2 : e.code === 'CANCELLED' ? 130 : 1);
      }
      process.stderr.write(`kvsteer: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
