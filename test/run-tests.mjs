// Runs every compiled `*.test.js` under out/test whose .ts source still exists (optionally only
// those under the folders or files given as arguments) with Node's built-in runner, one file at a
// time: the real-model tests each use both cores, so running them side by side would only slow
// every one of them down. The
// end-to-end suite (test/e2e) runs only when named: `npm run test:e2e` prepares what it needs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const explicit = process.argv.slice(2);
const roots = explicit.length ? explicit : ['test'];
const files = [];
for (const r of roots) {
  const before = files.length;
  collect(path.join(root, 'out', r.replace(/\.ts$/, '.js')));
  // A mistyped file or folder among several would otherwise just not run.
  if (explicit.length && files.length === before) {
    console.error(`no compiled test files for ${r} (is the path right, and did the build run?)`);
    process.exit(1);
  }
}
if (!explicit.length) {
  const e2e = path.join(root, 'out', 'test', 'e2e') + path.sep;
  files.splice(0, files.length, ...files.filter((f) => !f.startsWith(e2e)));
}
if (files.length === 0) {
  console.error(`no compiled test files under ${roots.join(', ')} (did the build run?)`);
  process.exit(1);
}
files.sort();
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);

function collect(p) {
  if (!fs.existsSync(p)) return;
  if (fs.statSync(p).isDirectory()) {
    for (const e of fs.readdirSync(p)) collect(path.join(p, e));
  } else if (p.endsWith('.test.js') && fs.existsSync(sourceOf(p))) {
    files.push(p);
  }
}

/** The .ts a compiled test came from: tsc never deletes out/, so a renamed or removed test's old .js stays there. */
function sourceOf(compiled) {
  return path.join(root, path.relative(path.join(root, 'out'), compiled)).replace(/\.js$/, '.ts');
}
