/**
 * A full disk, for real: a small tmpfs mounted for the test (root only; the test skips with a
 * message elsewhere). A GGUF import, a vector save and an evaluation's answer log each fail with a
 * DISK_FULL error that names the target and says what was kept, and leave no half-written file;
 * what needs no room (a model already imported) still works.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { importGguf } from '../../../src/engine/gguf/importGguf';
import { saveVector } from '../../../src/engine/steering/vectorFile';
import { EvalConfig, runEval } from '../../../src/engine/eval/runEval';
import { KvsteerError } from '../../../src/engine/util/errors';
import { loadTinyModel, tinyGgufPath } from '../../support/models';
import { fakeVector } from '../../support/fakeVector';
import { fill, smallDisk, smallDiskSkip } from '../../support/smallDisk';

const skip = smallDiskSkip;

const diskFull = (target: RegExp, kept: RegExp) => (e: unknown) => {
  assert.ok(e instanceof KvsteerError, String(e));
  assert.equal(e.code, 'DISK_FULL', e.message);
  assert.match(e.message, target);
  assert.match(e.message, /the disk is full \(ENOSPC\)/);
  assert.match(e.message, kept);
  return true;
};

test('a GGUF import onto a full disk fails with DISK_FULL and leaves nothing in the cache', { skip }, async () => {
  const cacheDir = smallDisk(96)!;
  await assert.rejects(importGguf(tinyGgufPath(), { cacheDir }), diskFull(/gguf-[0-9a-f]{16}-exact-v\d+/, /nothing was left there/));
  assert.deepEqual(fs.readdirSync(cacheDir).filter((f) => f !== 'hash-index.json'), []);
});

test('saving a vector onto a full disk fails with DISK_FULL and keeps the previous file', { skip }, async () => {
  const m = await loadTinyModel();
  const dir = smallDisk(64)!;
  const file = path.join(dir, 'v.safetensors');
  saveVector(file, fakeVector(m, 0.1));
  const before = fs.readFileSync(file);
  fill(dir);
  assert.throws(() => saveVector(file, fakeVector(m, 0.2)), diskFull(/v\.safetensors/, /the previous file is unchanged/));
  assert.deepEqual(fs.readFileSync(file), before);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['filler', 'v.safetensors']);
  assert.throws(() => saveVector(path.join(dir, 'new.safetensors'), fakeVector(m)), diskFull(/new\.safetensors/, /nothing was written there/));
  await m.dispose();
});

test('an evaluation whose answer log hits a full disk stops with DISK_FULL, and the run resumes once there is space', { skip }, async () => {
  const m = await loadTinyModel();
  const dir = smallDisk(64)!;
  fill(dir);
  const filler = path.join(dir, 'filler');
  // Free room for a few answers only (tmpfs counts whole 4 KiB pages).
  fs.truncateSync(filler, fs.statSync(filler).size - 8 * 1024);
  const rows = Array.from({ length: 30 }, (_, i) => ({ id: `q${i}`, question: `Which is wet?\n\nChoices:\nA: the sea ${i}\nB: sand`, answer: 'A' }));
  const cfg: EvalConfig = {
    task: 'arc-challenge', rows, methods: ['baseline'], decoding: 'greedy', seeds: 1,
    sampling: { temperature: 0.6, topP: 0.9, topK: 50 }, maxNewTokens: 12, outDir: dir,
  };
  await assert.rejects(runEval(m, cfg), diskFull(/generations\.jsonl/, /answers before it are kept and the run resumes from there/));
  const log = path.join(dir, 'generations.jsonl');
  const kept = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.endsWith('}')).length;
  assert.ok(kept > 0 && kept < rows.length, `${kept} answers kept`);
  fs.rmSync(filler);
  let computed = 0;
  const out = await runEval(m, { ...cfg, onProgress: (p) => (computed = p.done - p.skipped) });
  assert.equal(out.length, rows.length);
  assert.ok(computed <= rows.length - kept + 1, `recomputed ${computed}`);
  await m.dispose();
});

test('a GGUF already imported loads from a full disk, even when the file must be hashed again (its hash index cannot be written)', { skip }, async () => {
  const cacheDir = smallDisk(512)!;
  const first = await importGguf(tinyGgufPath(), { cacheDir });
  fill(cacheDir);
  // A new modification time: the hash index no longer vouches for the file.
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(tinyGgufPath(), later, later);
  const again = await importGguf(tinyGgufPath(), { cacheDir });
  assert.equal(again.folder, first.folder);
  assert.equal(again.converted, false);
});
