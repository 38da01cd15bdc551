/** `kvsteer ask --file`: how much of a file is read, and what reaches the prompt. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readAttachedFiles } from '../../src/cli/attachedFiles';
import { attachToPrompt, MAX_ATTACHED_CHARS } from '../../src/engine/promptAttachments';

test('a file far past the attachment budget is read only as far as the budget reaches (a huge log attaches cut instead of crashing), with the same prompt as reading it all', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-attach-'));
  try {
    // Multi-byte text (2-, 3- and 4-byte characters), so the read bound must hold for any UTF-8.
    const line = 'café 日本語 😀 log line\n';
    const full = line.repeat(Math.ceil((4 * 1024 * 1024) / line.length));
    const file = path.join(dir, 'big.log');
    fs.writeFileSync(file, full);
    const [read] = readAttachedFiles({ file: [file] });
    assert.ok(read.text.length <= 4 * MAX_ATTACHED_CHARS, `read ${read.text.length} characters for a budget of ${MAX_ATTACHED_CHARS}`);
    const whole = { name: file, text: full };
    assert.deepEqual(attachToPrompt('What went wrong?', [read]), attachToPrompt('What went wrong?', [whole]));
    // Whatever the budget left, as a later attachment sees it.
    for (const budget of [1, 2, 7, 100, MAX_ATTACHED_CHARS]) {
      assert.deepEqual(attachToPrompt('Q', [read], budget), attachToPrompt('Q', [whole], budget), `budget ${budget}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
