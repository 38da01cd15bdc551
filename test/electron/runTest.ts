/**
 * `npm run test:electron`: runs the in-editor smoke tests (electronSuite.ts) in a desktop VS Code
 * downloaded by @vscode/test-electron, for machines that can reach the VS Code download service.
 * (In this project's CI the download is unreachable; the end-to-end suite in test/e2e covers the
 * same ground in the VS Code server build.)
 */
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..', '..');
  await runTests({
    extensionDevelopmentPath: root,
    extensionTestsPath: path.join(__dirname, 'electronSuite.js'),
    launchArgs: ['--disable-extensions', '--skip-welcome', '--skip-release-notes'],
  });
}

main().catch((e) => {
  console.error(`test:electron failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
