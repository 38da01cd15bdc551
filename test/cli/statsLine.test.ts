/** The stats line `kvsteer ask` and `kvsteer chat` print on stderr after an answer. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { statsLine } from '../../src/cli/statsLine';
import type { AskSideResult } from '../../src/engine/ask';

const side = (tokens: number, msPerToken: number): AskSideResult => ({
  text: 'x', tokens: new Array(tokens).fill(7), msPerToken, totalMs: 1234, prefillMs: 100, prefillReused: false, editMs: 0, stopReason: 'max-tokens',
});

test('the stats line gives ms/token, and a dash rather than NaN when no decoding step ran (one token, or EOS first)', () => {
  assert.equal(statsLine(side(12, 41.25)), '[12 tokens, 41.3 ms/token, 1.23 s, stop: max-tokens]');
  assert.equal(statsLine(side(1, NaN)), '[1 tokens, — ms/token, 1.23 s, stop: max-tokens]');
  assert.doesNotMatch(statsLine(side(0, NaN)), /NaN/);
});
