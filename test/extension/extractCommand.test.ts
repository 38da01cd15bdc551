/**
 * "KV Steer: Extract steering vector from examples…" against a stand-in for the few VS Code APIs
 * it uses and the real SteeringService on the tiny model: which names it takes, what it checks
 * before a model loads, what it asks before replacing a vector, and that a failed save leaves no
 * vector file behind.
 */
import { test, after, beforeEach } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Module from 'node:module';

// ── a stand-in for the `vscode` module ──────────────────────────────────────────────────────
interface InputBoxOptions {
  value?: string;
  validateInput?: (v: string) => string | undefined;
}
/** What the user answers, and what the command showed. */
const ui = {
  source: 0,
  file: undefined as string | undefined,
  name: 'mine',
  replace: undefined as string | undefined,
  useNow: undefined as string | undefined,
  inputBox: undefined as InputBoxOptions | undefined,
  errors: [] as string[],
  infos: [] as string[],
  warnings: [] as { message: string; modal: boolean }[],
  updates: [] as { key: string; value: unknown; target: unknown }[],
  workspaceVector: undefined as string | undefined,
  onProgress: (_message: string) => {},
};
const disposable = { dispose() {} };
const handlers = new Map<string, () => Promise<unknown>>();
const stub = {
  ProgressLocation: { Notification: 15 },
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  commands: {
    registerCommand: (id: string, fn: () => Promise<unknown>) => (handlers.set(id, fn), disposable),
  },
  workspace: {
    isTrusted: true,
    getConfiguration: () => ({
      get: (k: string) => (k === 'vector' ? ui.workspaceVector : undefined),
      inspect: (k: string) => (k === 'vector' && ui.workspaceVector !== undefined ? { workspaceValue: ui.workspaceVector } : {}),
      update: async (key: string, value: unknown, target: unknown) => void ui.updates.push({ key, value, target }),
    }),
  },
  window: {
    showQuickPick: async (items: unknown[]) => items[ui.source],
    showOpenDialog: async () => (ui.file ? [{ fsPath: ui.file }] : undefined),
    showInputBox: async (o: InputBoxOptions) => ((ui.inputBox = o), ui.name),
    showErrorMessage: async (m: string) => void ui.errors.push(m),
    showInformationMessage: async (m: string, ...rest: unknown[]) => {
      ui.infos.push(m);
      return rest.includes('Use it now') ? ui.useNow : undefined;
    },
    showWarningMessage: async (m: string, ...rest: unknown[]) => {
      const opts = rest[0] as { modal?: boolean } | undefined;
      ui.warnings.push({ message: m, modal: !!opts?.modal });
      return ui.replace;
    },
    withProgress: async (_o: unknown, task: (p: unknown, t: unknown) => Promise<unknown>) =>
      task({ report: (r: { message?: string }) => ui.onProgress(r.message ?? '') }, { isCancellationRequested: false, onCancellationRequested: () => disposable }),
  },
};
const M = Module as unknown as { _resolveFilename: (req: string, ...rest: unknown[]) => string };
const resolve = M._resolveFilename;
M._resolveFilename = (req, ...rest) => (req === 'vscode' ? 'vscode' : resolve(req, ...rest));
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub } as unknown as NodeJS.Module;

const { registerExtractCommand } = require('../../src/commands/extractCommand') as typeof import('../../src/commands/extractCommand');
import { SteeringService } from '../../src/service/steeringService';
import type { ServiceHost } from '../../src/service/serviceHost';
import { COMMANDS } from '../../src/ids';
import { loadTinyModel } from '../support/models';
import { repoRoot } from '../support/paths';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-extract-cmd-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const userVectorDir = path.join(dir, 'storage', 'vectors');
/** Extractions started (each a job on the service, loading the model if it is not resident). */
let runs = 0;
const service = new SteeringService({
  cacheDir: path.join(dir, 'cache'),
  vectorDirs: [userVectorDir, path.join(repoRoot, 'vectors')],
  log: () => {},
  loadModel: async (_spec, opts) => loadTinyModel({ signal: opts?.signal }),
});
after(() => service.dispose());
const host = {
  service: { run: (...args: Parameters<SteeringService['run']>) => (runs++, service.run(...args)) },
  log: { info() {}, error() {} },
  userVectorDir,
  shippedVectorDir: path.join(repoRoot, 'vectors'),
} as unknown as ServiceHost;
registerExtractCommand({ subscriptions: [] } as never, host);
const extract = () => handlers.get(COMMANDS.extractVector)!();

/** A JSONL file of `n` short examples (the tiny model's context is 512 tokens of bytes). */
function examples(name: string, n: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, Array.from({ length: n }, (_, i) => JSON.stringify({ question: `${i}+1?`, steps: `${i} and 1.`, answer: String(i + 1) }) + '\n').join(''));
  return file;
}
const vectorFiles = () => (fs.existsSync(userVectorDir) ? fs.readdirSync(userVectorDir).filter((f) => f.endsWith('.safetensors')) : []);

beforeEach(() => {
  Object.assign(ui, { source: 1, file: undefined, name: 'mine', replace: undefined, useNow: undefined, inputBox: undefined, errors: [], infos: [], warnings: [], updates: [], workspaceVector: undefined, onProgress: () => {} });
  fs.rmSync(userVectorDir, { recursive: true, force: true });
  runs = 0;
});

