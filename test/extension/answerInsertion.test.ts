/** What "Insert" in the side-by-side view writes, and the message that asks for it. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { insertionText } from '../../src/commands/answerInsertion';
import { parseFromWebview } from '../../src/webview/protocol';

test('an answer to a selection goes on lines of its own after it, a blank line between', () => {
  // The selection ended mid-line (at the end of the question's line).
  assert.equal(insertionText('Ice is less dense.\n\n', true, false), '\n\nIce is less dense.');
  // The selection took its line break: the answer starts on the next line.
  assert.equal(insertionText('Ice is less dense.', true, true), '\nIce is less dense.\n');
});

test('an answer to a typed question goes in at the cursor as it is, without trailing blank lines', () => {
  assert.equal(insertionText('Paris.\n', false, false), 'Paris.');
  assert.equal(insertionText('  Paris.', false, true), '  Paris.');
});

test("the webview's insert request names a side; anything else is ignored", () => {
  assert.deepEqual(parseFromWebview({ type: 'insert', side: 'steered' }), { type: 'insert', side: 'steered' });
  assert.equal(parseFromWebview({ type: 'insert', side: 'both' }), undefined);
  assert.equal(parseFromWebview({ type: 'insert' }), undefined);
});
