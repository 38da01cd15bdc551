/**
 * SHA-256 of a file, memoised in a small index keyed by (path, size, mtime) so that loading a
 * multi-gigabyte GGUF a second time does not re-read it just to find its cache folder.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomicWrite';
import { cancelledError, throwIfAborted } from './errors';

export async function sha256File(file: string, indexDir?: string, signal?: AbortSignal): Promise<string> {
  const st = fs.statSync(file);
  const key = `${path.resolve(file)}|${st.size}|${st.mtimeMs}`;
  const indexFile = indexDir ? path.join(indexDir, 'hash-index.json') : undefined;
  let index: Record<string, unknown> = {};
  if (indexFile && fs.existsSync(indexFile)) {
    // A damaged index only costs a re-hash.
    try {
      const parsed: unknown = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) index = parsed as Record<string, unknown>;
    } catch {
      // not JSON, or unreadable
    }
    const known = index[key];
    if (typeof known === 'string' && /^[0-9a-f]{64}$/.test(known)) return known;
  }
  const hash = crypto.createHash('sha256');
  // A multi-gigabyte GGUF takes seconds to read: a Cancel stops the read where it is.
  throwIfAborted(signal, 'GGUF import');
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file, { signal })
      .on('data', (c) => hash.update(c))
      .on('end', () => resolve())
      .on('error', (e) => reject(signal?.aborted ? cancelledError('GGUF import') : e));
  });
  const digest = hash.digest('hex');
  if (indexFile) {
    index[key] = digest;
    try {
      writeFileAtomic(indexFile, JSON.stringify(index, null, 1));
    } catch {
      // Nor does one that cannot be written (a full disk, a read-only cache): a load of a model
      // already imported needs no room, and an import that does says so for its own folder.
    }
  }
  return digest;
}
