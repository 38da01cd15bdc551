/**
 * readSettings against a stand-in `vscode` module: relative model and vector paths are read in the
 * trusted workspace's folder, and refused in Restricted Mode, where they come from the user's
 * settings and would be read in the extension host's working folder.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import Module from 'node:module';

/** The workspace the stand-in shows: trust, folder, and the values set in each scope. */
const ws = {
  trusted: true,
  folder: '/work/repo' as string | undefined,
  user: {} as Record<string, unknown>,
  workspace: {} as Record<string, unknown>,
};
const stub = {
  workspace: {
    get isTrusted() {
      return ws.trusted;
    },
    get workspaceFolders() {
      return ws.folder === undefined ? undefined : [{ uri: { scheme: 'file', fsPath: ws.folder } }];
    },
    getConfiguration: () => ({
      get: (k: string) => ws.workspace[k] ?? ws.user[k],
      inspect: (k: string) => ({ globalValue: ws.user[k], workspaceValue: ws.workspace[k] }),
    }),
  },
};
const M = Module as unknown as { _resolveFilename: (req: string, ...rest: unknown[]) => string };
const resolve = M._resolveFilename;
M._resolveFilename = (req, ...rest) => (req === 'vscode' ? 'vscode' : resolve(req, ...rest));
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub } as unknown as NodeJS.Module;
const { readSettings } = require('../../src/config/settings') as typeof import('../../src/config/settings');

test("a trusted workspace's relative model and vector paths name files in its folder", () => {
  Object.assign(ws, { trusted: true, folder: '/work/repo', user: {}, workspace: { model: 'models/x.gguf', vector: '${workspaceFolder}/v/mine.safetensors' } });
  const r = readSettings();
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.settings.model, path.join('/work/repo', 'models', 'x.gguf'));
  assert.equal(r.settings.vector, path.join('/work/repo', 'v', 'mine.safetensors'));
});

test("in Restricted Mode the user's relative model path is refused, and the folder's values are not read", () => {
  Object.assign(ws, { trusted: false, folder: '/work/repo', user: { model: 'planted.gguf' }, workspace: { model: '/work/repo/other.gguf' } });
  const r = readSettings();
  assert.ok(!r.ok);
  assert.match(r.errors.join('\n'), /kvsteer\.model is the relative path "planted\.gguf"; in Restricted Mode kvsteer reads only absolute paths/);
  Object.assign(ws, { user: { model: '/models/mine.gguf' } });
  const ok = readSettings();
  assert.ok(ok.ok && ok.settings.model === '/models/mine.gguf', JSON.stringify(ok));
});
