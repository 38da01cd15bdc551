/** `kvsteer ask --compare`'s two columns: wrapping never breaks a character. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { sideBySide, wrap } from '../../src/cli/sideBySide';

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

test('a word longer than the column is cut between characters, never inside an emoji (a lone surrogate prints as �)', () => {
  const word = 'x' + '🐱'.repeat(20);
  const lines = wrap(word, 20);
  assert.equal(lines.join(''), word);
  for (const l of lines) {
    assert.doesNotMatch(l, loneSurrogate, JSON.stringify(l));
    assert.ok(l.length <= 20, JSON.stringify(l));
  }
  const shown = sideBySide({ title: 'A', text: word, stats: [] }, { title: 'B', text: '😀'.repeat(30), stats: [] }, 43);
  assert.doesNotMatch(shown, loneSurrogate);
  assert.equal(Buffer.from(shown, 'utf8').toString('utf8'), shown);
});
