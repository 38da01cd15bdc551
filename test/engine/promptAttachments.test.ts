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
