/**
 * Atomic file and folder writes: data goes to a temporary sibling first and is renamed into place
 * only when complete, so a crash, a full disk or a cancellation never leaves a half-written file
 * where a reader would find it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KvsteerError, describeWriteError } from './errors';

/** Cleanup after a failed write; the write's own error is the one to report. */
function removeQuietly(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // e.g. ENOTDIR: the temporary file could not have been made either
  }
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A failed write of `file` described, with what became of it: its previous content, or nothing. */
function fileWriteError(e: unknown, file: string): unknown {
  return describeWriteError(e, file, isFile(file) ? 'the previous file is unchanged' : 'nothing was written there');
}

/** A temporary sibling of `target`, named so that removeStaleTempSiblings knows whose it is. */
export function tempSibling(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Whether `pid` names another process that has ended (not NaN, not this one, not a live one). */
function writerIsGone(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Removes temporary siblings of `target` left by processes that died mid-write (killed, or a
 * window reloaded during a GGUF import): nothing else ever would, and an import's is as large as
 * the model. Those of live processes are theirs to finish.
 */
export function removeStaleTempSiblings(target: string): void {
  const prefix = `.${path.basename(target)}.tmp-`;
  let entries: string[];
  try {
    entries = fs.readdirSync(path.dirname(target));
  } catch {
    return;
  }
  for (const e of entries) {
    const pid = e.startsWith(prefix) ? Number(/^(\d+)-[0-9a-f]{8}$/.exec(e.slice(prefix.length))?.[1]) : NaN;
    removeIfWriterGone(path.join(path.dirname(target), e), pid);
  }
}

/** Removes `p`, a temporary file written by process `pid`, once that process has ended (never this one's or a live one's). */
export function removeIfWriterGone(p: string, pid: number): void {
  if (writerIsGone(pid)) removeQuietly(p);
}

/** Writes `data` to a new file `p` and flushes it to the disk before returning. */
function writeFileDurable(p: string, data: string | Uint8Array): void {
  const fd = fs.openSync(p, 'wx');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Flushes a file, or a folder's entries and every file below it, to the disk (links are not followed). */
function fsyncTree(p: string): void {
  const st = fs.lstatSync(p);
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(p)) fsyncTree(path.join(p, e));
    fsyncDir(p);
    return;
  }
  if (!st.isFile()) return;
  // Opened for writing: Windows flushes only such handles.
  const fd = fs.openSync(p, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Flushes a folder's entries (a rename into it) to the disk. Some platforms cannot open or
 * fsync a folder (Windows: EISDIR, EPERM; some file systems: EINVAL); there the rename stands as made.
 */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (e) {
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EACCES'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Writes `data` to `file` via a temp file + rename; the temp file is removed on failure, and those
 * that writers of `file` killed mid-write left are removed first. The data reaches the disk before
 * the rename, and the rename before returning: otherwise a power loss could leave `file` renamed
 * into place but empty.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  removeStaleTempSiblings(file);
  const tmp = tempSibling(file);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileDurable(tmp, data);
    fs.renameSync(tmp, file);
    fsyncDir(path.dirname(file));
  } catch (e) {
    removeQuietly(tmp);
    throw fileWriteError(e, file);
  }
}

/**
 * Builds a folder through `fill(tempDir)` and renames it to `target` at the end, its files flushed
 * to the disk first. If `fill` throws (or the rename fails) the temporary folder is deleted, so
 * `target` either appears complete or not at all. An existing `target` is replaced only after the
 * new one is complete, unless `keepExisting` says it is already what was being built (another
 * process finished the same work first: replacing it would pull the folder from under that process
 * while it reads it); then the new one is dropped. Returns whether `target` is the folder built here.
 */
export async function buildFolderAtomic(
  target: string,
  fill: (tempDir: string) => Promise<void>,
  keepExisting: (existing: string) => boolean = () => false,
): Promise<'built' | 'kept'> {
  removeStaleTempSiblings(target);
  const tmp = tempSibling(target);
  try {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.mkdirSync(tmp);
    await fill(tmp);
    // As writeFileAtomic: the files reach the disk before the folder is renamed into place.
    fsyncTree(tmp);
    if (fs.existsSync(target)) {
      if (keepExisting(target)) {
        fs.rmSync(tmp, { recursive: true, force: true });
        return 'kept';
      }
      fs.rmSync(target, { recursive: true, force: true });
    }
    fs.renameSync(tmp, target);
    fsyncDir(path.dirname(target));
    return 'built';
  } catch (e) {
    removeQuietly(tmp);
    throw describeWriteError(e, target, 'nothing was left there');
  }
}

/** How long withFileLock waits for another process's lock before giving up. */
export const LOCK_WAIT_MS = 10_000;

/**
 * Runs `fn` holding an exclusive lock on `target` (a `.NAME.lock` sibling holding this process's
 * id), so that read-modify-write cycles of one file by several processes (two `kvsteer extract
 * --id` runs into one folder) do not lose each other's changes. A lock left by a process that has
 * died is taken over; one held longer than LOCK_WAIT_MS is an error naming both files.
 */
export function withFileLock<T>(target: string, fn: () => T): T {
  const lock = path.join(path.dirname(target), `.${path.basename(target)}.lock`);
  const until = Date.now() + LOCK_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let fd: number;
    try {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fd = fs.openSync(lock, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fileWriteError(e, target);
      let holder = NaN;
      try {
        holder = Number(fs.readFileSync(lock, 'utf8') || NaN);
      } catch (r) {
        if ((r as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        // Unreadable (a folder, another user's file): waited for as a holder that is alive, up to the limit.
      }
      // The holder may not have written its id yet (NaN): it is alive, wait for it.
      if (writerIsGone(holder)) {
        removeQuietly(lock);
        continue;
      }
      if (Date.now() > until) {
        throw new KvsteerError('WRITE_FAILED', `${target}: another process${Number.isInteger(holder) ? ` (${holder})` : ''} has been writing it for over ${LOCK_WAIT_MS / 1000} s (its lock is ${lock}); nothing was written. Try again, or delete the lock if no kvsteer is running.`);
      }
      Atomics.wait(pause, 0, 0, 5 + Math.random() * 10);
      continue;
    }
    try {
      try {
        fs.writeSync(fd, String(process.pid));
      } finally {
        fs.closeSync(fd);
      }
      return fn();
    } catch (e) {
      throw fileWriteError(e, target);
    } finally {
      removeQuietly(lock);
    }
  }
}
