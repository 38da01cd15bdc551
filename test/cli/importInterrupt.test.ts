/**
 * Ctrl-C while `kvsteer` imports a GGUF, on the real SmolLM2 file (the tiny random one imports
 * too fast to be interrupted): kvsteer stops without an answer and leaves no half-built folder,
 * where killed it left a model-sized temporary folder in the cache until that same file was
 * imported again. The import yields to the event loop as it goes, so Ctrl-C stops it where it is
 * (it used to stop only once the conversion had finished, after seconds for a larger model).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../support/paths';
import { realGguf, realModelSkip } from '../support/models';

const cli = path.join(repoRoot, 'out', 'src', 'cli', 'main.js');

test('Ctrl-C during a GGUF import stops the import where it is: exit 130, no answer, nothing imported and no half-built folder in the cache', { skip: realModelSkip, timeout: 120_000 }, async () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-import-int-'));
  try {
    const models = path.join(cache, 'models');
    const child = spawn(process.execPath, [cli, 'ask', 'hi', '--model', realGguf, '--max-new-tokens', '2', '--threads', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KVSTEER_CACHE_DIR: cache },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
    const building = () => fs.existsSync(models) && fs.readdirSync(models).some((f) => f.includes('.tmp-'));
    for (let t = 0; t < 3000 && !building() && child.exitCode === null; t++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(building(), `the import never started: ${stderr}`);
    child.kill('SIGINT');
    const { code, signal } = await exited;
    assert.deepEqual({ code, signal }, { code: 130, signal: null }, stderr);
    assert.equal(stdout, '', 'no answer after Ctrl-C');
    assert.match(stderr, /kvsteer: GGUF import was cancelled\n$/);
    const left = fs.readdirSync(models);
    assert.ok(!left.some((f) => f.includes('.tmp-')), `half-built folder left: ${left.join(', ')}`);
    assert.ok(!left.some((f) => f.startsWith('gguf-')), `the import ran to its end: ${left.join(', ')}`);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