test("a name of a vector kvsteer ships, or one read as a file path, is refused where it is typed", async () => {
  ui.file = examples('few.jsonl', 2);
  ui.name = '';
  await extract();
  const validate = ui.inputBox!.validateInput!;
  assert.equal(validate('my-vector.v2'), undefined);
  // In the user's folder it would hide the shipped vector of that id from every lookup.
  assert.match(validate('smollm2-135m-reasoning') ?? '', /kvsteer ships/);
  // kvsteer.vector = "x.safetensors" is read as a path, never as the id of a listed vector.
  assert.match(validate('x.safetensors') ?? '', /\.safetensors/);
});

test('an examples file with too few items for the demonstrations, or none, is refused before any model loads, naming the file', async () => {
  for (const [name, n] of [['three.jsonl', 3], ['empty.jsonl', 0]] as const) {
    ui.errors = [];
    ui.file = examples(name, n);
    await extract();
    assert.equal(ui.errors.length, 1, name);
    assert.ok(ui.errors[0].includes(ui.file) && /need at least 7 items for 6 demonstrations per prompt \(got \d\)/.test(ui.errors[0]), ui.errors[0]);
  }
  assert.equal(runs, 0, 'no model was loaded for a file that cannot give a vector');
});

test("a user manifest that cannot be read is reported before the extraction's minutes, and nothing is saved", async () => {
  fs.mkdirSync(userVectorDir, { recursive: true });
  fs.writeFileSync(path.join(userVectorDir, 'manifest.json'), '{ broken');
  ui.file = examples('eight.jsonl', 8);
  await extract();
  assert.equal(ui.errors.length, 1);
  assert.ok(ui.errors[0].includes('manifest.json'), ui.errors[0]);
  assert.equal(runs, 0);
  assert.deepEqual(vectorFiles(), []);
});

test('a manifest that cannot take the entry after the extraction leaves no vector file behind', async () => {
  ui.file = examples('eight.jsonl', 8);
  // Another writer breaks the manifest while the pairs run.
  ui.onProgress = (m) => {
    if (/pairs/.test(m)) fs.writeFileSync(path.join(userVectorDir, 'manifest.json'), '{ broken');
  };
  fs.mkdirSync(userVectorDir, { recursive: true });
  await extract();
  assert.equal(ui.errors.length, 1, ui.infos.join('; '));
  assert.ok(ui.errors[0].includes('manifest.json'), ui.errors[0]);
  assert.deepEqual(vectorFiles(), [], 'a vector no manifest lists is left to no one');
});

/** A vector the user already has in the extension's storage, listed under `id`; `untouched()` checks it stayed as it was. */
function existingVector(id: string): { untouched(): void } {
  fs.mkdirSync(userVectorDir, { recursive: true });
  const file = path.join(userVectorDir, `${id}.safetensors`);
  fs.writeFileSync(file, 'the old vector');
  const manifest = { version: 1, vectors: [{ id, file: `${id}.safetensors`, name: id, model: 'x', recommended: { cK: 0, cV: 4, offsetToken: '\n', fromLayer: 1 } }] };
  fs.writeFileSync(path.join(userVectorDir, 'manifest.json'), JSON.stringify(manifest));
  return {
    untouched() {
      assert.equal(fs.readFileSync(file, 'utf8'), 'the old vector');
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(userVectorDir, 'manifest.json'), 'utf8')), manifest);
    },
  };
}

test('extracting under the name of a vector the user has asks before replacing it; declined, nothing runs and the vector stays', async () => {
  const old = existingVector('mine');
  ui.file = examples('eight.jsonl', 8);
  await extract();
  assert.equal(ui.warnings.length, 1);
  assert.ok(ui.warnings[0].modal && ui.warnings[0].message.includes('"mine"'), JSON.stringify(ui.warnings));
  assert.equal(runs, 0);
  old.untouched();
});

test('a name that differs only in case from a vector the user has is refused before anything runs (macOS and Windows would give both one file)', async () => {
  const old = existingVector('Mine');
  ui.file = examples('eight.jsonl', 8);
  ui.replace = 'Replace';
  await extract();
  assert.equal(runs, 0);
  assert.match(ui.errors.join('\n'), /A steering vector "Mine" exists; "mine" differs from it only in case/);
  old.untouched();
});

test('an extracted vector is saved and listed in the extension storage, and "Use it now" writes kvsteer.vector where it counts', async () => {
  ui.file = examples('eight.jsonl', 8);
  ui.useNow = 'Use it now';
  await extract();
  assert.deepEqual(ui.errors, []);
  assert.deepEqual(vectorFiles(), ['mine.safetensors']);
  const listed = JSON.parse(fs.readFileSync(path.join(userVectorDir, 'manifest.json'), 'utf8')) as { vectors: { id: string; file: string }[] };
  assert.deepEqual(listed.vectors.map((e) => [e.id, e.file]), [['mine', 'mine.safetensors']]);
  assert.deepEqual(ui.updates, [{ key: 'vector', value: 'mine', target: stub.ConfigurationTarget.Global }]);
  assert.deepEqual(fs.readdirSync(userVectorDir).filter((f) => f.startsWith('.')), [], 'no temporary or lock file is left');

  // A trusted workspace that sets kvsteer.vector would hide a user-level write: it goes there.
  ui.updates = [];
  ui.workspaceVector = 'other';
  ui.replace = 'Replace';
  await extract();
  assert.equal(ui.warnings.length, 1, 'asked before replacing the vector just made');
  assert.deepEqual(ui.updates, [{ key: 'vector', value: 'mine', target: stub.ConfigurationTarget.Workspace }]);
});
