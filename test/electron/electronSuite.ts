/**
 * Smoke tests that run inside a desktop VS Code (see runTest.ts): the extension activates fast,
 * registers its commands, and its settings are readable. Uses the test API of @vscode/test-electron
 * (a `run()` export); assertions with node:assert.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { COMMANDS, EXTENSION_ID, SETTINGS_SECTION } from '../../src/ids';

export async function run(): Promise<void> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is not installed in the test instance`);
  const t0 = performance.now();
  await ext.activate();
  console.log(`kvsteer activated in ${(performance.now() - t0).toFixed(1)} ms`);
  const commands = await vscode.commands.getCommands(true);
  for (const id of Object.values(COMMANDS)) assert.ok(commands.includes(id), `command ${id} is not registered`);
  const cfg = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  assert.equal(cfg.get('model'), 'HuggingFaceTB/SmolLM2-135M-Instruct');
  console.log('kvsteer electron smoke tests passed');
}
