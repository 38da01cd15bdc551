/** What the side-by-side view is sent about a finished answer. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { sideStats } from '../../src/webview/protocol';
import type { AskSideResult } from '../../src/engine/ask';

const side = (over: Partial<AskSideResult>): AskSideResult => ({ text: 'Yes', tokens: [1, 2, 3], msPerToken: 12.5, totalMs: 80, prefillMs: 40, prefillReused: false, editMs: 0, stopReason: 'eos', ...over });

test("a side's statistics carry its token count, ms/token, total time and stop reason", () => {
  assert.deepEqual(sideStats(side({})), { tokens: 3, msPerToken: 12.5, totalMs: 80, stopReason: 'eos' });
});

test('a one-token answer has no ms/token (null, which the view shows as a dash), not 0 ms', () => {
  const stats = sideStats(side({ tokens: [7], msPerToken: NaN }));
  assert.equal(stats.msPerToken, null);
  assert.deepEqual(JSON.parse(JSON.stringify(stats)), stats, 'survives the JSON the webview message is sent as');
});
