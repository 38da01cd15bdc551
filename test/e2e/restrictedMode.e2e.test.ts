/**
 * The packaged extension in a folder VS Code does not trust (Restricted Mode): kvsteer still
 * answers, with the model and vector of the user's settings, while the folder's own
 * `.vscode/settings.json` names files planted in it (VS Code ignores those two settings there, as
 * the manifest asks); its other settings still apply, and the user's keep-alive of 0 frees the
 * model after the answers. Once the user trusts the folder, the next request uses the folder's
 * model, and so reports the planted file.
 *
 * Needs KVSTEER_E2E_VSIX (npm run test:e2e sets it) and test/e2e/setup.sh; skipped otherwise,
 * unless KVSTEER_E2E_REQUIRED=1, which turns a missing prerequisite into a failure.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installExtension, makeE2eDirs, removeE2eDirs, startServer, type E2eDirs, type RunningServer } from './vscodeServer';
import { answerInputBox, findWebviewFrame, openWorkbench, runCommand, screenshot, withScreenshotOnFailure, type Workbench } from './workbench';
import { askTypedQuestion, metaField } from './compareView';
import { reportLogLines, waitForLogLine } from './extensionLog';
import { missingPrerequisite, vsix } from './prerequisites';
import { realGguf } from '../support/models';

const reason = missingPrerequisite();

/** The workspace's own token budget: not a restricted setting, so it applies in Restricted Mode. */
const WORKSPACE_MAX_TOKENS = 12;

describe('kvsteer in Restricted Mode (an untrusted folder)', { skip: reason, timeout: 600_000 }, () => {
  let dirs: E2eDirs | undefined;
  let server: RunningServer | undefined;
  let wb: Workbench | undefined;
  let plantedModel = '';

  before(async () => {
    dirs = makeE2eDirs('kvsteer-e2e-restricted-');
    // A repository someone else wrote: its settings point kvsteer at files it ships.
    plantedModel = path.join(dirs.workspaceDir, 'planted.gguf');
    fs.writeFileSync(plantedModel, 'not a model');
    fs.writeFileSync(path.join(dirs.workspaceDir, 'planted.safetensors'), 'not a vector');
    fs.mkdirSync(path.join(dirs.workspaceDir, '.vscode'));
    fs.writeFileSync(
      path.join(dirs.workspaceDir, '.vscode', 'settings.json'),
      // Relative to the folder, as a repository's settings name its own files.
      JSON.stringify({ 'kvsteer.model': 'planted.gguf', 'kvsteer.vector': '${workspaceFolder}/planted.safetensors', 'kvsteer.maxNewTokens': WORKSPACE_MAX_TOKENS }, null, 2),
    );
    assert.equal((await installExtension(vsix!, dirs, { timeoutMs: 180_000 })).id, 'kvsteer.kvsteer');
    server = await startServer({
      ...dirs,
      name: 'kvsteer-restricted',
      // Started from elsewhere (a launcher, not `code .`): the extension host's working folder is
      // not the workspace, so a relative setting read there would miss the folder's file.
      cwd: dirs.root,
      // Workspace trust on, and no startup question: an unknown folder opens in Restricted Mode.
      settings: { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never', 'kvsteer.model': realGguf, 'kvsteer.maxNewTokens': 48, 'kvsteer.threads': 2, 'kvsteer.keepAlive': 0 },
    });
    wb = await openWorkbench(server.url, dirs.workspaceDir, { name: 'kvsteer-restricted' });
  });

  after(async () => {
    await wb?.close();
    await server?.stop();
    if (server) reportLogLines(server.logsDir, /activated in|Restricted Mode|trusted|Loaded |Freeing model/);
    if (dirs) removeE2eDirs(dirs);
  });

  it("answers with the user's model and vector, not the ones the untrusted folder's settings name", async () => {
    const page = wb!.page;
    await withScreenshotOnFailure(page, 'restricted-ask', async () => {
      await page.locator('.statusbar-item').filter({ hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
      const question = 'What is the capital of France?';
      const { frame, baseline: base, steered } = await askTypedQuestion(page, question);
      assert.match(await metaField(frame, 'model'), /SmolLM2-135M-Instruct\.Q4_1\.gguf$/);
      assert.equal(await metaField(frame, 'vector'), 'smollm2-135m-reasoning');
      // The folder's other settings still apply: its token budget caps both answers.
      // (The baseline ends on its own after a few tokens; the steered answer runs into the folder's
      // budget, where the user's 48 would let it run on, so the check can fail.)
      assert.ok(base.tokens <= WORKSPACE_MAX_TOKENS && steered.tokens <= WORKSPACE_MAX_TOKENS, `tokens ${base.tokens} and ${steered.tokens}`);
      assert.equal(Math.max(base.tokens, steered.tokens), WORKSPACE_MAX_TOKENS, 'neither answer reached the folder budget, so it went untested');
      // The log says which settings are set aside, and how to use the folder's.
      assert.match(await waitForLogLine(dirs!.userDataDir, /Restricted Mode/, 10_000), /kvsteer\.model and kvsteer\.vector come from your user settings only/);
      // The user's keep-alive of 0 frees the model once the answers are done.
      await waitForLogLine(dirs!.userDataDir, /Freeing model SmolLM2-135M-Instruct\.Q4_1 after 0 min without requests \(kvsteer\.keepAlive\)/, 15_000);
      await screenshot(page, 'restricted-ask');
    });
  });

  it("uses the folder's model once the folder is trusted, without a reload", async () => {
    const page = wb!.page;
    await withScreenshotOnFailure(page, 'restricted-trusted', async () => {
      await runCommand(page, 'Workspaces: Manage Workspace Trust');
      await page.locator('.workspace-trust-editor .monaco-button', { hasText: /^Trust$/ }).first().click({ timeout: 30_000 });
      await page.locator('.statusbar-item').filter({ hasText: 'Restricted Mode' }).first().waitFor({ state: 'hidden', timeout: 30_000 });
      await waitForLogLine(dirs!.userDataDir, /Workspace trusted/, 10_000);
      await page.locator('.workspace-trust-editor').first().press('Escape');
      await page.locator('.workspace-trust-editor').first().waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => undefined);
      const question = 'Why is the sky blue?';
      await runCommand(page, 'KV Steer: Ask with reasoning steering');
      await answerInputBox(page, question);
      // The planted file is now the model, its relative path read in the workspace folder (not the
      // extension host's working folder): loading it fails with the file named by its full path.
      const frame = await findWebviewFrame(page, async (f) => (await f.locator('[data-testid="question"]').textContent())?.trim() === question, { timeoutMs: 60_000 });
      const error = frame.locator('[data-testid^="error"]').filter({ hasText: plantedModel }).first();
      await error.waitFor({ timeout: 60_000 });
      await screenshot(page, 'restricted-trusted');
    });
  });
});
