/**
 * Where tests find things outside the compiled tree: the repository root, the read-only
 * `../shared` folder beside the checkout (benchmarks, reference generations), and the
 * git-ignored cache that `npm run model:fetch` fills.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Repository root, found from the compiled file location (out/test/support → ../../..). */
export const repoRoot = findRepoRoot(__dirname);

/** The shared folder: `KVSTEER_SHARED` when set, else `../shared` beside the checkout. */
export const sharedDir = process.env.KVSTEER_SHARED ?? path.resolve(repoRoot, '..', 'shared');

/**
 * Returns the path of a file under the shared folder, or a skip reason when the folder is
 * absent (tests pass the reason to `t.skip`/`{ skip }` so a run without it says why).
 */
export function sharedFile(...parts: string[]): { path: string; skip: false } | { path: string; skip: string } {
  const p = path.join(sharedDir, ...parts);
  if (fs.existsSync(p)) return { path: p, skip: false };
  return { path: p, skip: `shared file ${p} is absent (set KVSTEER_SHARED or place ../shared beside the checkout)` };
}

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'src'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the repository root above ${start}`);
    dir = parent;
  }
}
