/**
 * Atomic writes that cannot happen say where and why, as KvsteerErrors, and leave nothing behind;
 * those that happen reach the disk before they are renamed into place.
 */
import { TestContext, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import realFs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { LOCK_WAIT_MS, buildFolderAtomic, writeFileAtomic } from '../../../src/engine/util/atomicWrite';
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

test('an atomic write flushes the temporary file to the disk before renaming it, and the folder after (before: a power loss could leave the file renamed but empty)', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-fsync-'));
  try {
    const log = recordFlushes(t);
    const file = path.join(dir, 'v.kvsteer');
    writeFileAtomic(file, 'data');
    const tmp = log.find((e) => e.startsWith('rename '))?.split(' ')[1];
    assert.ok(tmp, log.join('\n'));
    assert.deepEqual(log, [`fsync ${tmp}`, `rename ${tmp} ${file}`, `fsync ${dir}`]);
    assert.equal(fs.readFileSync(file, 'utf8'), 'data');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder built atomically has every file and folder in it flushed before it is renamed into place, and its parent after', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-fsync-'));
  try {
    const log = recordFlushes(t);
    const target = path.join(dir, 'model');
    let tmp = '';
    await buildFolderAtomic(target, async (d) => {
      tmp = d;
      fs.writeFileSync(path.join(d, 'a.json'), '{}');
      fs.mkdirSync(path.join(d, 'onnx'));
      fs.writeFileSync(path.join(d, 'onnx', 'model.onnx'), 'weights');
    });
    const renamed = log.indexOf(`rename ${tmp} ${target}`);
    assert.ok(renamed > 0, log.join('\n'));
    const before = log.slice(0, renamed);
    for (const p of [path.join(tmp, 'a.json'), path.join(tmp, 'onnx', 'model.onnx'), path.join(tmp, 'onnx'), tmp]) assert.ok(before.includes(`fsync ${p}`), `${p} not flushed before the rename:\n${log.join('\n')}`);
    assert.deepEqual(log.slice(renamed + 1), [`fsync ${dir}`]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Records fsync (by the path its descriptor was opened with) and rename calls, in order. */
function recordFlushes(t: TestContext): string[] {
  const log: string[] = [];
  const opened = new Map<number, string>();
  const open = realFs.openSync, fsync = realFs.fsyncSync, rename = realFs.renameSync;
  t.mock.method(realFs, 'openSync', (...a: Parameters<typeof open>) => {
    const fd = open(...a);
    opened.set(fd, String(a[0]));
    return fd;
  });
  t.mock.method(realFs, 'fsyncSync', (fd: number) => {
    log.push(`fsync ${opened.get(fd)}`);
    fsync(fd);
  });
  t.mock.method(realFs, 'renameSync', (from: fs.PathLike, to: fs.PathLike) => {
    log.push(`rename ${String(from)} ${String(to)}`);
    rename(from, to);
  });
  return log;
}

test("an atomic write removes the temporary files that killed writers of the same file left, never a live writer's or another file's (before: they stayed for good)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-stale-'));
  try {
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const killed = path.join(dir, `.v.safetensors.tmp-${dead}-0123abcd`);
    const live = path.join(dir, `.v.safetensors.tmp-${process.ppid}-0123abcd`);
    const other = path.join(dir, `.w.safetensors.tmp-${dead}-0123abcd`);
    for (const f of [killed, live, other]) fs.writeFileSync(f, 'half');
    const dayAgo = new Date(Date.now() - 86_400_000);
    fs.utimesSync(killed, dayAgo, dayAgo);
    fs.utimesSync(live, dayAgo, dayAgo);
    writeFileAtomic(path.join(dir, 'v.safetensors'), 'data');
    assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(live), path.basename(other), 'v.safetensors'].sort());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
