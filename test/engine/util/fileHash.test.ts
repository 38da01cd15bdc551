/** The hash index is a cache: damaged or unwritable, it costs a re-hash, never a load. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sha256File } from '../../../src/engine/util/fileHash';

function inTempDir(body: (dir: string, file: string, digest: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-hash-'));
  const file = path.join(dir, 'model.gguf');
  fs.writeFileSync(file, 'weights');
  const digest = crypto.createHash('sha256').update('weights').digest('hex');
  return body(dir, file, digest).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}

test('a damaged hash index (not JSON, null, a list, a digest that is not one) gives the true digest, not a TypeError or the damaged value', () =>
  inTempDir(async (dir, file, digest) => {
    const key = `${path.resolve(file)}|${fs.statSync(file).size}|${fs.statSync(file).mtimeMs}`;
    for (const damaged of ['{ torn', 'null', '[1, 2]', '7', JSON.stringify({ [key]: 'not-a-digest' }), JSON.stringify({ [key]: 42 })]) {
      fs.writeFileSync(path.join(dir, 'hash-index.json'), damaged);
      assert.equal(await sha256File(file, dir), digest, damaged);
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'hash-index.json'), 'utf8'))[key], digest, `${damaged}: repaired`);
    }
  }));

test('an index that cannot be written (here a folder at its path) still gives the digest, as a full disk or a read-only cache would', () =>
  inTempDir(async (dir, file, digest) => {
    fs.mkdirSync(path.join(dir, 'hash-index.json'));
    assert.equal(await sha256File(file, dir), digest);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['hash-index.json', 'model.gguf'], 'no temporary file left');
  }));

test('cancelling while a large file is hashed stops the read at once with the import cancelled, and records nothing (before: the whole file was read)', () =>
  inTempDir(async (dir) => {
    // 2 GB, sparse: reading it takes seconds, as a multi-gigabyte GGUF does.
    const big = path.join(dir, 'big.gguf');
    fs.closeSync(fs.openSync(big, 'w'));
    fs.truncateSync(big, 2 * 1024 ** 3);
    const ac = new AbortController();
    const started = performance.now();
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(sha256File(big, dir, ac.signal), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'CANCELLED', e.message);
      assert.match(e.message, /GGUF import was cancelled/);
      return true;
    });
    const took = performance.now() - started;
    assert.ok(took < 1000, `stopped after ${took.toFixed(0)} ms`);
    assert.ok(!fs.existsSync(path.join(dir, 'hash-index.json')), 'no digest recorded');
    // An aborted signal stops it before any read.
    await assert.rejects(sha256File(big, dir, AbortSignal.abort()), /GGUF import was cancelled/);
  }));
