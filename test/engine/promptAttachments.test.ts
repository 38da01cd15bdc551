/**
 * Attached text before a question (`@kvsteer`'s #selection and #file, `kvsteer ask --file`): fenced
 * blocks under their names, within a character budget, with a line saying what was cut or left out.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { attachmentsLine, attachToPrompt, MAX_ATTACHED_CHARS } from '../../src/engine/promptAttachments';

test('without attachments the question is the whole turn', () => {
  const a = attachToPrompt('Why is the sky blue?', []);
  assert.equal(a.content, 'Why is the sky blue?');
  assert.equal(attachmentsLine(a), undefined);
});

test('an attachment goes before the question, fenced under its name', () => {
  const a = attachToPrompt('What does it return?', [{ name: 'src/add.ts:3-5', text: 'function add(a, b) {\n  return a + b;\n}\n' }]);
  assert.equal(a.content, 'src/add.ts:3-5:\n```\nfunction add(a, b) {\n  return a + b;\n}\n```\n\nWhat does it return?');
  assert.equal(attachmentsLine(a), 'Attached: src/add.ts:3-5');
});

test('a fence longer than any backtick run inside, so an attached Markdown file cannot close it', () => {
  const a = attachToPrompt('Summarise.', [{ name: 'README.md', text: 'Run:\n```sh\nnpm test\n```' }]);
  assert.ok(a.content.startsWith('README.md:\n````\nRun:\n```sh\nnpm test\n```\n````\n\nSummarise.'), a.content);
});

test('attachments share one budget: the one that overflows is cut, later ones left out, and the line says so', () => {
  const big = 'x'.repeat(MAX_ATTACHED_CHARS - 100);
  const a = attachToPrompt('Q?', [
    { name: 'a.txt', text: big },
    { name: 'b.txt', text: 'y'.repeat(500) },
    { name: 'c.txt', text: 'z' },
  ]);
  assert.ok(a.content.includes(big));
  assert.ok(a.content.includes('y'.repeat(100)) && !a.content.includes('y'.repeat(101)));
  assert.ok(!a.content.includes('c.txt'));
  assert.equal(attachmentsLine(a), `Attached: a.txt, b.txt (cut to its first 100 characters), c.txt left out (the ${MAX_ATTACHED_CHARS}-character budget for attachments is used)`);
});

test('empty and unreadable attachments are left out by name; an attachment alone is a turn', () => {
  const a = attachToPrompt('', [
    { name: 'empty.txt', text: '  \n' },
    { name: 'logo.png', text: '', unreadable: 'not text' },
    { name: 'notes.md', text: 'Meeting on Thursday.' },
  ]);
  assert.equal(a.content, 'notes.md:\n```\nMeeting on Thursday.\n```');
  assert.equal(attachmentsLine(a), 'Attached: notes.md, empty.txt left out (empty), logo.png left out (not text)');
});

test('an attachment cut at the budget never ends in half a character (an emoji split into a lone surrogate)', () => {
  // 9 characters then an emoji (two UTF-16 units) across the 10-character budget.
  const a = attachToPrompt('Q?', [{ name: 'e.txt', text: 'aaaaaaaaa😀 after' }], 10);
  assert.doesNotMatch(a.content, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/, 'a lone high surrogate reached the model (it reads U+FFFD)');
  assert.match(a.content, /^e\.txt:\n```\naaaaaaaaa\n```\n\nQ\?$/);
  assert.deepEqual(a.used, [{ name: 'e.txt', note: 'cut to its first 9 characters' }]);
  assert.equal(Buffer.from(a.content, 'utf8').toString('utf8'), a.content);
  // One unit of budget left and an emoji first: nothing of it fits, so it is left out, not an empty block.
  const b = attachToPrompt('Q?', [{ name: 'a.txt', text: 'aaaaaaaaa' }, { name: 'e.txt', text: '😀' }], 10);
  assert.equal(b.content, 'a.txt:\n```\naaaaaaaaa\n```\n\nQ?');
  assert.deepEqual(b.leftOut.map((l) => l.name), ['e.txt']);
});
