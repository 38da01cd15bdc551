/**
 * Why the extension host runs the model's session in a worker thread: on the real model, a long
 * prompt's prefill holds the calling thread's event loop for each whole ONNX Runtime call when the
 * session runs on that thread, and hardly at all when it runs in a worker, with the same answer.
 * Measured side by side in one run: the longest event-loop stall in each mode.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadModel } from '../../../src/engine/model/loadModel';
import { generate } from '../../../src/engine/generation/generate';
import { realGguf, realModelSkip } from '../../support/models';

test('a long prompt prefilled in a worker leaves the event loop free, with the tokens of the calling thread', { skip: realModelSkip }, async () => {
  const stall: Record<string, number> = {};
  const tokens: Record<string, number[]> = {};
  for (const sessionThread of ['main', 'worker'] as const) {
    const m = await loadModel(realGguf, { threads: 2, sessionThread });
    try {
      const text = Array.from({ length: 40 }, (_, i) => `Note ${i}: the river rose by ${i} cm overnight.`).join(' ');
      const promptIds = m.tokenizer.encode(m.tokenizer.applyChatTemplate([{ role: 'user', content: `${text}\nSummarise the notes.` }]));
      assert.ok(promptIds.length > 600, `${promptIds.length} prompt tokens`);
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      const r = await generate(m, { promptIds, maxNewTokens: 8 });
      delay.disable();
      stall[sessionThread] = delay.max / 1e6;
      tokens[sessionThread] = r.tokenIds;
    } finally {
      await m.dispose();
    }
  }
  console.log(`# longest event-loop stall during a prefill: calling thread ${stall.main.toFixed(0)} ms, worker ${stall.worker.toFixed(0)} ms`);
  assert.deepEqual(tokens.worker, tokens.main);
  // On the calling thread a stall is a whole prefill call (about half a second by design).
  assert.ok(stall.main > 150, `calling thread: longest stall ${stall.main.toFixed(0)} ms`);
  assert.ok(stall.worker < stall.main / 3, `worker: longest stall ${stall.worker.toFixed(0)} ms against ${stall.main.toFixed(0)} ms on the calling thread`);
});
