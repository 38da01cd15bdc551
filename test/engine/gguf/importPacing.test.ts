/**
 * A GGUF import runs on the thread it is called from: in VS Code that is the extension host, which
 * every extension shares. On the real SmolLM2 file the import must let the event loop run every few
 * milliseconds (it blocked it from start to end, ~2 s here and tens of seconds for larger models:
 * every extension froze) and stop promptly when its signal is aborted (a Cancel took effect only
 * once the import had finished), leaving nothing in the cache.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { importGguf } from '../../../src/engine/gguf/importGguf';
import { isKvsteerError } from '../../../src/engine/util/errors';
import { realGguf, realModelSkip } from '../../support/models';

/** Longest time the event loop went without running a 2 ms heartbeat while `run` ran. */
async function longestBlockMs(run: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const beat = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  };
  const timer = setInterval(beat, 2);
  try {
    await run();
    beat(); // the stretch from the last heartbeat to the end
  } finally {
    clearInterval(timer);
  }
  return longest;
}

const tempCache = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-pacing-'));

test('a GGUF import never blocks the event loop for long (the whole import did)', { skip: realModelSkip, timeout: 120_000 }, async (t) => {
  const cache = tempCache();
  try {
    let converted = false;
    const longest = await longestBlockMs(async () => {
      converted = (await importGguf(realGguf, { cacheDir: cache })).converted;
    });
    t.diagnostic(`longest block: ${Math.round(longest)} ms`);
    assert.ok(converted, 'the file was imported, not found in the cache');
    // ~50-150 ms here on a busy machine; the old import blocked for all of its ~2 s.
    assert.ok(longest < 300, `the event loop was blocked for ${Math.round(longest)} ms at a time`);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

test('aborting a GGUF import mid-way stops it promptly with the cancellation error, leaves nothing in the cache, and a later import succeeds', { skip: realModelSkip, timeout: 120_000 }, async (t) => {
  const cache = tempCache();
  try {
    const abort = new AbortController();
    let abortedAt = 0;
    const importing = importGguf(realGguf, {
      cacheDir: cache,
      signal: abort.signal,
      onProgress: (p) => {
        // As a Cancel button does: from an event-loop task of its own, not from inside the import.
        if (p.stage === 'weights' && !abortedAt) {
          abortedAt = -1;
          setTimeout(() => {
            abortedAt = performance.now();
            abort.abort();
          }, 0);
        }
      },
    });
    const outcome = await importing.then(
      () => 'finished',
      (e: unknown) => e,
    );
    const stoppedAfter = performance.now() - abortedAt;
    assert.ok(abortedAt > 0, `the import ran to its end before the abort could run (${String(outcome)})`);
    t.diagnostic(`stopped ${Math.round(stoppedAfter)} ms after the abort`);
    assert.ok(isKvsteerError(outcome) && outcome.code === 'CANCELLED', `expected the cancellation error, got ${String(outcome)}`);
    assert.match(outcome.message, /GGUF import was cancelled/);
    // ~20-60 ms here.
    assert.ok(stoppedAfter < 500, `stopped ${Math.round(stoppedAfter)} ms after the abort`);
    const left = fs.readdirSync(cache).filter((f) => f !== 'hash-index.json');
    assert.deepEqual(left, [], 'nothing but the hash index stays in the cache');

    const again = await importGguf(realGguf, { cacheDir: cache });
    assert.ok(again.converted);
    assert.ok(fs.existsSync(path.join(again.folder, 'onnx', 'model.onnx_data')));
    assert.deepEqual(fs.readdirSync(cache).filter((f) => f.includes('.tmp-')), []);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});
