/** Atomic writes that cannot happen say where and why, as KvsteerErrors, and leave nothing behind. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { LOCK_WAIT_MS, writeFileAtomic } from '../../../src/engine/util/atomicWrite';
import { KvsteerError } from '../../../src/engine/util/errors';

test('a write below a file, or onto a folder, is refused naming the path and the reason', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-atomic-'));
  try {
    const file = path.join(dir, 'a.txt');
    fs.writeFileSync(file, 'kept');
    const refused = (target: string, why: RegExp) => (e: unknown) => e instanceof KvsteerError && e.code === 'WRITE_FAILED' && e.message.startsWith(`${target}: cannot write there (`) && why.test(e.message);
    assert.throws(() => writeFileAtomic(path.join(file, 'x.json'), '{}'), refused(path.join(file, 'x.json'), /a file is in the way of a folder|a part of the path is a file, not a folder/));
    fs.mkdirSync(path.join(dir, 'folder'));
    assert.throws(() => writeFileAtomic(path.join(dir, 'folder'), '{}'), refused(path.join(dir, 'folder'), /\(it is a folder\); nothing was written there/));
    assert.deepEqual(fs.readdirSync(dir).sort(), ['a.txt', 'folder'], 'no temporary file left');
    assert.equal(fs.readFileSync(file, 'utf8'), 'kept');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock that cannot be read (a folder at its path) is waited for up to the limit, then an error naming it; before, the wait never ended', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-lock-'));
  try {
    fs.mkdirSync(path.join(dir, '.manifest.json.lock'));
    // In a child process: the wait is synchronous, so a wait without end would hang this runner.
    const script = `require(${JSON.stringify(require.resolve('../../../src/engine/util/atomicWrite'))}).withFileLock(${JSON.stringify(path.join(dir, 'manifest.json'))}, () => 1)`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: LOCK_WAIT_MS + 20_000 });
    assert.equal(r.signal, null, 'the wait ended');
    assert.notEqual(r.status, 0);
    assert.ok(r.stderr.includes('.manifest.json.lock') && r.stderr.includes('nothing was written'), r.stderr);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
