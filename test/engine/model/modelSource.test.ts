/**
 * Where models and their caches go when the user says nothing, or says it through the
 * environment.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultCacheDir, parseModelSource } from '../../../src/engine/model/modelSource';

function withCacheEnv(value: string | undefined, run: () => void): void {
  const saved = process.env.KVSTEER_CACHE_DIR;
  if (value === undefined) delete process.env.KVSTEER_CACHE_DIR;
  else process.env.KVSTEER_CACHE_DIR = value;
  try {
    run();
  } finally {
    if (saved === undefined) delete process.env.KVSTEER_CACHE_DIR;
    else process.env.KVSTEER_CACHE_DIR = saved;
  }
}

test('the cache is ~/.cache/kvsteer when KVSTEER_CACHE_DIR is unset or empty (not the current folder)', () => {
  const home = path.join(os.homedir(), '.cache', 'kvsteer');
  withCacheEnv(undefined, () => assert.equal(defaultCacheDir(), home));
  withCacheEnv('', () => assert.equal(defaultCacheDir(), home));
  withCacheEnv('  ', () => assert.equal(defaultCacheDir(), home));
});

test('KVSTEER_CACHE_DIR is used as an absolute folder, a relative one resolved once', () => {
  withCacheEnv('/srv/kvsteer-cache', () => assert.equal(defaultCacheDir(), '/srv/kvsteer-cache'));
  withCacheEnv('rel-cache', () => assert.equal(defaultCacheDir(), path.resolve('rel-cache')));
});

test('a model path starting ~\\ (as Windows writes it) is in the home folder, as one starting ~/ is', () => {
  const cwd = path.join(os.tmpdir(), 'elsewhere');
  assert.deepEqual(parseModelSource('~\\models\\x.gguf', cwd), { kind: 'gguf', path: path.join(os.homedir(), 'models\\x.gguf') });
  assert.deepEqual(parseModelSource('~/models/x.gguf', cwd), { kind: 'gguf', path: path.join(os.homedir(), 'models/x.gguf') });
});
