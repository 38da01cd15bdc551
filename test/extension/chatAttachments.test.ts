/** Which references of a chat request `@kvsteer` reads as attached text. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { isAttachable } from '../../src/chat/chatAttachments';

test("what the user attached and the editor's selection are read; implicit whole files and agent instructions are not", () => {
  for (const id of ['vscode.file', 'vscode.selection', 'vscode.implicit.selection', 'file:notes.md']) assert.equal(isAttachable(id), true, id);
  for (const id of ['vscode.implicit.file', 'vscode.implicit.viewport', 'vscode.implicit', 'vscode.prompt.instructions.root__file:///w/.github/copilot-instructions.md']) {
    assert.equal(isAttachable(id), false, id);
  }
});
