/** What "Insert" in the side-by-side view writes, and the message that asks for it. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { insertionText, placeAfterEdit } from '../../src/commands/answerInsertion';
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

test('the place an answer goes follows edits made while it is generated', () => {
  const at = { line: 4, character: 10 };
  const edit = (sl: number, sc: number, el: number, ec: number, text: string) => placeAfterEdit(at, { start: { line: sl, character: sc }, end: { line: el, character: ec }, text });
  assert.deepEqual(edit(6, 0, 6, 0, 'later\n'), at, 'an edit after it');
  assert.deepEqual(edit(4, 11, 4, 12, ''), at, 'an edit just after it on its line');
  assert.deepEqual(edit(1, 0, 1, 0, 'new line\n'), { line: 5, character: 10 }, 'a line added above');
  assert.deepEqual(edit(1, 0, 3, 0, ''), { line: 2, character: 10 }, 'two lines deleted above');
  assert.deepEqual(edit(4, 2, 4, 2, 'abc'), { line: 4, character: 13 }, 'text typed earlier on its line');
  assert.deepEqual(edit(4, 2, 4, 2, 'a\r\nbc'), { line: 5, character: 10 }, 'a line break typed earlier on its line (CRLF)');
  assert.deepEqual(edit(3, 5, 4, 4, 'x'), { line: 3, character: 12 }, 'a join of its line with the one above');
  assert.deepEqual(edit(4, 10, 4, 10, 'typed'), { line: 4, character: 15 }, 'text typed exactly there: the answer goes after it');
  assert.deepEqual(edit(2, 0, 6, 0, 'replaced\nall'), { line: 3, character: 3 }, 'an edit around it: the end of the new text');
});

test("the webview's re-run request carries a finite strength within the limit; anything else is ignored", () => {
  assert.deepEqual(parseFromWebview({ type: 'rerunSteered', cV: 4.5 }), { type: 'rerunSteered', cV: 4.5 });
  assert.deepEqual(parseFromWebview({ type: 'rerunSteered', cV: -100, extra: 'dropped' }), { type: 'rerunSteered', cV: -100 });
  for (const cV of [Number.NaN, Infinity, 100.5, -1e9, '4', null, undefined]) assert.equal(parseFromWebview({ type: 'rerunSteered', cV }), undefined, String(cV));
  assert.deepEqual(parseFromWebview({ type: 'cancel', side: 'x' }), { type: 'cancel' });
  for (const junk of [null, 'ready', 42, { type: 'eval', code: '1' }, { type: 'copy', side: '__proto__' }]) assert.equal(parseFromWebview(junk), undefined, JSON.stringify(junk));
});
