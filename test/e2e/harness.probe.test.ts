/**
 * Proves the e2e harness end to end with a throwaway probe extension (built from
 * scratch/e2e-probe/: a "Probe: Show Panel" command that shows the editor selection, or else an
 * input-box answer, in a webview, and a chat participant @probe with /cmd). Skipped unless
 * KVSTEER_E2E_PROBE_VSIX names the probe's .vsix and test/e2e/setup.sh has run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findServerInstall, installExtension, makeE2eDirs, removeE2eDirs, startServer, type E2eDirs, type RunningServer } from './vscodeServer';
import {
  answerInputBox,
  chatInputRecognises,
  findWebviewFrame,
  openFileAndSelect,
  openWorkbench,
  runCommand,
  screenshot,
  withScreenshotOnFailure,
  type Workbench,
} from './workbench';
import type { Frame } from 'playwright-core';

const vsix = process.env.KVSTEER_E2E_PROBE_VSIX;
const skip: string | false = !vsix
  ? 'KVSTEER_E2E_PROBE_VSIX is not set (build one with scratch/e2e-probe/build.sh)'
  : !fs.existsSync(vsix)
    ? `KVSTEER_E2E_PROBE_VSIX=${vsix} does not exist`
    : findServerInstall().skip;

/** A predicate for findWebviewFrame: the probe panel whose #result reads `text`. */
const probePanelShowing = (text: string) => async (f: Frame) =>
  (await f.locator('body[data-ready="true"] #result').count()) > 0 && (await f.locator('#result').textContent()) === text;

describe('e2e harness (probe extension)', { skip, timeout: 300_000 }, () => {
  let dirs: E2eDirs | undefined;
  let server: RunningServer | undefined;
  let wb: Workbench | undefined;
  const timings: Record<string, number> = {};

  before(async () => {
    dirs = makeE2eDirs();
    fs.writeFileSync(path.join(dirs.workspaceDir, 'sample.txt'), 'line one\nhello probe world\n  indented line\n');
    let t = Date.now();
    const ext = await installExtension(vsix!, dirs);
    timings.installMs = Date.now() - t;
    assert.equal(ext.id, 'kvsteer-probe.e2e-probe');
    t = Date.now();
    server = await startServer({ ...dirs, name: 'probe-server' });
    timings.serverStartMs = Date.now() - t;
    t = Date.now();
    wb = await openWorkbench(server.url, dirs.workspaceDir, { name: 'probe' });
    timings.workbenchOpenMs = Date.now() - t;
    timings.workbenchLoadMs = wb.loadMs;
  });

  after(async () => {
    if (wb) await screenshot(wb.page, 'probe-final').catch(() => undefined);
    await wb?.close();
    await server?.stop();
    if (dirs) removeE2eDirs(dirs);
    console.log(`# e2e probe timings: ${JSON.stringify(timings)}`);
  });

  it('shows an input-box answer in the webview', async () => {
    const page = wb!.page;
    await withScreenshotOnFailure(page, 'probe-input', async () => {
      const t = Date.now();
      await runCommand(page, 'Probe: Show Panel');
      await answerInputBox(page, 'typed into the input box', { prompt: 'Probe text' });
      const frame = await findWebviewFrame(page, probePanelShowing('typed into the input box'));
      timings.commandToWebviewMs = Date.now() - t;
      assert.equal(await frame.locator('#source').textContent(), 'source: input');
      await screenshot(page, 'probe-input');
    });
  });

  it('shows the editor selection (found text) in the webview', async () => {
    const page = wb!.page;
    await withScreenshotOnFailure(page, 'probe-selection', async () => {
      const sel = await openFileAndSelect(page, 'sample.txt', 'probe world');
      assert.deepEqual(sel, { line: 2, column: 18, selected: 11 });
      await runCommand(page, 'Probe: Show Panel');
      const frame = await findWebviewFrame(page, probePanelShowing('probe world'));
      assert.equal(await frame.locator('#source').textContent(), 'source: selection');
      await screenshot(page, 'probe-selection');
    });
  });

  it('shows the editor selection (a range over two lines) in the webview', async () => {
    const page = wb!.page;
    await withScreenshotOnFailure(page, 'probe-range', async () => {
      await openFileAndSelect(page, 'sample.txt', { start: { line: 1, column: 6 }, end: { line: 2, column: 6 } });
      await runCommand(page, 'Probe: Show Panel');
      const frame = await findWebviewFrame(page, probePanelShowing('one\nhello'));
      assert.equal(await frame.locator('#source').textContent(), 'source: selection');
    });
  });

  it('recognises @probe /cmd in the Chat view, and not an unknown participant', async () => {
    const page = wb!.page;
    await withScreenshotOnFailure(page, 'probe-chat', async () => {
      const yes = await chatInputRecognises(page, '@probe /cmd hello');
      assert.deepEqual(yes, { participant: true, command: true, decorated: ['@probe', '/cmd'] });
      const no = await chatInputRecognises(page, '@nobody /cmd hello', { timeoutMs: 3000 });
      assert.equal(no.participant, false);
      assert.equal(no.command, false);
      const wrongCommand = await chatInputRecognises(page, '@probe /nosuch', { timeoutMs: 3000 });
      assert.equal(wrongCommand.participant, true);
      assert.equal(wrongCommand.command, false);
      await screenshot(page, 'probe-chat');
    });
  });
});
