/**
 * CompareSession (the host side of the side-by-side view) against a stand-in for the few VS Code
 * APIs it uses and a fake steering service: which question and editor the view's buttons act on.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import Module from 'node:module';

// ── a stand-in for the `vscode` module ──────────────────────────────────────────────────────
const config = new Map<string, unknown>();
const posted: Record<string, unknown>[] = [];
const opened: string[] = [];
let fromPage: (m: unknown) => void = () => {};
const disposable = { dispose() {} };
class EventEmitter<T> {
  private fns: ((e: T) => void)[] = [];
  event = (fn: (e: T) => void) => (this.fns.push(fn), disposable);
  fire(e: T) {
    for (const fn of this.fns) fn(e);
  }
  dispose() {}
}
const uri = (p: string) => ({ path: p, toString: () => `file://${p}` });
class Position {
  constructor(readonly line: number, readonly character: number) {}
}
const stub = {
  EventEmitter,
  Position,
  Selection: class {},
  Range: class {},
  ViewColumn: { Beside: -2 },
  Uri: { joinPath: (u: { path: string }, ...parts: string[]) => uri([u.path, ...parts].join('/')) },
  env: { clipboard: { writeText: async () => {} } },
  workspace: {
    isTrusted: true,
    getConfiguration: () => ({ get: (k: string) => config.get(k), inspect: () => undefined }),
    onDidChangeTextDocument: () => disposable,
    asRelativePath: (u: { path: string }) => u.path,
    openTextDocument: async (u: { path: string }) => {
      opened.push(u.path);
      throw new Error('not in this test');
    },
  },
  window: {
    showErrorMessage: async () => undefined,
    setStatusBarMessage: () => disposable,
    createWebviewPanel: () => ({
      webview: {
        cspSource: 'vscode-resource:',
        asWebviewUri: (u: unknown) => u,
        html: '',
        postMessage: async (m: Record<string, unknown>) => (posted.push(m), true),
        onDidReceiveMessage: (fn: (m: unknown) => void) => ((fromPage = fn), disposable),
      },
      onDidDispose: () => disposable,
      reveal() {},
      dispose() {},
    }),
  },
};
const M = Module as unknown as { _resolveFilename: (req: string, ...rest: unknown[]) => string };
const resolve = M._resolveFilename;
M._resolveFilename = (req, ...rest) => (req === 'vscode' ? 'vscode' : resolve(req, ...rest));
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: stub } as unknown as NodeJS.Module;

const { CompareSession } = require('../../src/commands/compareSession') as typeof import('../../src/commands/compareSession');
import type { ServiceHost } from '../../src/service/serviceHost';

const asked: string[] = [];
const host = {
  log: { info() {}, error() {} },
  withLoadProgress: (job: (onLoad: () => void) => Promise<unknown>) => job(() => {}),
  service: {
    ask: async (_s: unknown, req: { question: string; onSideStart?(s: string): void; onToken?(s: string, e: { textDelta: string }): void; onSideDone?(s: string, r: unknown): void }) => {
      asked.push(req.question);
      const r = { text: `answer to ${req.question}`, tokens: [1], msPerToken: NaN, totalMs: 1, stopReason: 'eos' };
      req.onSideStart?.('baseline');
      req.onToken?.('baseline', { textDelta: r.text });
      req.onSideDone?.('baseline', r);
      return { baseline: r };
    },
  },
} as unknown as ServiceHost;
const extensionUri = uri('/ext') as never;
const target = (p: string) => ({ uri: uri(p), position: new Position(0, 0), afterSelection: true }) as never;

test('a question that fails on its settings leaves Insert and Re-run on the question the view still shows', async () => {
  const first = CompareSession.show(host, extensionUri, 'Q1', target('/a.md'));
  fromPage({ type: 'ready' });
  await first;
  assert.equal(posted.at(-1)?.type, 'end');

  config.set('maxNewTokens', 'lots');
  await CompareSession.show(host, extensionUri, 'Q2', target('/b.md'));
  assert.equal(posted.at(-1)?.type, 'error', 'the view shows the settings error, beside Q1 and its answers');
  assert.ok(!posted.some((m) => m.type === 'start' && m.question === 'Q2'));

  fromPage({ type: 'insert', side: 'baseline' });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(opened, ['/a.md'], "Q1's answer goes into Q1's editor, as its Insert button says");

  config.delete('maxNewTokens');
  fromPage({ type: 'rerunSteered', cV: 2 });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(asked, ['Q1', 'Q1'], 'Re-run steered re-runs the question shown');
});
