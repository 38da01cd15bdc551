/**
 * SHA-256 of a file, memoised in a small index keyed by (path, size, mtime) so that loading a
 * multi-gigabyte GGUF a second time does not re-read it just to find its cache folder.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from './atomicWrite';

export async function sha256File(file: string, indexDir?: string): Promise<string> {
  const st = fs.statSync(file);
  const key = `${path.resolve(file)}|${st.size}|${st.mtimeMs}`;
  const indexFile = indexDir ? path.join(indexDir, 'hash-index.json') : undefined;
  let index: Record<string, string> = {};
  if (indexFile && fs.existsSync(indexFile)) {
    try {
      index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as Record<string, string>;
    } catch {
      index = {}; // a damaged index only costs a re-hash
    }
    if (typeof index[key] === 'string') return index[key];
  }
  const hash = crypto.createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file)
      .on('data', (c) => hash.update(c))
      .on('end', () => resolve())
      .on('error', reject);
  });
  const digest = hash.digest('hex');
  if (indexFile) {
    index[key] = digest;
    writeFileAtomic(indexFile, JSON.stringify(index, null, 1));
  }
  return digest;
}
