/**
 * Model and vector options shared by the CLI commands: which model to open (the fetched default
 * GGUF unless --model), its precision and threads, and where shipped vectors live.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KvsteerError, cancelledError } from '../engine/util/errors';
import { loadModel, LoadedModel, LoadProgress } from '../engine/model/loadModel';
import { findVectorForModel, resolveVector } from '../engine/steering/findVector';
import { BUNDLED_EXAMPLES } from '../engine/steering/bundledExamples';
import type { SteeringVector } from '../engine/steering/steeringVector';
import { Flags, num, str } from './args';
import { cliCacheDir, defaultGgufPath, repoRoot } from './defaultModel';

export const vectorDirs = [path.join(repoRoot, 'vectors')];

export function log(s: string): void {
  process.stderr.write(s + '\n');
}

export async function openModel(flags: Flags): Promise<LoadedModel> {
  const spec = str(flags, 'model') ?? defaultGgufPath();
  if (!str(flags, 'model') && !fs.existsSync(spec)) {
    throw new KvsteerError('FILE_NOT_FOUND', `the default model ${spec} is missing: run \`npm run model:fetch\` (or pass --model)`);
  }
  const precision = str(flags, 'precision') ?? 'exact';
  if (precision !== 'exact' && precision !== 'fast') throw new KvsteerError('INVALID_ARGUMENT', `--precision must be exact or fast (got ${precision})`);
  // Ctrl-C during a GGUF import stops it cleanly, its half-built folder removed (killed, it would
  // leave a model-sized one in the cache); a second Ctrl-C quits at once.
  const abort = new AbortController();
  const onInterrupt = () => {
    process.off('SIGINT', onInterrupt);
    log('… stopping (Ctrl-C again quits at once)');
    abort.abort();
  };
  process.on('SIGINT', onInterrupt);
  try {
    const m = await loadModel(spec, {
      cacheDir: cliCacheDir(),
      precision,
      threads: num(flags, 'threads', 0, { integer: true, min: 0 }),
      signal: abort.signal,
      onProgress: flags.json ? undefined : loadProgressLogger(log),
      // On stderr even with --json: a file that loads only by working around a fault should say so.
      onWarning: (m) => log(`warning: ${m}`),
    });
    // Asked to stop while the session loaded (a step that cannot be stopped): no answer follows.
    if (abort.signal.aborted) {
      await m.dispose();
      throw cancelledError('model loading');
    }
    return m;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** Least time between two progress lines of the same stage and file. */
export const PROGRESS_INTERVAL_MS = 2000;

/**
 * Progress lines for a terminal: a new stage or file at once, any other changed message at most
 * every PROGRESS_INTERVAL_MS (a download reports every chunk).
 */
export function loadProgressLogger(write: (line: string) => void, now: () => number = Date.now): (p: LoadProgress) => void {
  let last: { stage?: string; file?: string; message?: string; at: number } = { at: -Infinity };
  return (p) => {
    const t = now();
    const fresh = p.stage !== last.stage || p.file !== last.file;
    if (!fresh && (p.message === last.message || t - last.at < PROGRESS_INTERVAL_MS)) return;
    write(`… ${p.message}`);
    last = { stage: p.stage, file: p.file, message: p.message, at: t };
  };
}

/**
 * The steering vector for `model`: --vector, else the shipped one that fits. When none fits,
 * `missing` says how to make one (the shipped vector's recipe, on kvsteer's own examples).
 */
export function vectorForModel(flags: Flags, model: LoadedModel): { vector: SteeringVector; missing?: undefined } | { vector?: undefined; missing: string } {
  const named = str(flags, 'vector');
  const vector = named ? resolveVector(named, vectorDirs, model) : findVectorForModel(vectorDirs, model)?.vector;
  if (vector) return { vector };
  const examples = path.relative(process.cwd(), path.join(vectorDirs[0], 'datasets', BUNDLED_EXAMPLES.file));
  const how = `kvsteer extract --model ${str(flags, 'model') ?? model.name} --pairs ${examples} --demos ${BUNDLED_EXAMPLES.demos} --out my-vector.safetensors`;
  return { missing: `no shipped steering vector fits ${model.name}: extract one (minutes on a CPU), e.g. \`${how}\`, then pass --vector my-vector.safetensors` };
}
