/**
 * Small tmpfs file systems for full-disk tests: mounting needs root (CI runs as root), so tests
 * skip with `smallDiskSkip` elsewhere. Every mount is undone when the test file ends.
 */
import { after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const mounts: string[] = [];
after(() => {
  for (const d of mounts) {
    execFileSync('umount', [d]);
    fs.rmSync(d, { recursive: true, force: true });
  }
});

/** A fresh tmpfs of `kib` KiB, or undefined when this process may not mount one. */
export function smallDisk(kib: number): string | undefined {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    fs.rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  mounts.push(dir);
  return dir;
}

export const smallDiskSkip: string | false = smallDisk(16) ? false : 'mounting a small tmpfs needs root: the full-disk tests run in CI (as root)';

/** Fills the rest of `dir`'s file system with one file. */
export function fill(dir: string): void {
  const fd = fs.openSync(path.join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    fs.closeSync(fd);
  }
}
